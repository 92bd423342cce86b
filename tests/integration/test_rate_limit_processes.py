"""Rate limits hold per user across host processes when the counters live in Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.test_cli import free_port
from townsquare.cli import main


def start_host(port: int, redis_url: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PORTS_MODE": "memory",
        "PORT": str(port),
        "REDIS_URL": redis_url,
        "RATE_LIMIT": "5/minute",
        "SEED_DEMO_DATA": "false",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "townsquare", "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def wait_healthy(base: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/health", timeout=1).status_code in (200, 429):
                return
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail(f"host at {base} did not start")


@pytest.fixture
def two_hosts(redis_url: str) -> Iterator[tuple[str, str]]:
    ports = free_port(), free_port()
    processes = [start_host(port, redis_url) for port in ports]
    try:
        bases = tuple(f"http://127.0.0.1:{port}" for port in ports)
        for base in bases:
            wait_healthy(base)
        yield bases[0], bases[1]
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)


@pytest.mark.broker
@pytest.mark.slow
def test_one_users_budget_is_shared_by_two_processes(
    two_hosts: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a user with a budget of 5 requests a minute, and two host processes on one Redis
    main(["token", f"rate-{uuid.uuid4().hex}"])
    headers = {"Authorization": f"Bearer {capsys.readouterr().out.strip()}"}
    first, second = two_hosts
    # When the user alternates between the two processes
    statuses = [httpx.get((first, second)[i % 2] + "/api/v1/me", headers=headers).status_code for i in range(7)]
    # Then the sixth request, whichever process gets it, is refused with a Retry-After
    assert statuses == [200] * 5 + [429, 429]
    refused = httpx.get(first + "/api/v1/me", headers=headers)
    assert int(refused.headers["retry-after"]) >= 1
