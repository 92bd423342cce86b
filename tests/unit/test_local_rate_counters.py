"""The per-process rate-limit counters: sweeping idle callers' keys is bounded in time, limiting is not loosened."""

from __future__ import annotations

import asyncio

import pytest
from limits import RateLimitItemPerMinute
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from litestar.exceptions import TooManyRequestsException

from townsquare.hosts.http.middleware import LocalCounters, RateLimiter
from townsquare.settings import RateLimit


class Seconds:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_hits_of_many_callers_start_one_sweep_a_second_not_one_a_request() -> None:
    async def scenario() -> None:
        clock = Seconds()
        counters = LocalCounters(monotonic=clock)
        limiter = SlidingWindowCounterRateLimiter(counters)
        budget = RateLimitItemPerMinute(5)
        # When 500 callers each make a request within the same second
        for number in range(500):
            assert await limiter.hit(budget, f"user:{number}")
            await asyncio.sleep(0)  # let a started sweep run
        # Then one sweep started, where the library's own schedule starts one per finished sweep
        assert counters.sweeps == 1
        # And a second later the next request starts the next one
        clock.now += LocalCounters.SWEEP_EVERY_S
        assert await limiter.hit(budget, "user:late")
        assert counters.sweeps == 2
        # And between sweeps every caller's count is kept: the sixth hit of one is refused
        for _ in range(4):
            assert await limiter.hit(budget, "user:7")
        assert not await limiter.hit(budget, "user:7")

    asyncio.run(scenario())


def test_the_budget_holds_between_sweeps() -> None:
    async def scenario() -> None:
        limiter = RateLimiter(RateLimit(count=3, per="minute"), None, monotonic=Seconds())
        for _ in range(3):
            await limiter.check("user:alice")
        with pytest.raises(TooManyRequestsException) as refused:
            await limiter.check("user:alice")
        assert int(refused.value.headers["Retry-After"]) >= 1
        await limiter.check("user:bob")  # another caller keeps a budget of its own

    asyncio.run(scenario())
