"""Running claimed jobs: call the handler (sync or async), turn any exception into a failure.

:func:`execute` is shared by every host. :class:`JobRunner` is the in-process loop (claim,
run, report) used by memory mode's HTTP host, tests and the drain benchmark;
:class:`ClockDrivenRunner` runs it when mock mode's clock moves. The Dramatiq worker host
spreads the same steps over a dispatcher, actors and a completer.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from attrs import frozen

from townsquare.core.clock import Clock
from townsquare.core.jobs.handlers import JobContext, JobHandlers, Schedule
from townsquare.core.jobs.models import ClaimedJob, Outcome
from townsquare.core.jobs.service import JobService

log = logging.getLogger("townsquare.jobs")
_loops = threading.local()


def execute(handlers: JobHandlers, job: ClaimedJob, heartbeat: Callable[[], None]) -> Outcome:
    """Run ``job``'s handler and return the outcome; a raising handler is a failed outcome.

    Only :class:`Exception` is caught: a handler's failure is recorded (and logged with its
    traceback), while ``KeyboardInterrupt``/``SystemExit`` still stop the process.
    """
    entry = handlers.get(job.job_type)
    if entry is None:
        return Outcome(job=job, error=f"no handler is registered for job type {job.job_type!r}")
    context = JobContext(
        job_id=job.id, job_type=job.job_type, payload=job.payload, attempt=job.attempt, heartbeat=heartbeat
    )
    try:
        result = entry.handler(context)
        if inspect.isawaitable(result):
            _event_loop().run_until_complete(_awaited(result))
    except Exception as exc:
        log.warning(
            "job failed: %s #%s attempt %s/%s", job.job_type, job.id, job.attempt, job.max_attempts, exc_info=True
        )
        return Outcome(job=job, error=f"{type(exc).__name__}: {exc}")
    return Outcome(job=job)


async def _awaited(awaitable: Any) -> object:
    return await awaitable


def _event_loop() -> asyncio.AbstractEventLoop:
    # One loop per thread, reused: creating a loop per job would cost more than a no-op job.
    loop: asyncio.AbstractEventLoop | None = getattr(_loops, "loop", None)
    if loop is None or loop.is_closed():
        loop = asyncio.new_event_loop()
        _loops.loop = loop
    return loop


@frozen
class RunReport:
    """What one :meth:`JobRunner.run_due` call did."""

    completed: int
    failed: int
    stale: int
    rescued: int
    scheduled: int

    @property
    def ran(self) -> int:
        return self.completed + self.failed + self.stale


class JobRunner:
    """Runs due jobs in this thread: periodic schedules, lease rescue, then claim-run-report.

    Args:
        service: the job service.
        handlers: the registry to run handlers from.
        batch_size: jobs claimed per round.
    """

    def __init__(self, service: JobService, handlers: JobHandlers, *, batch_size: int = 100) -> None:
        self._service = service
        self._handlers = handlers
        self._batch_size = batch_size

    def run_due(self, *, max_jobs: int = 10_000, schedules: Sequence[Schedule] | None = None) -> RunReport:
        """Run every job that is due now (up to ``max_jobs``), then return.

        Jobs that fail are retried later (their backoff moves ``run_at`` into the future), so
        this ends even while failures keep happening.

        Args:
            max_jobs: the most jobs to run in this call.
            schedules: the periodic schedules to enqueue for the current period first
                (default: every registered one; ``[]`` for none).
        """
        scheduled = len(self._service.enqueue_due_schedules(schedules))
        rescued = self._service.rescue_stranded_jobs().rescued
        completed = failed = stale = 0
        while completed + failed + stale < max_jobs:
            claimed = self._service.claim(min(self._batch_size, max_jobs - completed - failed - stale))
            if not claimed:
                break
            report = self._service.record([self.run_one(job) for job in claimed])
            completed += report.completed
            failed += report.failed
            stale += report.stale
        return RunReport(completed=completed, failed=failed, stale=stale, rescued=rescued, scheduled=scheduled)

    def run_one(self, job: ClaimedJob) -> Outcome:
        """Run one claimed job's handler (heartbeats extend its lease)."""

        def heartbeat() -> None:
            self._service.heartbeat(job.lease)

        return execute(self._handlers, job, heartbeat)


class BackgroundRunner:
    """A daemon thread calling :meth:`JobRunner.run_due` every ``interval`` seconds.

    Memory mode's HTTP host uses it on the wall clock (``FROZEN_CLOCK=system``) so that queued
    jobs run without a separate worker process (memory mode keeps its data in one process);
    on the mock clock it uses :class:`ClockDrivenRunner` instead.
    """

    def __init__(self, runner: JobRunner, *, interval: float = 0.25) -> None:
        self._runner = runner
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="townsquare-jobs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._runner.run_due()
            except Exception:
                # The loop must survive a failing round (e.g. a store error); the error is
                # logged and the next round tries again.
                log.exception("background job round failed")


class ClockDrivenRunner:
    """Mock mode's jobs: nothing runs on its own; due work runs when the manual clock moves.

    While the clock stands still the queue changes only through requests, so the same requests
    after a reset give the same job ids, statuses and counts on every run. When the clock is
    moved, each periodic schedule whose due time (a period boundary) was passed since the last
    move is enqueued, then every due job runs, before the move answers.

    Args:
        runner: runs the due jobs.
        handlers: the registry whose schedules are checked.
        clock: the mock clock (moved by the caller before :meth:`clock_moved`).
    """

    def __init__(self, runner: JobRunner, handlers: JobHandlers, clock: Clock) -> None:
        self._runner = runner
        self._handlers = handlers
        self._clock = clock
        self._lock = threading.Lock()
        self._mark = clock.now()

    def clock_moved(self) -> RunReport:
        """Enqueue the schedules whose due time the clock passed, then run every due job."""
        with self._lock:
            now = self._clock.now()
            passed = [s for s in self._handlers.schedules if self._mark < s.period_start(now) <= now]
            self._mark = now
            return self._runner.run_due(schedules=passed)

    def run_due(self) -> RunReport:
        """Run the periodic work of the current period and every due job now (``run-due``)."""
        with self._lock:
            self._mark = self._clock.now()
            return self._runner.run_due()

    def reset(self) -> None:
        """Forget past moves (after a reset put the clock back to its start)."""
        with self._lock:
            self._mark = self._clock.now()
