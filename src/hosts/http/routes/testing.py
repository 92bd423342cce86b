"""Test-only routes for front-end end-to-end tests; registered in memory mode and nowhere else."""

from __future__ import annotations

from datetime import datetime, timedelta

from attrs import frozen
from litestar import Router, get, post
from litestar.exceptions import ClientException
from litestar.params import JSONBody

from townsquare.core.errors import InvalidInput
from townsquare.hosts.http.deps import ServicesDep
from townsquare.hosts.http.problems import document_problems

MAX_ADVANCE = timedelta(days=3653)


@frozen
class ClockMove:
    """Either an absolute time (``now``) or a step forward in seconds (``advance_seconds``)."""

    now: datetime | None = None
    advance_seconds: float | None = None


@frozen
class ClockState:
    now: datetime


@frozen
class Done:
    status: str


@post("/reset", summary="Empty every store", sync_to_thread=True)
def reset(services: ServicesDep) -> Done:
    services.reset()
    return Done(status="reset")


@post(
    "/seed",
    summary="Load the deterministic demo data (after a reset: the same data every time)",
    sync_to_thread=True,
)
def seed(services: ServicesDep) -> Done:
    from townsquare.demo import seed_demo_data

    seed_demo_data(services)
    return Done(status="seeded")


@get("/clock", summary="The mock clock's time", sync_to_thread=False)
def read_clock(services: ServicesDep) -> ClockState:
    return ClockState(now=services.clock.now())


@post("/clock", summary="Move the mock clock", sync_to_thread=False)
def move_clock(services: ServicesDep, data: JSONBody[ClockMove]) -> ClockState:
    clock = services.manual_clock
    if clock is None:
        raise ClientException("the clock is the system clock (FROZEN_CLOCK=system); it cannot be moved")
    if (data.now is None) == (data.advance_seconds is None):
        raise InvalidInput("give exactly one of 'now' or 'advance_seconds'", field="now")
    if data.now is not None:
        if data.now.tzinfo is None:
            raise InvalidInput("'now' needs a UTC offset (e.g. 2026-01-15T12:00:00Z)", field="now")
        clock.set(data.now)
    else:
        assert data.advance_seconds is not None
        if not 0 <= data.advance_seconds <= MAX_ADVANCE.total_seconds():
            raise InvalidInput("'advance_seconds' must be between 0 and 10 years", field="advance_seconds")
        clock.advance(timedelta(seconds=data.advance_seconds))
    return ClockState(now=clock.now())


def testing_router() -> Router:
    document_problems([reset, seed, read_clock, move_clock])
    return Router(path="/api/v1/testing", route_handlers=[reset, seed, read_clock, move_clock], tags=["testing"])
