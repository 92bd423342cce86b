"""The rate-limit Redis goes away and comes back under a real host process: no request fails.

While Redis is down each process counts budgets on its own (a warning says so), ``/health``
never needs Redis, ``/ready`` says 503; a burst larger than the Redis pool waits for a
connection instead of failing; after Redis returns, stale pooled connections cost no 500.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from bench.running import Host, Redis, wait_until

from townsquare.hosts.http.auth import mint_token
from townsquare.hosts.http.middleware import SHARED_RETRY_S
from townsquare.settings import DEV_JWT_SECRET

pytestmark = pytest.mark.slow


@pytest.fixture
def host(private_redis: Redis) -> Iterator[Host]:
    env = {
        **os.environ,
        "PORTS_MODE": "memory",
        "SEED_DEMO_DATA": "false",
        "REDIS_URL": private_redis.url,
        "REDIS_POOL_SIZE": "8",
        "RATE_LIMIT": "100000/minute",
        "LOG_LEVEL": "INFO",
    }
    served = Host(env)
    try:
        served.wait_healthy()
        yield served
    finally:
        served.stop()


def burst(base_url: str, path: str, count: int, headers: dict[str, str] | None = None) -> Counter[int]:
    """``count`` concurrent GETs of ``path``; their status codes."""

    async def run() -> Counter[int]:
        limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
        async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as client:
            answers = await asyncio.gather(*(client.get(path, headers=headers) for _ in range(count)))
        return Counter(answer.status_code for answer in answers)

    return asyncio.run(run())


def test_requests_never_fail_while_the_rate_limit_redis_is_away(host: Host, private_redis: Redis) -> None:
    token = mint_token(DEV_JWT_SECRET, "alice", now=datetime.now(UTC))
    user = {"Authorization": f"Bearer {token}"}
    # Given a host whose 8 Redis connections meet 300 concurrent requests
    assert burst(host.base_url, "/api/v1/me", 300, user) == {200: 300}
    assert httpx.get(host.base_url + "/ready").json()["checks"]["rate_limit_redis"] == "ok"

    # When Redis goes away
    port = private_redis.port
    private_redis.kill()
    # Then requests are still served (budgets counted in the process), /health is live,
    # and /ready says the host is not ready
    assert burst(host.base_url, "/api/v1/me", 300, user) == {200: 300}
    assert burst(host.base_url, "/health", 50) == {200: 50}
    ready = httpx.get(host.base_url + "/ready", timeout=10)
    assert ready.status_code == 503
    assert ready.json()["checks"]["rate_limit_redis"] == "unavailable"
    events = [json.loads(line) for line in host.tail(2000).splitlines() if line.startswith("{")]
    assert [e for e in events if e.get("event") == "rate_limit.shared_counters_failing"]

    # When Redis comes back on the same port
    revived = Redis(port=port)
    try:
        # Then, once the host has tried it again, every request is served through it
        wait_until(lambda: httpx.get(host.base_url + "/ready").status_code == 200, 20, "/ready to be 200 again")
        # The limiter retries Redis SHARED_RETRY_S after its last failure; a burst sent sooner
        # is (rightly) still counted in the process, so wait out the interval first.
        time.sleep(SHARED_RETRY_S + 0.5)
        assert burst(host.base_url, "/api/v1/me", 300, user) == {200: 300}
        events = [json.loads(line) for line in host.tail(5000).splitlines() if line.startswith("{")]
        assert not [e for e in events if e.get("event") == "request.failed"]
        assert [e for e in events if e.get("event") == "rate_limit.shared_counters_back"]
    finally:
        revived.kill()
