"""The command line, run as a user runs it: a real process for ``serve``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import jwt
import pytest

from townsquare.cli import main
from townsquare.demo import DEMO_USERS
from townsquare.settings import DEV_JWT_SECRET


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_token_mints_a_demo_users_admin_token(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "alice", "--admin", "--ttl", "60"]) == 0
    claims = jwt.decode(capsys.readouterr().out.strip(), DEV_JWT_SECRET, algorithms=["HS256"])
    assert claims["sub"] == DEMO_USERS["alice"]
    assert claims["app_metadata"]["roles"] == ["admin"]
    assert claims["exp"] - claims["iat"] == 60


def test_a_bad_setting_is_a_clear_startup_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PORTS_MODE", "sqlite")
    assert main(["token", "alice"]) == 2
    assert "PORTS_MODE" in capsys.readouterr().err


@pytest.mark.postgres
def test_migrate_applies_the_schema(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTS_MODE", "postgres")
    monkeypatch.setenv("DATABASE_URL", pg_url)
    assert main(["migrate"]) == 0


@pytest.fixture
def served() -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "PORTS_MODE": "memory", "PORT": str(port), "LOG_JSON": "true"}
    process = subprocess.Popen(
        [sys.executable, "-m", "townsquare", "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("townsquare serve did not answer /health within 30 s")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.slow
def test_serve_answers_with_a_minted_token(served: str, capsys: pytest.CaptureFixture[str]) -> None:
    # Given the host started the way the README says, and a token from the CLI
    main(["token", "bob"])
    token = capsys.readouterr().out.strip()
    # When bob calls an authenticated endpoint
    me = httpx.get(served + "/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    # Then he is known, and the schema is served
    assert me.json()["user_id"] == DEMO_USERS["bob"]
    assert httpx.get(served + "/schema/openapi.json").json()["info"]["title"] == "townsquare"
    assert httpx.get(served + "/api/v1/me").status_code == 401
