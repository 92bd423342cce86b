"""Postgres: jobs due later are parked out of the claim's index, and claimed once they are due."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import attrs
import psycopg
import pytest

from tests.conftest import postgres_settings
from townsquare.bootstrap import Services, bootstrap
from townsquare.core.clock import ManualClock
from townsquare.core.jobs import JobRequest

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_services(pg_url: str, clock: ManualClock) -> Iterator[Services]:
    services = bootstrap(attrs.evolve(postgres_settings(pg_url), database_pool_size=12), clock=clock)
    services.job_handlers.register("test.noop", lambda _context: None)
    try:
        yield services
    finally:
        services.close()


def parked(dsn: str) -> dict[int, bool]:
    with psycopg.connect(dsn) as conn:
        return dict(conn.execute("SELECT id, parked FROM jobs WHERE status = 'pending'").fetchall())  # type: ignore[arg-type]


def test_jobs_due_later_are_parked_until_a_claim_finds_them_due(
    pg_services: Services, pg_dsn: str, clock: ManualClock
) -> None:
    jobs = pg_services.jobs
    # Given a job due now, one due later (single), two due later (batch) at a better priority
    now_id = jobs.enqueue("test.noop")
    later = jobs.enqueue("test.noop", delay=timedelta(minutes=1), priority=-5)
    batch = jobs.enqueue_many([JobRequest(job_type="test.noop", delay=timedelta(minutes=2), priority=-5)] * 2)
    # And a failed job retrying in 60 s
    retried = jobs.enqueue("test.noop", priority=-9)
    (claimed,) = jobs.claim(1)
    assert claimed.id == retried
    jobs.fail(claimed, "boom")
    # Then only the job due now is unparked
    assert parked(pg_dsn) == {now_id: False, later: True, batch[0]: True, batch[1]: True, retried: True}
    # When the clock passes the first minute
    clock.advance(timedelta(seconds=61))
    # Then a claim takes the now-due jobs by priority, and leaves the one due later parked
    assert [job.id for job in jobs.claim(10)] == [retried, later, now_id]
    assert parked(pg_dsn) == {batch[0]: True, batch[1]: True}
    clock.advance(timedelta(minutes=1))
    assert [job.id for job in jobs.claim(10)] == batch


def test_racing_claimers_take_each_job_that_became_due_once(pg_services: Services, clock: ManualClock) -> None:
    # Given 600 jobs due in a minute, and the minute passed
    ids = pg_services.jobs.enqueue_many([JobRequest(job_type="test.noop", delay=timedelta(minutes=1))] * 600)
    clock.advance(timedelta(minutes=1))
    barrier = threading.Barrier(6)
    taken: list[int] = []
    errors: list[BaseException] = []

    def claimer() -> None:
        try:
            barrier.wait()
            while batch := pg_services.jobs.claim(7):
                taken.extend(job.id for job in batch)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=claimer) for _ in range(6)]
    # When 6 claimers race (each claim unparks, skipping what another is unparking)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then every job was claimed exactly once
    assert errors == []
    assert Counter(taken) == Counter(ids)
