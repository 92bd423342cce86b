"""Library use on Postgres: enqueue inside a transaction the caller owns (``PgDatabase.bind``)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.conftest import postgres_settings
from townsquare.adapters.postgres.database import PgDatabase
from townsquare.bootstrap import bootstrap
from townsquare.core.identity import system_actor
from townsquare.core.jobs import JobStatus

OPERATOR = system_actor("tests")


pytestmark = pytest.mark.postgres


def test_enqueue_on_the_callers_own_connection_commits_and_rolls_back_with_it(pg_url: str) -> None:
    # Given a library user with their own connection and transaction
    services = bootstrap(postgres_settings(pg_url))
    services.job_handlers.register("shop.receipt", lambda _context: None)
    database = services.uow
    assert isinstance(database, PgDatabase)
    try:
        # When they roll back after enqueueing
        with database.engine.connect() as conn:
            transaction = conn.begin()
            with database.bind(conn):
                services.jobs.enqueue("shop.receipt", {"order": 1}, idempotency_key="receipt:1")
            # Then their own connection sees the job before the commit
            assert conn.execute(text("SELECT count(*) FROM jobs WHERE job_type = 'shop.receipt'")).scalar() == 1
            transaction.rollback()
        assert services.jobs.stats(OPERATOR).by_status[JobStatus.PENDING] == 0
        # When they commit
        with database.engine.connect() as conn, conn.begin(), database.bind(conn):
            job_id = services.jobs.enqueue("shop.receipt", {"order": 2}, idempotency_key="receipt:2")
        # Then the job exists
        assert services.jobs.get(OPERATOR, job_id).status is JobStatus.PENDING
    finally:
        services.close()
