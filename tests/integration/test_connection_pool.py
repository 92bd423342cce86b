"""The engine's pool without a ping per checkout: lost connections are replaced, never reused."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from townsquare.adapters.postgres import engine as pool
from townsquare.adapters.postgres.database import PgDatabase
from townsquare.adapters.postgres.engine import create_database_engine

APPLICATION = "townsquare-pool-test"


@pytest.fixture
def engine(pg_url: str) -> Iterator[Engine]:
    engine = create_database_engine(pg_url, pool_size=2, application_name=APPLICATION)
    try:
        yield engine
    finally:
        engine.dispose()


def _backend_pid(db: PgDatabase) -> int:
    with db.transaction(actor="alice"):
        return int(db.connection().execute(text("SELECT pg_backend_pid()")).scalar_one())


def _terminate_pooled_connections(pg_dsn: str) -> int:
    """What a database restart or an idle timeout does to the connections in the pool."""
    with psycopg.connect(pg_dsn, autocommit=True) as admin:
        row = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = %s",
            (APPLICATION,),
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.postgres
def test_a_connection_lost_while_idle_is_replaced_before_use(
    engine: Engine, pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a pooled connection whose server side went away while it sat idle
    db = PgDatabase(engine)
    before = _backend_pid(db)
    assert _terminate_pooled_connections(pg_dsn) == 1
    monkeypatch.setattr(pool, "PING_AFTER_IDLE_S", 0.0)  # "idle for long enough"

    # When the next transaction checks a connection out
    after = _backend_pid(db)

    # Then the ping found the dead one and the transaction ran on a new connection
    assert after != before


@pytest.mark.postgres
def test_a_connection_lost_while_recently_used_fails_one_transaction_then_the_pool_recovers(
    engine: Engine, pg_dsn: str
) -> None:
    # Given two pooled connections, recently used (no ping), then killed by a restart
    db = PgDatabase(engine)
    with engine.connect() as first, engine.connect() as second:
        first.execute(text("SELECT 1"))
        second.execute(text("SELECT 1"))
    assert _terminate_pooled_connections(pg_dsn) == 2

    # When transactions run afterwards
    with pytest.raises(DBAPIError) as lost:
        _backend_pid(db)

    # Then the first fails as a lost connection (the HTTP host answers 503), and the
    # disconnect invalidated the whole pool: the next transaction gets a new connection
    assert lost.value.connection_invalidated
    assert _backend_pid(db) > 0
    assert _backend_pid(db) > 0
