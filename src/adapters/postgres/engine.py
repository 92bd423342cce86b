"""The process's engine and connection pool: how connections are made, checked and reused."""

from __future__ import annotations

import time
from typing import Any

import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

PING_AFTER_IDLE_S = 10.0
"""A pooled connection idle for longer than this is pinged before use (see below)."""
_IDLE_SINCE = "townsquare_idle_since"
_CURSOR = "townsquare_cursor"


def create_database_engine(url: str, *, pool_size: int = 10, application_name: str = "townsquare") -> Engine:
    """Build the process's engine (called by the composition root, never at import time).

    Connections are checked with a ``SELECT 1`` only when they have been idle in the pool
    for over :data:`PING_AFTER_IDLE_S`: the connections a quiet spell leaves behind are the
    ones a database restart, a failover or an idle timeout kills. Pinging on every checkout
    (``pool_pre_ping``) cost a round trip per request under load, about a tenth of a feed
    page's time. A connection that breaks while busy fails its request (a 503 from the host)
    and, as a disconnect, makes SQLAlchemy invalidate the whole pool, so the next requests
    reconnect.
    """
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=1800,
        connect_args={"application_name": application_name},
    )
    dialect = engine.dialect

    def note_idle_since(_: DBAPIConnection | None, record: ConnectionPoolEntry) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    def ping_if_idle(connection: DBAPIConnection, record: ConnectionPoolEntry, _: PoolProxiedConnection) -> None:
        idle_since = record.info.get(_IDLE_SINCE)  # absent: a new connection, no need
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_S:
            return
        try:
            dialect.do_ping(connection)
        except dialect.loaded_dbapi.Error as exc:
            # The pool drops this connection and checks out (or opens) another one.
            raise DisconnectionError(f"pooled connection failed its ping: {exc}") from exc

    event.listen(engine, "checkin", note_idle_since)
    event.listen(engine, "checkout", ping_if_idle)
    return engine


def kept_cursor(pooled: PoolProxiedConnection) -> psycopg.Cursor[Any]:
    """A cursor kept with the pooled connection for the unit of work's own statements.

    ``Connection.execute`` makes a new cursor every time, which costs about 40 us of CPU (a
    fifth of a feed page's call); one connection runs one statement at a time, so one cursor
    per connection serves them all. Its rows are named tuples: stores read columns by name.
    """
    driver: psycopg.Connection[Any] = pooled.driver_connection  # type: ignore[assignment]
    cursor: psycopg.Cursor[Any] | None = pooled.info.get(_CURSOR)
    if cursor is None or cursor.connection is not driver:
        cursor = pooled.info[_CURSOR] = driver.cursor(row_factory=namedtuple_row)
    return cursor
