"""The OpenAPI document makes a working typed client: openapi-python-client generates one
(clients/generate.py, as ``nox -s client`` does), and clients/example.py uses it against a real
mock-mode host and passes mypy --strict."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from bench.running import Host

from townsquare.hosts.http.auth import mint_token
from townsquare.settings import DEV_JWT_SECRET

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_a_generated_client_talks_to_a_live_host_with_typed_answers(tmp_path: Path) -> None:
    # Given the client generated from the document of memory mode's host
    package = tmp_path / "townsquare-client"
    subprocess.run([sys.executable, str(ROOT / "clients" / "generate.py"), str(package)], check=True, timeout=300)
    assert (package / "townsquare_client" / "api" / "feed" / "home.py").is_file()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PORTS_", "FROZEN_", "SEED_"))}
    env["PYTHONPATH"] = str(package)
    host = Host({**env, "LOG_LEVEL": "WARNING"})
    try:
        host.wait_healthy()
        tokens = [
            mint_token(DEV_JWT_SECRET, "alice", now=datetime.now(UTC)),
            mint_token(DEV_JWT_SECRET, "admin", now=datetime.now(UTC), roles=["admin"]),
        ]
        # When the example tour runs through it
        done = subprocess.run(
            [sys.executable, str(ROOT / "clients" / "example.py"), host.base_url, *tokens],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        host.stop()
    # Then every answer parsed into its documented type
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["user_id"] == "alice"
    assert seen["feed_pages"] == [20, 20]
    assert seen["refused"] == [400, "cursor"]
    assert seen["unread"] == 4
    assert (seen["timezone"], seen["quiet_hours"], seen["digest"]) == ("Europe/Berlin", ["23:00", "06:00"], "daily")
    assert seen["clock"] == "2026-01-15T12:01:00+00:00"
    # And the example type-checks strictly against the generated package
    checked = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(ROOT / "clients" / "example.py")],
        env={**env, "MYPYPATH": str(package)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
