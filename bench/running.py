"""Real processes for the smoke run, the load run and the fault tests: hosts, workers, Redis, Postgres.

Everything listens on loopback on a free port and is stopped by the process that started it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

import httpx

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))


def free_port() -> int:
    """A TCP port nobody listens on right now (loopback)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(condition: Callable[[], bool], timeout: float, what: str, *, interval: float = 0.05) -> float:
    """Poll ``condition`` until it holds; returns the seconds it took, raises ``TimeoutError`` after ``timeout``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
    return time.monotonic() - started


def townsquare_command() -> list[str]:
    """The ``townsquare`` console script of this interpreter's environment (``python -m townsquare`` without one)."""
    script = Path(sys.executable).with_name("townsquare")
    return [str(script)] if script.exists() else [sys.executable, "-m", "townsquare"]


def townsquare(args: Sequence[str], env: Mapping[str, str], *, timeout: float = 120) -> str:
    """Run a one-shot ``townsquare`` command (migrate, seed, token); returns its stdout, raises on failure."""
    done = subprocess.run(
        [*townsquare_command(), *args], env=dict(env), capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"townsquare {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout.strip()


class Child:
    """A long-running child process whose output goes to a log file (kept for the failure message)."""

    def __init__(self, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None) -> None:
        self.name = name
        self._log: IO[bytes] = tempfile.NamedTemporaryFile(prefix=f"{name}-", suffix=".log", delete=False)  # noqa: SIM115
        self.log_path = Path(self._log.name)
        self.process = subprocess.Popen(
            list(argv),
            env=dict(env) if env is not None else None,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.process.poll() is None

    def tail(self, lines: int = 30) -> str:
        """The last lines the process wrote."""
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, *, timeout: float = 20) -> int:
        """SIGTERM the process group, SIGKILL it after ``timeout``; returns the exit code."""
        if self.alive():
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._log.close()
        return int(self.process.returncode)

    def kill(self) -> None:
        """SIGKILL the process group at once."""
        if self.alive():
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


class Host(Child):
    """``townsquare serve`` on a free loopback port."""

    def __init__(self, env: Mapping[str, str], *, workers: int = 1, name: str = "host") -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        argv = [*townsquare_command(), "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        if workers > 1:
            argv += ["--workers", str(workers)]
        super().__init__(name, argv, env)

    def wait_healthy(self, timeout: float = 60) -> None:
        """Wait until ``/health`` answers 200 (the host died or never answered: ``RuntimeError`` with its log)."""

        def healthy() -> bool:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited ({self.process.returncode}):\n{self.tail()}")
            try:
                return httpx.get(self.base_url + "/health", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        try:
            wait_until(healthy, timeout, f"{self.name} /health", interval=0.1)
        except TimeoutError as exc:
            raise RuntimeError(f"{exc}:\n{self.tail()}") from None


class Worker(Child):
    """``townsquare worker``."""

    def __init__(self, env: Mapping[str, str], *, threads: int = 4, name: str = "worker") -> None:
        super().__init__(name, [*townsquare_command(), "worker", "--threads", str(threads)], env)


class Redis(Child):
    """A private ``redis-server`` on a free port, no persistence (a broker that can be taken away)."""

    def __init__(self, *, port: int | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError("redis-server is not installed")
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        super().__init__(
            "redis",
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        )
        wait_until(self.answers, 10, "redis-server to accept connections")

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


class PrivatePostgres:
    """A throwaway PostgreSQL cluster (``initdb`` into a temp dir, fsync off) that a test may stop and start.

    Postgres refuses to run as root, so when this process is root the cluster belongs to the
    ``postgres`` OS user and its commands run through ``runuser``.
    """

    def __init__(self, *, port: int | None = None) -> None:
        for tool in ("initdb", "pg_ctl"):
            if not (PG_BIN / tool).exists():
                raise FileNotFoundError(f"{PG_BIN / tool} is missing (set PG_BIN to PostgreSQL's bin directory)")
        self.port = port or free_port()
        self.root = Path(tempfile.mkdtemp(prefix="ts-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.root, user="postgres")
        self.dsn = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        self.running = False

    def _run(self, tool: str, *args: str, timeout: float = 60) -> None:
        argv = [str(PG_BIN / tool), *args]
        if self._as_postgres:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")

    def _options(self) -> str:
        return (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", self._options(), "-w", "start")
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: roll back open transactions, close every connection)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")
        self.running = False

    def restart(self) -> None:
        """``pg_ctl restart -m fast``."""
        # The log file matters: without -l the server would hold this process's stdout pipe open.
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", self._options(), "-m", "fast", "-w", "restart"
        )
        self.running = True

    def destroy(self) -> None:
        """Stop the server if it runs and delete its files."""
        try:
            if self.running:
                self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def database_dsn(self, database: str) -> str:
        return self.dsn.rsplit("/", 1)[0] + "/" + database


def sqlalchemy_url(dsn: str) -> str:
    """A libpq DSN as the SQLAlchemy URL the settings take (psycopg 3)."""
    return dsn.replace("postgresql://", "postgresql+psycopg://", 1)


def as_role(dsn: str, role: str) -> str:
    """``dsn`` logging in as ``role`` instead (no password: the servers here trust loopback)."""
    parts = urlsplit(dsn)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{role}@{host}"))


def base_env(**overrides: str) -> dict[str, str]:
    """This process's environment with structured logs and the given settings variables."""
    env = {**os.environ, "LOG_JSON": "true", "LOG_LEVEL": "INFO"}
    env.update(overrides)
    return env


def json_of(response: httpx.Response) -> Any:
    """The response's JSON body, or a clear error naming the status and the text."""
    try:
        return response.json()
    except ValueError:
        raise AssertionError(
            f"{response.request.method} {response.request.url.path}: {response.status_code} "
            f"is not JSON: {response.text[:200]!r}"
        ) from None
