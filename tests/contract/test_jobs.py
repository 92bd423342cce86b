"""The jobs contract: every JobStore adapter (memory, Postgres) behaves the same through JobService."""

from __future__ import annotations

import asyncio
import math
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from townsquare.bootstrap import Services
from townsquare.core.clock import ManualClock
from townsquare.core.errors import Conflict, InvalidCursor, InvalidInput, NotFound
from townsquare.core.identity import system_actor
from townsquare.core.jobs import (
    POISON_TEST_JOB,
    JobContext,
    JobRequest,
    JobRunner,
    JobStatus,
    LeaseLost,
    NewJob,
    Outcome,
    RetryPolicy,
)

OPERATOR = system_actor("tests")


LEASE = timedelta(minutes=5)


@pytest.fixture
def jobs_services(services: Services) -> Services:
    services.job_handlers.register("test.noop", lambda _context: None)
    return services


def test_enqueue_stores_a_pending_job_due_now(jobs_services: Services, clock: ManualClock) -> None:
    # When
    job_id = jobs_services.jobs.enqueue("test.noop", {"to": "alice", "n": [1, 2]}, max_attempts=5, priority=3)
    # Then
    job = jobs_services.jobs.get(OPERATOR, job_id)
    assert job.status is JobStatus.PENDING
    assert (job.job_type, dict(job.payload), job.max_attempts, job.priority) == (
        "test.noop",
        {"to": "alice", "n": [1, 2]},
        5,
        3,
    )
    assert job.run_at == clock.now() and job.created_at == clock.now() and job.attempts == 0


def test_the_same_idempotency_key_returns_the_same_job(jobs_services: Services) -> None:
    # Given
    first = jobs_services.jobs.enqueue("test.noop", {"a": 1}, idempotency_key="welcome:alice")
    # When
    again = jobs_services.jobs.enqueue("test.noop", {"a": 2}, idempotency_key="welcome:alice")
    batch = jobs_services.jobs.enqueue_many(
        [
            JobRequest(job_type="test.noop", idempotency_key="welcome:alice"),
            JobRequest(job_type="test.noop", idempotency_key="welcome:bob"),
            JobRequest(job_type="test.noop", idempotency_key="welcome:bob"),
            JobRequest(job_type="test.noop"),
        ]
    )
    # Then
    assert again == first and batch[0] == first
    assert batch[1] == batch[2] and len({first, batch[1], batch[3]}) == 3
    assert jobs_services.jobs.stats(OPERATOR).by_status[JobStatus.PENDING] == 3


def test_batch_enqueue_returns_ids_in_order(jobs_services: Services) -> None:
    # When
    ids = jobs_services.jobs.enqueue_many([JobRequest(job_type="test.noop", payload={"i": i}) for i in range(50)])
    # Then
    assert [jobs_services.jobs.get(OPERATOR, job_id).payload["i"] for job_id in ids] == list(range(50))


BAD_ENQUEUES: list[tuple[dict[str, Any], str]] = [
    ({"job_type": "no.such.type"}, "job_type"),
    ({"job_type": "Bad Type!"}, "job_type"),
    ({"payload": {"when": datetime(2026, 1, 1, tzinfo=UTC)}}, "payload"),
    ({"payload": {"price": Decimal("1.5")}}, "payload"),
    ({"payload": {"x": math.nan}}, "payload"),
    ({"payload": {"x": "nul\x00byte"}}, "payload"),
    ({"payload": ["not", "an", "object"]}, "payload"),
    ({"max_attempts": 0}, "max_attempts"),
    ({"max_attempts": 101}, "max_attempts"),
    ({"delay": timedelta(seconds=-1)}, "delay"),
    ({"run_at": datetime(2026, 1, 15, 12, 0)}, "run_at"),  # naive
    ({"run_at": datetime(2026, 1, 16, tzinfo=UTC), "delay": timedelta(0)}, "run_at"),
    ({"priority": 5000}, "priority"),
    ({"idempotency_key": ""}, "idempotency_key"),
]


def test_bad_enqueues_are_rejected_and_store_nothing(jobs_services: Services) -> None:
    for kwargs, field in BAD_ENQUEUES:
        # Given
        arguments = {"job_type": "test.noop", **kwargs}
        # When
        with pytest.raises(InvalidInput) as raised:
            jobs_services.jobs.enqueue(arguments.pop("job_type"), **arguments)
        # Then
        assert raised.value.field == field, kwargs
    assert sum(jobs_services.jobs.stats(OPERATOR).by_status.values()) == 0


def test_a_bad_job_in_a_batch_queues_none_of_it(jobs_services: Services) -> None:
    # When
    with pytest.raises(InvalidInput):
        jobs_services.jobs.enqueue_many(
            [JobRequest(job_type="test.noop"), JobRequest(job_type="test.noop", max_attempts=0)]
        )
    # Then
    assert sum(jobs_services.jobs.stats(OPERATOR).by_status.values()) == 0


def test_enqueue_joins_the_callers_transaction(jobs_services: Services) -> None:
    # Given: a transaction that enqueues then fails
    with pytest.raises(RuntimeError), jobs_services.uow.transaction():
        jobs_services.jobs.enqueue("test.noop", idempotency_key="rolled-back")
        raise RuntimeError("the caller's own write failed")
    # When: one that commits
    with jobs_services.uow.transaction():
        kept = jobs_services.jobs.enqueue("test.noop", idempotency_key="kept")
    # Then
    assert jobs_services.jobs.stats(OPERATOR).by_status[JobStatus.PENDING] == 1
    assert jobs_services.jobs.get(OPERATOR, kept).idempotency_key == "kept"
    assert jobs_services.jobs.enqueue("test.noop", idempotency_key="rolled-back") != kept


REQUEST_A = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
REQUEST_B = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"


def test_jobs_carry_their_enqueuers_trace_parent_to_the_claim(jobs_services: Services) -> None:
    # Given: enqueues under two requests' trace contexts (one alone, one batch), and none
    under_a = attrs.evolve(jobs_services.jobs, trace_parent=lambda: REQUEST_A)
    under_b = attrs.evolve(jobs_services.jobs, trace_parent=lambda: REQUEST_B)
    single = under_a.enqueue("test.noop", idempotency_key="traced")
    batch = under_b.enqueue_many([JobRequest(job_type="test.noop"), JobRequest(job_type="test.noop", priority=1)])
    untraced = jobs_services.jobs.enqueue("test.noop", priority=2)
    # When: the same key again under another context (the stored job keeps its own)
    assert under_b.enqueue("test.noop", idempotency_key="traced") == single
    claimed = jobs_services.jobs.claim(10)
    # Then
    parents = {job.id: job.trace_parent for job in claimed}
    assert parents == {single: REQUEST_A, batch[0]: REQUEST_B, batch[1]: REQUEST_B, untraced: None}


def test_a_batch_of_jobs_from_different_contexts_keeps_each_ones(jobs_services: Services, clock: ManualClock) -> None:
    # Given: the store's batch insert with jobs that do not share one trace context
    def new(trace_parent: str | None, key: str | None = None) -> NewJob:
        return NewJob(
            job_type="test.noop",
            payload={},
            max_attempts=3,
            run_at=clock.now(),
            priority=0,
            idempotency_key=key,
            trace_parent=trace_parent,
        )

    with jobs_services.uow.transaction():
        ids = jobs_services.jobs.store.add([new(REQUEST_A), new(None), new(REQUEST_B, "k")], clock.now())
    # When
    claimed = jobs_services.jobs.claim(10)
    # Then
    assert {job.id: job.trace_parent for job in claimed} == dict(zip(ids, [REQUEST_A, None, REQUEST_B], strict=True))


def test_claim_takes_due_jobs_by_priority_then_time_and_only_once(jobs_services: Services, clock: ManualClock) -> None:
    # Given
    jobs = jobs_services.jobs
    late = jobs.enqueue("test.noop", delay=timedelta(minutes=1))
    low = jobs.enqueue("test.noop", priority=5)
    first = jobs.enqueue("test.noop")
    urgent = jobs.enqueue("test.noop", priority=-5)
    # When
    claimed = jobs.claim(10)
    again = jobs.claim(10)
    # Then
    assert [job.id for job in claimed] == [urgent, first, low]
    assert again == []
    assert all(job.attempt == 1 and job.lease_expires_at == clock.now() + LEASE for job in claimed)
    clock.advance(timedelta(minutes=1))
    assert [job.id for job in jobs.claim(10)] == [late]


def test_claim_respects_the_batch_size_and_running_cap(jobs_services: Services) -> None:
    # Given
    jobs_services.jobs.enqueue_many([JobRequest(job_type="test.noop") for _ in range(10)])
    # When / Then
    assert len(jobs_services.jobs.claim(3)) == 3
    assert len(jobs_services.jobs.claim(10, max_running=5)) == 2
    assert jobs_services.jobs.claim(10, max_running=5) == []


def test_failures_back_off_60_120_then_dead_letter(jobs_services: Services, clock: ManualClock) -> None:
    # Given
    jobs = jobs_services.jobs
    runner = JobRunner(jobs, jobs_services.job_handlers)
    job_id = jobs.enqueue(POISON_TEST_JOB, {"fail": True})
    start = clock.now()
    # When / Then: the first attempt fails and waits 60 s
    runner.run_due()
    job = jobs.get(OPERATOR, job_id)
    assert (job.status, job.attempts, job.run_at) == (JobStatus.PENDING, 1, start + timedelta(seconds=60))
    clock.advance(timedelta(seconds=59))
    assert runner.run_due().ran == 0
    clock.advance(timedelta(seconds=1))
    runner.run_due()
    job = jobs.get(OPERATOR, job_id)
    assert (job.status, job.attempts, job.run_at) == (JobStatus.PENDING, 2, start + timedelta(seconds=180))
    clock.advance(timedelta(seconds=120))
    runner.run_due()
    # Then: three failures -> dead, with its last error and history
    job = jobs.get(OPERATOR, job_id)
    assert job.status is JobStatus.DEAD and job.attempts == 3
    assert job.finished_at == start + timedelta(seconds=180)
    assert job.last_error is not None and "PoisonTestFailure" in job.last_error
    assert [(error.attempt, error.at - start) for error in job.errors] == [
        (1, timedelta(0)),
        (2, timedelta(seconds=60)),
        (3, timedelta(seconds=180)),
    ]
    assert jobs.stats(OPERATOR).dead_letters == 1


def test_backoff_doubles_from_60_seconds(jobs_services: Services, clock: ManualClock) -> None:
    # Given
    jobs = jobs_services.jobs
    job_id = jobs.enqueue("test.noop", max_attempts=5)
    delays = []
    # When
    for _ in range(4):
        claimed = jobs.claim(1)
        jobs.record([Outcome(job=claimed[0], error="boom")])
        delays.append(jobs.get(OPERATOR, job_id).run_at - clock.now())
        clock.set(jobs.get(OPERATOR, job_id).run_at)
    # Then
    assert delays == [timedelta(seconds=s) for s in (60, 120, 240, 480)]


def test_a_dead_workers_job_runs_again_after_its_lease(jobs_services: Services, clock: ManualClock) -> None:
    # Given: a worker claimed the job and died
    jobs = jobs_services.jobs
    job_id = jobs.enqueue("test.noop")
    lost = jobs.claim(1)[0]
    # When: before the lease runs out nobody else may take it
    clock.advance(LEASE - timedelta(seconds=1))
    assert jobs.rescue_stranded_jobs().rescued == 0
    assert jobs.claim(1) == []
    # When: after it, the job is re-offered and claimed again
    clock.advance(timedelta(seconds=1))
    assert jobs.rescue_stranded_jobs().rescued == 1
    second = jobs.claim(1)[0]
    # Then: the lost run's late report changes nothing; the new run's does
    assert second.id == job_id and second.attempt == 2
    report = jobs.record([Outcome(job=lost), Outcome(job=lost, error="late failure")])
    assert (report.completed, report.failed, report.stale) == (0, 0, 2)
    assert jobs.get(OPERATOR, job_id).status is JobStatus.RUNNING
    assert jobs.complete([second.lease]) == 1
    job = jobs.get(OPERATOR, job_id)
    assert job.status is JobStatus.COMPLETED
    assert job.errors[0].message.startswith("lease expired")


def test_a_silent_workers_jobs_are_rescued_at_the_worker_timeout(jobs_services: Services, clock: ManualClock) -> None:
    # Given two registered workers; the first claims three jobs and begins one
    jobs = jobs_services.jobs
    ids = jobs.enqueue_many([JobRequest(job_type="test.noop") for _ in range(3)])
    dead, alive = uuid.uuid4(), uuid.uuid4()
    jobs.register_worker(dead, "host:1")
    jobs.register_worker(alive, "host:2")
    claimed = jobs.claim(3, worker_id=dead)
    assert jobs.start([claimed[0].lease]) == {ids[0]}
    assert jobs.get(OPERATOR, ids[0]).worker_id == dead and jobs.get(OPERATOR, ids[0]).started_at == clock.now()
    assert jobs.get(OPERATOR, ids[1]).started_at is None
    # When the first stops heartbeating while the second goes on
    clock.advance(timedelta(seconds=9))
    assert jobs.worker_heartbeat(alive)
    assert jobs.rescue_stranded_jobs().rescued == 0
    clock.advance(timedelta(seconds=2))
    assert jobs.worker_heartbeat(alive)
    report = jobs.rescue_stranded_jobs()
    # Then, long before the lease, the begun job is a lost run and the others are given back
    assert (report.retried, report.released, report.dead_workers) == (1, 2, (dead,))
    begun, waiting = jobs.get(OPERATOR, ids[0]), jobs.get(OPERATOR, ids[1])
    assert (begun.status, begun.attempts, begun.errors[0].message) == (
        JobStatus.PENDING,
        1,
        "worker died: its worker process stopped heartbeating before reporting",
    )
    assert (waiting.status, waiting.attempts, waiting.errors, waiting.worker_id) == (JobStatus.PENDING, 0, (), None)
    # And the dead worker's late reports change nothing; it learns it was found dead
    assert jobs.start([claimed[1].lease]) == set()
    assert jobs.record([Outcome(job=job) for job in claimed]).stale == 3
    assert not jobs.worker_heartbeat(dead)
    assert {job.id for job in jobs.claim(3, worker_id=alive)} == set(ids)


def test_a_worker_that_stops_cleanly_is_forgotten(jobs_services: Services, clock: ManualClock) -> None:
    # Given a registered worker holding nothing
    jobs = jobs_services.jobs
    worker = uuid.uuid4()
    jobs.register_worker(worker, "host:1")
    # When it unregisters
    jobs.unregister_worker(worker)
    # Then its heartbeat is refused and no rescue finds anything of it
    assert not jobs.worker_heartbeat(worker)
    clock.advance(timedelta(minutes=1))
    assert jobs.rescue_stranded_jobs().dead_workers == ()


def test_released_jobs_are_due_again_without_spending_an_attempt(jobs_services: Services) -> None:
    # Given a claimed job whose message the broker refused
    jobs = jobs_services.jobs
    job_id = jobs.enqueue("test.noop", max_attempts=1)
    claimed = jobs.claim(1)[0]
    # When the dispatcher gives it back (twice: the second is stale)
    released = [jobs.release([claimed.lease]), jobs.release([claimed.lease])]
    # Then it is pending with no attempt spent, and runs as attempt 1 again
    assert released == [1, 0]
    job = jobs.get(OPERATOR, job_id)
    assert (job.status, job.attempts, job.lease_expires_at) == (JobStatus.PENDING, 0, None)
    assert jobs.claim(1)[0].attempt == 1


def test_a_job_that_loses_its_lease_on_the_last_attempt_is_dead(jobs_services: Services, clock: ManualClock) -> None:
    # Given
    job_id = jobs_services.jobs.enqueue("test.noop", max_attempts=1)
    jobs_services.jobs.claim(1)
    # When
    clock.advance(LEASE)
    rescued = jobs_services.jobs.rescue_stranded_jobs().rescued
    # Then
    assert rescued == 1 and jobs_services.jobs.get(OPERATOR, job_id).status is JobStatus.DEAD


def test_heartbeat_extends_the_lease(jobs_services: Services, clock: ManualClock) -> None:
    # Given
    jobs = jobs_services.jobs
    jobs.enqueue("test.noop")
    held = jobs.claim(1)[0]
    # When
    clock.advance(timedelta(minutes=4))
    assert jobs.heartbeat(held.lease) == clock.now() + LEASE
    clock.advance(timedelta(minutes=4))
    # Then: still held
    assert jobs.rescue_stranded_jobs().rescued == 0
    clock.advance(timedelta(minutes=1))
    assert jobs.rescue_stranded_jobs().rescued == 1
    with pytest.raises(LeaseLost):
        jobs.heartbeat(held.lease)


def test_a_raising_handler_is_a_recorded_failure_and_the_runner_goes_on(
    jobs_services: Services, clock: ManualClock
) -> None:
    # Given
    seen: list[int] = []

    def explode(_context: JobContext) -> None:
        raise ValueError("handler bug")

    async def async_ok(context: JobContext) -> None:
        await asyncio.sleep(0)
        context.heartbeat()
        seen.append(context.attempt)

    jobs_services.job_handlers.register("test.explode", explode)
    jobs_services.job_handlers.register("test.async", async_ok)
    bad = jobs_services.jobs.enqueue("test.explode")
    good = jobs_services.jobs.enqueue("test.async")
    # When
    report = JobRunner(jobs_services.jobs, jobs_services.job_handlers).run_due()
    # Then
    assert report.failed == 1 and report.completed >= 1
    assert jobs_services.jobs.get(OPERATOR, good).status is JobStatus.COMPLETED and seen == [1]
    failed = jobs_services.jobs.get(OPERATOR, bad)
    assert failed.status is JobStatus.PENDING and failed.last_error == "ValueError: handler bug"


def test_dead_letters_can_be_listed_inspected_and_replayed(jobs_services: Services, clock: ManualClock) -> None:
    # Given
    jobs = jobs_services.jobs
    alive = jobs.enqueue("test.noop")
    dead = jobs.enqueue(POISON_TEST_JOB, {"fail": True}, max_attempts=1)
    JobRunner(jobs, jobs_services.job_handlers).run_due()
    # When
    page = jobs.dead_letters(OPERATOR)
    inspected = jobs.dead_letter(OPERATOR, dead)
    clock.advance(timedelta(hours=1))
    replayed = jobs.replay(OPERATOR, dead)
    # Then
    assert [job.id for job in page.jobs] == [dead] and page.next_cursor is None
    assert inspected.last_error is not None and len(inspected.errors) == 1
    assert (replayed.status, replayed.attempts, replayed.run_at) == (JobStatus.PENDING, 0, clock.now())
    assert replayed.errors == inspected.errors
    with pytest.raises(Conflict):
        jobs.replay(OPERATOR, alive)
    with pytest.raises(NotFound):
        jobs.replay(OPERATOR, 10_000)
    with pytest.raises(NotFound):
        jobs.dead_letter(OPERATOR, alive)


def test_stats_count_by_status_and_type_and_age_of_oldest_due(jobs_services: Services, clock: ManualClock) -> None:
    # Given
    jobs = jobs_services.jobs
    jobs.enqueue("test.noop")
    clock.advance(timedelta(seconds=30))
    jobs.enqueue("test.noop", delay=timedelta(hours=1))
    jobs.enqueue(POISON_TEST_JOB, {"fail": False})
    jobs.claim(1)
    clock.advance(timedelta(seconds=15))
    jobs.enqueue("test.noop")
    # When
    stats = jobs.stats(OPERATOR)
    # Then
    assert stats.by_status == {
        JobStatus.PENDING: 3,
        JobStatus.RUNNING: 1,
        JobStatus.COMPLETED: 0,
        JobStatus.DEAD: 0,
        JobStatus.CANCELLED: 0,
    }
    counts = {entry.job_type: entry.counts for entry in stats.by_type}
    assert counts["test.noop"][JobStatus.PENDING] == 2 and counts["test.noop"][JobStatus.RUNNING] == 1
    assert counts[POISON_TEST_JOB][JobStatus.PENDING] == 1
    assert stats.oldest_due_age == timedelta(seconds=15)
    assert stats.dead_letters == 0


def test_completed_jobs_are_pruned_after_the_retention(jobs_services: Services, clock: ManualClock) -> None:
    # Given
    jobs = jobs_services.jobs
    old = jobs.enqueue("test.noop", idempotency_key="once")
    dead = jobs.enqueue(POISON_TEST_JOB, {"fail": True}, max_attempts=1)
    JobRunner(jobs, jobs_services.job_handlers).run_due()
    clock.advance(timedelta(days=6))
    recent = jobs.enqueue("test.noop")
    JobRunner(jobs, jobs_services.job_handlers).run_due()
    clock.advance(timedelta(days=1, seconds=1))
    # When
    pruned = jobs.prune()
    # Then: only the old completed job (and the schedule's prune job of the first day) is gone
    with pytest.raises(NotFound):
        jobs.get(OPERATOR, old)
    assert pruned >= 1
    assert (
        jobs.get(OPERATOR, dead).status is JobStatus.DEAD and jobs.get(OPERATOR, recent).status is JobStatus.COMPLETED
    )
    assert jobs.enqueue("test.noop", idempotency_key="once") != old


def test_lists_page_by_cursor_without_gaps(jobs_services: Services) -> None:
    # Given
    ids = jobs_services.jobs.enqueue_many([JobRequest(job_type="test.noop") for _ in range(7)])
    # When
    seen, cursor = [], None
    while True:
        page = jobs_services.jobs.list_jobs(OPERATOR, JobStatus.PENDING, limit=3, cursor=cursor)
        seen += [job.id for job in page.jobs]
        cursor = page.next_cursor
        if cursor is None:
            break
    # Then
    assert seen == sorted(ids, reverse=True)
    first = jobs_services.jobs.list_jobs(OPERATOR, JobStatus.PENDING, limit=3)
    assert first.next_cursor is not None
    with pytest.raises(InvalidCursor):
        jobs_services.jobs.list_jobs(OPERATOR, JobStatus.DEAD, limit=3, cursor=first.next_cursor)


def test_periodic_jobs_are_enqueued_once_per_period(jobs_services: Services, clock: ManualClock) -> None:
    # Given
    jobs_services.job_handlers.register("test.tick", lambda _context: None)
    jobs_services.job_handlers.schedule("test.tick", timedelta(minutes=10), {"source": "schedule"})

    def tick_ids(ids: list[int]) -> list[int]:
        return [job_id for job_id in ids if jobs_services.jobs.get(OPERATOR, job_id).job_type == "test.tick"]

    # When
    first = tick_ids(jobs_services.jobs.enqueue_due_schedules())
    clock.advance(timedelta(minutes=1))
    same_period = tick_ids(jobs_services.jobs.enqueue_due_schedules())
    clock.advance(timedelta(minutes=10))
    next_period = tick_ids(jobs_services.jobs.enqueue_due_schedules())
    # Then
    assert len(first) == 1 and first == same_period
    assert len(next_period) == 1 and next_period != first
    tick = jobs_services.jobs.get(OPERATOR, first[0])
    assert tick.idempotency_key == "periodic:test.tick:2026-01-15T12:00:00+00:00"
    assert dict(tick.payload) == {"source": "schedule"}


@given(attempt=st.integers(1, 200), jitter=st.floats(0, 1), draw=st.floats(0, 1, exclude_max=True))
def test_backoff_is_60s_doubling_capped_and_jitter_only_adds(attempt: int, jitter: float, draw: float) -> None:
    # Given
    exact = RetryPolicy()
    jittered = RetryPolicy(jitter=jitter, rng=lambda: draw)
    # When
    delay = exact.backoff(attempt)
    # Then
    assert delay == timedelta(seconds=min(60 * 2 ** (attempt - 1), 24 * 3600))
    assert delay <= jittered.backoff(attempt) <= delay * (1 + jitter)


def test_registering_a_job_type_twice_or_scheduling_an_unknown_one_is_a_wiring_error(services: Services) -> None:
    with pytest.raises(ValueError, match="already registered"):
        services.job_handlers.register(POISON_TEST_JOB, lambda _context: None)
    with pytest.raises(ValueError, match="register a handler"):
        services.job_handlers.schedule("never.registered", timedelta(minutes=1))
