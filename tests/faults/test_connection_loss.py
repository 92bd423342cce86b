"""A connection killed under a transaction surfaces as the connection error the host turns into a 503."""

from __future__ import annotations

import threading

import psycopg
import pytest
import sqlalchemy.exc
from bench.running import wait_until
from sqlalchemy import text

from tests.conftest import postgres_settings
from townsquare.adapters.postgres.database import PgDatabase
from townsquare.bootstrap import bootstrap
from townsquare.core.identity import Actor
from townsquare.hosts.http.problems import is_connection_failure

SENDER = Actor("test-sender", roles=["service"])


@pytest.mark.postgres
def test_a_transaction_whose_connection_is_killed_fails_with_the_connection_error(pg_url: str, pg_dsn: str) -> None:
    # Given a transaction that sent a notification and is busy when an administrator
    # terminates its server process (what a Postgres shutdown or failover does)
    services = bootstrap(postgres_settings(pg_url))
    database = services.uow
    assert isinstance(database, PgDatabase)

    def terminate_when_busy(pid: int) -> None:
        busy = "SELECT 1 FROM pg_stat_activity WHERE pid = %s AND state = 'active' AND query LIKE '%%pg_sleep%%'"
        with psycopg.connect(pg_dsn, autocommit=True) as admin:
            wait_until(lambda: admin.execute(busy, (pid,)).fetchone() is not None, 10, "the statement to run")
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))

    try:
        with pytest.raises(sqlalchemy.exc.DBAPIError) as raised, services.uow.transaction():
            services.notifications.send(SENDER, "reader", "inapp", "follow", title="lost", idempotency_key="k1")
            connection = database.connection()
            pid = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
            killer = threading.Thread(target=terminate_when_busy, args=(pid,))
            killer.start()
            try:
                connection.execute(text("SELECT pg_sleep(30)"))
            finally:
                killer.join()
        # Then the error is the lost connection (a 503 at the host), not a rollback error hiding it
        assert raised.value.connection_invalidated
        assert is_connection_failure(raised.value)
        # And nothing of the transaction was kept; the next one gets a fresh connection
        assert services.notifications.counts(Actor("reader")).total == 0
        retry = services.notifications.send(SENDER, "reader", "inapp", "follow", title="again", idempotency_key="k1")
        assert retry.sent and not retry.duplicate
    finally:
        services.close()
