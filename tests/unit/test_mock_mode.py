"""The pieces that make mock mode repeat: seeded ids, a clock that resets, jobs that wait for the clock."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.conftest import memory_settings

from townsquare.bootstrap import Services, bootstrap
from townsquare.core.clock import ManualClock
from townsquare.core.identity import Actor, system_actor
from townsquare.core.ids import RandomIds, SeededIds
from townsquare.core.jobs import ClockDrivenRunner, JobRunner, JobStatus

OPERATOR = system_actor("tests")


SENDER = Actor("test-sender", roles=["service"])

START = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def test_seeded_ids_are_uuid4_distinct_and_start_again_after_a_reset() -> None:
    ids = SeededIds()
    first = [ids.new_id() for _ in range(100)]
    ids.reset()
    again = [ids.new_id() for _ in range(100)]
    assert first == again
    assert len(set(first)) == 100
    assert {uuid.UUID(value).version for value in first} == {4}
    assert SeededIds().new_id() == first[0]  # another process, the same sequence
    assert RandomIds().new_id() != RandomIds().new_id()


def test_a_reset_puts_a_manual_clock_back_to_its_start_and_restarts_the_ids() -> None:
    clock = ManualClock(START)
    services = bootstrap(memory_settings(), clock=clock)
    sent = services.notifications.send(SENDER, "alice", "inapp", "follow", title="hi").notification_id
    clock.advance(timedelta(days=3))
    # When
    services.reset()
    # Then
    assert clock.now() == START == clock.start
    assert services.notifications.send(SENDER, "alice", "inapp", "follow", title="hi").notification_id == sent


def periodic_jobs(services: Services) -> list[str]:
    """The idempotency keys of every periodic job in the queue, sorted."""
    keys = [
        job.idempotency_key or ""
        for status in JobStatus
        for job in services.jobs.list_jobs(OPERATOR, status, limit=200).jobs
    ]
    return sorted(key for key in keys if key.startswith("periodic:"))


def test_periodic_work_waits_until_the_clock_passes_its_due_time() -> None:
    # Given mock mode's runner on a clock standing at a period boundary of every schedule
    clock = ManualClock(START)
    services = bootstrap(memory_settings(), clock=clock)
    runner = ClockDrivenRunner(JobRunner(services.jobs, services.job_handlers), services.job_handlers, clock)
    # When the clock "moves" by nothing, or by less than a minute
    assert runner.clock_moved().scheduled == 0
    clock.advance(timedelta(seconds=59))
    assert runner.clock_moved().scheduled == 0
    # Then no periodic job exists; passing 12:01 queues the one-minute ones only: the outbox
    # sweep and the waitlist offers' expiry
    assert periodic_jobs(services) == []
    clock.advance(timedelta(seconds=1))
    assert runner.clock_moved().scheduled == 2
    assert periodic_jobs(services) == [
        "periodic:events.expire_offers:2026-01-15T12:01:00+00:00",
        "periodic:notifications.process_outbox:2026-01-15T12:01:00+00:00",
    ]
    # And passing 12:05 queues those, the digest check and the waitlist sweep, once each
    clock.advance(timedelta(minutes=4, seconds=30))
    assert runner.clock_moved().scheduled == 4
    clock.set(START)  # a move backwards passes no due time
    assert runner.clock_moved().scheduled == 0
    assert len(periodic_jobs(services)) == 6


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=200), max_size=12))
def test_a_move_queues_a_schedule_exactly_when_it_crosses_one_of_its_boundaries(steps: list[int]) -> None:
    clock = ManualClock(START + timedelta(seconds=7))
    services = bootstrap(memory_settings(), clock=clock)
    runner = ClockDrivenRunner(JobRunner(services.jobs, services.job_handlers), services.job_handlers, clock)
    outbox = next(s for s in services.job_handlers.schedules if s.job_type == "notifications.process_outbox")
    for step in steps:
        before = clock.now()
        clock.advance(timedelta(seconds=step))
        crossed = outbox.period_start(clock.now()) > before
        keys_before = set(periodic_jobs(services))
        runner.clock_moved()
        added = {key for key in set(periodic_jobs(services)) - keys_before if "process_outbox" in key}
        assert added == (
            {f"periodic:{outbox.job_type}:{outbox.period_start(clock.now()).isoformat()}"} if crossed else set()
        )
