"""Postgres: the job stats estimate on a table large enough to estimate (threshold lowered here)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from townsquare.adapters.postgres.database import PgDatabase
from townsquare.adapters.postgres.engine import create_database_engine
from townsquare.adapters.postgres.job_wakeups import PgJobWakeups
from townsquare.adapters.postgres.jobs import PgJobStore
from townsquare.core.clock import ManualClock
from townsquare.core.cursor import CursorCodec
from townsquare.core.identity import system_actor
from townsquare.core.jobs import JobHandlers, JobService, JobStatus

OPERATOR = system_actor("tests")

pytestmark = pytest.mark.postgres


@pytest.fixture
def estimating_jobs(pg_url: str, clock: ManualClock) -> Iterator[JobService]:
    db = PgDatabase(create_database_engine(pg_url, pool_size=2))
    store = PgJobStore(db, estimate_above_rows=1000)
    handlers = JobHandlers()
    for job_type in ("mail", "digest"):
        handlers.register(job_type, lambda _context: None)
    wakeups = PgJobWakeups(db)
    yield JobService(
        uow=db, store=store, wakeups=wakeups, clock=clock, handlers=handlers, cursors=CursorCodec(b"k" * 32, clock)
    )
    wakeups.close()
    db.dispose()


def test_a_large_table_counts_active_jobs_exactly_and_estimates_completed(
    estimating_jobs: JobService, pg_dsn: str, clock: ManualClock
) -> None:
    # Given 6,000 completed jobs of two types (2:1), analyzed, and a few pending, running and dead ones
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(
            """
            INSERT INTO jobs (job_type, status, max_attempts, run_at, created_at, finished_at)
            SELECT CASE WHEN i %% 3 = 0 THEN 'mail' ELSE 'digest' END, 'completed', 1, %(now)s, %(now)s, %(now)s
            FROM generate_series(1, 6000) AS i
            """,
            {"now": clock.now()},
        )
        conn.execute("ANALYZE jobs")
    for _ in range(5):
        estimating_jobs.enqueue("mail")
    estimating_jobs.enqueue("digest")
    estimating_jobs.claim(2)
    # When
    stats = estimating_jobs.stats_estimate(OPERATOR)
    exact = estimating_jobs.stats(OPERATOR)
    # Then pending, running and dead are exact, completed close to the truth
    assert stats.estimated and not exact.estimated
    for status in (JobStatus.PENDING, JobStatus.RUNNING, JobStatus.DEAD):
        assert stats.by_status[status] == exact.by_status[status]
    assert stats.by_status[JobStatus.COMPLETED] == pytest.approx(6000, rel=0.05)
    by_type = {entry.job_type: entry.counts for entry in stats.by_type}
    exact_by_type = {entry.job_type: entry.counts for entry in exact.by_type}
    assert by_type["mail"][JobStatus.PENDING] + by_type["mail"][JobStatus.RUNNING] == 5
    assert exact_by_type["mail"][JobStatus.PENDING] + exact_by_type["mail"][JobStatus.RUNNING] == 5
    # a 1% block sample of a small table is coarse: the split only has to be in the right direction
    assert by_type["digest"][JobStatus.COMPLETED] > by_type["mail"][JobStatus.COMPLETED] > 0
