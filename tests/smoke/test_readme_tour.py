"""The README's "Try the API" tour, run as written (bash and curl) against a real mock-mode host,
as every demo user the README names."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from bench.running import Host, townsquare_command

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"

# Shell functions put in front of the README's commands: every curl fails on an HTTP error
# (showing the body) and ends its answer with a newline; `open` (a browser) does nothing.
PRELUDE = """set -euo pipefail
curl() { command curl --fail-with-body --show-error -w '\\n' "$@"; }
open() { :; }
"""


def tour_blocks() -> list[str]:
    section = README.read_text().split("## Try the API", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)```", section, flags=re.DOTALL)


def demo_users() -> list[str]:
    line = next(line for line in README.read_text().splitlines() if line.startswith("Demo users:"))
    return re.findall(r"`([a-z]+)`", line.split(" (")[0])


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_readme_tour_works_as_written_for_every_demo_user() -> None:
    users = demo_users()
    assert users == ["alice", "bob", "carol", "admin"]
    script = "\n".join(tour_blocks())
    assert "townsquare token alice" in script and "/notifications/test" in script
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PORTS_", "FROZEN_", "SEED_"))}
    host = Host({**env, "LOG_LEVEL": "WARNING"})
    try:
        host.wait_healthy()
        townsquare = " ".join(townsquare_command())
        for user in users:
            # Given a fresh mock-mode host (as `nox -s serve` starts it)
            for route in ("reset", "seed"):
                httpx.post(f"{host.base_url}/api/v1/testing/{route}").raise_for_status()
            # When the README's commands run as this user
            tour = (
                script.replace(".nox/serve/bin/townsquare", townsquare)
                .replace("http://127.0.0.1:8000", host.base_url)
                .replace("token alice", f"token {user}")
            )
            done = subprocess.run(
                ["bash", "-c", PRELUDE + tour], env=env, capture_output=True, text=True, timeout=120, check=False
            )
            # Then every call answered 2xx with JSON, and the test send was sent
            assert done.returncode == 0, f"as {user}: {done.stderr}\n{done.stdout}"
            answers = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
            assert answers[0]["user_id"] == user
            sends = [answer for answer in answers if isinstance(answer, dict) and "sent" in answer]
            assert [send["sent"] for send in sends] == [True, True], f"as {user}: {sends}"
    finally:
        host.stop()
