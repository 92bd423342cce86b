"""Test-only routes for front-end end-to-end tests; registered in memory mode and nowhere else.

They take no token by design: mock mode is a local test double of the API, and these routes
exist in no other mode. Jobs run here and only here while the mock clock stands still (see
:class:`~townsquare.core.jobs.ClockDrivenRunner`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, TypeAlias

from attrs import frozen
from litestar import Router
from litestar.di import NamedDependency
from litestar.exceptions import ClientException
from litestar.params import JSONBody

from townsquare.bootstrap import Services
from townsquare.core.errors import InvalidInput
from townsquare.core.jobs import ClockDrivenRunner, JobRunner
from townsquare.hosts.http.deps import ServicesDep
from townsquare.hosts.http.openapi import one_of
from townsquare.hosts.http.routes.declare import API, get, post, provided
from townsquare.hosts.http.routes.jobs import RunReportOut

MockJobsDep: TypeAlias = NamedDependency[ClockDrivenRunner]
"""The runner mock mode's jobs run on (when the clock moves, or on run-due)."""

# The mock clock stays in a range where every date computed from it (digest periods, demo
# data, cursor expiry) is representable.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2999, 12, 31, tzinfo=UTC)


@frozen
class ClockMove:
    """Either an absolute time (``now``) or a step forward in seconds (``advance_seconds``).

    Attributes:
        now: the time to jump to, with a UTC offset, within the years 2000-2999 (may go back).
        advance_seconds: how far to move forward, 0 or more seconds.
    """

    now: datetime | None = None
    advance_seconds: float | None = None


@frozen
class ClockState:
    """The mock clock's time.

    Attributes:
        now: the time every rule sees (UTC).
    """

    now: datetime


@frozen
class ClockMoved:
    """The clock's new time and what the jobs due by then did.

    Attributes:
        now: the clock's new time (UTC).
        jobs: what running the work due by then did.
    """

    now: datetime
    jobs: RunReportOut


@frozen
class Done:
    """What the route did.

    Attributes:
        status: ``reset`` or ``seeded``.
    """

    status: Annotated[str, one_of(["reset", "seeded"])]


@post("/reset", summary="Empty every store and put the mock clock back to its start")
def reset(services: ServicesDep, mock_jobs: MockJobsDep) -> Done:
    """Mock mode: empty every store, put the clock back to its start and restart the id sequence, so the same
    requests give the same answers again.
    """
    services.reset()
    mock_jobs.reset()
    return Done(status="reset")


@post(
    "/seed",
    summary="Load the deterministic demo data (after a reset: the same data every time)",
)
def seed(services: ServicesDep) -> Done:
    """Mock mode: load the deterministic demo data (users alice, bob, carol and admin; feed, inboxes, ledger, two
    demo jobs). Idempotent; after a reset the same data every time.
    """
    from townsquare.demo import seed_demo_data

    seed_demo_data(services)
    return Done(status="seeded")


@get("/clock", summary="The mock clock's time")
async def read_clock(services: ServicesDep) -> ClockState:
    """Mock mode: the mock clock's time (it stands still until a test moves it)."""
    return ClockState(now=services.clock.now())


@post("/clock", summary="Move the mock clock, then run the jobs due by then")
def move_clock(services: ServicesDep, mock_jobs: MockJobsDep, data: JSONBody[ClockMove]) -> ClockMoved:
    """Mock mode: set the clock (`now`, forwards or back) or move it forward (`advance_seconds`), within the
    years 2000-2999, then enqueue each periodic job whose due time it passed and run every due job before
    answering. With FROZEN_CLOCK=system the clock cannot move (a 400).
    """
    clock = services.manual_clock
    if clock is None:
        raise ClientException("the clock is the system clock (FROZEN_CLOCK=system); it cannot be moved")
    if (data.now is None) == (data.advance_seconds is None):
        raise InvalidInput("give exactly one of 'now' or 'advance_seconds'", field="now")
    if data.now is not None:
        if data.now.tzinfo is None:
            raise InvalidInput("'now' needs a UTC offset (e.g. 2026-01-15T12:00:00Z)", field="now")
        target, field = data.now, "now"
    else:
        assert data.advance_seconds is not None
        if data.advance_seconds < 0:
            raise InvalidInput("'advance_seconds' must not be negative", field="advance_seconds")
        step = timedelta(seconds=min(data.advance_seconds, (LATEST - EARLIEST).total_seconds()))
        target, field = clock.now() + step, "advance_seconds"
    if not EARLIEST <= target <= LATEST:
        raise InvalidInput("the mock clock must stay between the years 2000 and 2999", field=field)
    clock.set(target)
    report = mock_jobs.clock_moved()
    return ClockMoved(now=clock.now(), jobs=RunReportOut.from_report(report))


@post("/run-due", summary="Run the periodic work of the current period and every due job now")
def run_due(mock_jobs: MockJobsDep) -> RunReportOut:
    """Mock mode: enqueue every periodic schedule's current period and run every due job now, in this request."""
    return RunReportOut.from_report(mock_jobs.run_due())


def testing_router(services: Services) -> Router:
    """The test-only routes over ``services`` (memory mode), with the runner their jobs run on."""
    mock_jobs = ClockDrivenRunner(
        JobRunner(services.jobs, services.job_handlers), services.job_handlers, services.clock
    )
    handlers = [reset, seed, read_clock, move_clock, run_due]
    return Router(
        path=f"{API}/testing",
        route_handlers=handlers,
        tags=["testing"],
        dependencies={"mock_jobs": provided(mock_jobs)},
    )
