"""Stateful property test: random queue operations give the same results on memory and Postgres."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import text

from tests.conftest import EPOCH, memory_settings, postgres_settings
from townsquare.bootstrap import Services, bootstrap
from townsquare.core.clock import ManualClock
from townsquare.core.errors import DomainError
from townsquare.core.identity import Actor, system_actor
from townsquare.core.jobs import ClaimedJob, Job, JobRequest, JobStatus, Outcome

OPERATOR = system_actor("tests")


pytestmark = pytest.mark.postgres

ADMIN = Actor("ops-1", roles={"admin"})
JOB_TYPES = st.sampled_from(["test.noop", "test.other"])

keys = st.sampled_from([None, None, "a", "b", "c"])
requests = st.builds(
    JobRequest,
    job_type=st.sampled_from(["test.noop", "test.noop", "test.other"]),
    payload=st.dictionaries(st.sampled_from(["x", "y"]), st.integers(-3, 3) | st.text(max_size=3), max_size=2),
    idempotency_key=keys,
    max_attempts=st.integers(1, 3),
    delay=st.sampled_from([timedelta(0), timedelta(seconds=30), timedelta(seconds=90)]),
    priority=st.integers(-1, 1),
)


@pytest.fixture
def pair(pg_url: str) -> Iterator[tuple[Services, Services, ManualClock]]:
    clock = ManualClock(EPOCH)
    memory = bootstrap(memory_settings(), clock=clock)
    postgres = bootstrap(postgres_settings(pg_url), clock=clock)
    for services in (memory, postgres):
        services.job_handlers.register("test.noop", lambda _context: None)
        services.job_handlers.register("test.other", lambda _context: None)
    try:
        yield memory, postgres, clock
    finally:
        memory.close()
        postgres.close()


def snapshot(job: Job) -> tuple[Any, ...]:
    return (
        job.id,
        job.job_type,
        dict(job.payload),
        job.status,
        job.priority,
        job.attempts,
        job.max_attempts,
        job.run_at,
        job.idempotency_key,
        job.created_at,
        job.finished_at,
        job.lease_expires_at,
        job.last_error,
        job.errors,
    )


def test_memory_and_postgres_queues_agree(pair: tuple[Services, Services, ManualClock]) -> None:
    memory, postgres, clock = pair

    class Queues(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            clock.set(EPOCH)
            memory.reset()
            # TRUNCATE is the owner's (the login role's), not the system role's: no transaction() here.
            with postgres.uow.engine.begin() as conn:  # type: ignore[attr-defined]
                conn.execute(text("TRUNCATE jobs, job_type_controls RESTART IDENTITY"))
            self.claims: list[tuple[ClaimedJob, ClaimedJob]] = []
            self.ids: set[int] = set()

        def both(self, operation: Any) -> Any:
            results = []
            for services in (memory, postgres):
                try:
                    results.append(("ok", operation(services)))
                except DomainError as exc:
                    results.append((type(exc).__name__, exc.field))
            assert results[0] == results[1]
            return results[0]

        @rule(request=requests)
        def enqueue(self, request: JobRequest) -> None:
            outcome = self.both(lambda s: s.jobs.enqueue_many([request]))
            if outcome[0] == "ok":
                self.ids.update(outcome[1])

        @rule(batch=st.lists(requests, max_size=5))
        def enqueue_batch(self, batch: list[JobRequest]) -> None:
            outcome = self.both(lambda s: s.jobs.enqueue_many(batch))
            if outcome[0] == "ok":
                self.ids.update(outcome[1])

        @rule(limit=st.integers(1, 4), cap=st.none() | st.integers(0, 4))
        def claim(self, limit: int, cap: int | None) -> None:
            mine = memory.jobs.claim(limit, max_running=cap)
            theirs = postgres.jobs.claim(limit, max_running=cap)
            assert [(j.id, j.attempt, dict(j.payload), j.lease_expires_at) for j in mine] == [
                (j.id, j.attempt, dict(j.payload), j.lease_expires_at) for j in theirs
            ]
            self.claims += zip(mine, theirs, strict=True)

        @rule(data=st.data(), succeed=st.booleans())
        def report(self, data: st.DataObject, succeed: bool) -> None:
            if not self.claims:
                return
            mine, theirs = data.draw(st.sampled_from(self.claims))
            error = None if succeed else "boom"
            assert memory.jobs.record([Outcome(job=mine, error=error)]) == postgres.jobs.record(
                [Outcome(job=theirs, error=error)]
            )

        @rule(data=st.data())
        def release(self, data: st.DataObject) -> None:
            if not self.claims:
                return
            mine, theirs = data.draw(st.sampled_from(self.claims))
            assert memory.jobs.release([mine.lease]) == postgres.jobs.release([theirs.lease])

        @rule(data=st.data())
        def heartbeat(self, data: st.DataObject) -> None:
            if not self.claims:
                return
            index = data.draw(st.integers(0, len(self.claims) - 1))
            self.both(lambda s: s.jobs.heartbeat(self.claims[index][0 if s is memory else 1].lease))

        @rule(seconds=st.sampled_from([1, 59, 60, 120, 299, 300, 8 * 86400]))
        def advance(self, seconds: int) -> None:
            clock.advance(timedelta(seconds=seconds))

        @rule()
        def rescue(self) -> None:
            self.both(lambda s: s.jobs.rescue_stranded_jobs().rescued)

        @rule(data=st.data())
        def replay(self, data: st.DataObject) -> None:
            job_id = data.draw(st.sampled_from(sorted(self.ids))) if self.ids else 1
            self.both(lambda s: snapshot(s.jobs.replay(OPERATOR, job_id)))

        @rule(data=st.data())
        def cancel(self, data: st.DataObject) -> None:
            job_id = data.draw(st.sampled_from(sorted(self.ids))) if self.ids else 1
            self.both(lambda s: snapshot(s.jobs.cancel(ADMIN, job_id)))

        @rule(job_type=JOB_TYPES, paused=st.booleans())
        def pause_or_resume(self, job_type: str, paused: bool) -> None:
            self.both(lambda s: (s.jobs.pause if paused else s.jobs.resume)(ADMIN, job_type))

        @rule(job_type=JOB_TYPES, limit=st.none() | st.integers(1, 3))
        def set_limit(self, job_type: str, limit: int | None) -> None:
            self.both(lambda s: s.jobs.set_limit(ADMIN, job_type, limit))

        @rule(
            replay=st.booleans(),
            job_type=st.none() | JOB_TYPES,
            error=st.none() | st.sampled_from(["BOOM", "lease", "o"]),
            since=st.none() | st.sampled_from([0, 60, 600]),
        )
        def bulk(self, replay: bool, job_type: str | None, error: str | None, since: int | None) -> None:
            def act(s: Services) -> int:
                dead = s.jobs.dead_letter_filter(
                    job_type=job_type,
                    error_contains=error,
                    dead_since=None if since is None else clock.now() - timedelta(seconds=since),
                )
                return (s.jobs.replay_dead_letters if replay else s.jobs.discard_dead_letters)(ADMIN, dead)

            self.both(act)

        @rule()
        def prune(self) -> None:
            self.both(lambda s: s.jobs.prune())

        @invariant()
        def same_jobs_and_stats(self) -> None:
            for status in JobStatus:
                listed = [
                    [snapshot(job) for job in s.jobs.list_jobs(OPERATOR, status, limit=200).jobs]
                    for s in (memory, postgres)
                ]
                assert listed[0] == listed[1]
            assert memory.jobs.stats(OPERATOR) == postgres.jobs.stats(OPERATOR)
            assert memory.jobs.type_controls(ADMIN) == postgres.jobs.type_controls(ADMIN)

    run_state_machine_as_test(
        Queues, settings=hypothesis_settings(max_examples=20, stateful_step_count=20, deadline=None)
    )
