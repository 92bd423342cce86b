"""Sessions: tests (lint, types, layers, pytest), lint, typecheck, serve, client, bench, smoke, load."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_venv = "yes"
nox.options.default_venv_backend = "venv"

DEV = ".[dev]"


def install_project(session: nox.Session, target: str) -> None:
    """Install the project (editable) unless this reused environment already has it.

    An editable install picks up code changes by itself; only a changed pyproject.toml
    (dependencies, entry points) or another target needs a new install. Skipping the install
    otherwise is what makes a second ``nox -s serve`` start in seconds instead of ~40 s.
    """
    stamp = Path(session.virtualenv.location) / ".townsquare-installed"
    wanted = f"{target} {hashlib.sha256(Path('pyproject.toml').read_bytes()).hexdigest()}"
    if stamp.is_file() and stamp.read_text() == wanted:
        session.log(f"{target} is installed and pyproject.toml is unchanged: not installing again")
        return
    session.install("-e", target)
    stamp.write_text(wanted)


@nox.session
def tests(session: nox.Session) -> None:
    """The whole check: ruff, mypy strict, import-linter contracts, then pytest on both adapters."""
    install_project(session, DEV)
    session.run("ruff", "check", "src", "tests", "bench", "noxfile.py")
    session.run("mypy")
    session.run("lint-imports")
    workers = os.environ.get("PYTEST_WORKERS", "2")
    session.run("pytest", "-n", workers, "--dist", "loadfile", "--durations=25", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff and the import-linter layer contracts."""
    install_project(session, DEV)
    session.run("ruff", "check", "src", "tests", "bench", "noxfile.py")
    session.run("ruff", "format", "--check", "src", "tests", "bench", "noxfile.py")
    session.run("lint-imports")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package."""
    install_project(session, DEV)
    session.run("mypy")


@nox.session
def serve(session: nox.Session) -> None:
    """The HTTP host in memory mode with demo data (PORTS_MODE and the rest from the environment)."""
    install_project(session, ".")
    session.run("townsquare", "serve", *session.posargs)


@nox.session
def client(session: nox.Session) -> None:
    """A typed Python client for the HTTP API, generated from its OpenAPI document.

    Writes ``clients/openapi.json`` (memory mode's document: the API plus the testing
    routes) and the package ``clients/townsquare-client`` (import name ``townsquare_client``,
    ``pip install clients/townsquare-client``), both generated, never edited. ``nox -s client
    -- DIR`` writes the package to DIR instead.
    """
    install_project(session, DEV)
    session.run("python", "clients/generate.py", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Every benchmark in bench/ (Postgres adapter); each prints one JSON document.

    ``nox -s bench -- jobs`` runs only bench/bench_jobs.py.
    """
    install_project(session, DEV)
    wanted = set(session.posargs)
    for script in sorted(Path("bench").glob("bench_*.py")):
        if not wanted or script.stem.removeprefix("bench_") in wanted:
            session.run("python", str(script))


@nox.session
def smoke(session: nox.Session) -> None:
    """The seeds' smoke checks end to end against a real host (and worker), memory and postgres mode.

    ``nox -s smoke -- --mode memory`` runs one mode; postgres mode needs PostgreSQL and Redis.
    """
    install_project(session, DEV)
    session.run("python", "bench/smoke.py", *session.posargs)


@nox.session
def load(session: nox.Session) -> None:
    """wrk against the host (feed page, notification counts, send), memory and postgres mode; one JSON document.

    Needs ``wrk`` (``apt-get install -y wrk``); ``nox -s load -- --duration 5`` shortens each run.
    """
    install_project(session, DEV)
    session.run("python", "bench/load.py", *session.posargs)
