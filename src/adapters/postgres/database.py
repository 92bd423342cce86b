"""The Postgres unit of work: a pooled engine and the transaction bound to the current context.

Every transaction switches to one of two database roles (docs/security.md): a user's to
:data:`APP_ROLE`, where row-level security shows and accepts only that user's rows, and a
transaction without an actor (workers, admin and system operations) to :data:`SYSTEM_ROLE`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

APP_ROLE = "townsquare_app"
"""A user's transactions: row-level security limits them to the acting user's rows."""
SYSTEM_ROLE = "townsquare_system"
"""Transactions without an actor (workers, admin and system operations): every row, no DDL."""
HOST_ROLE = "townsquare_host"
"""The login role hosts and workers connect as: owns nothing, may only switch to the two above."""

# One round trip each, transaction-local (``SET LOCAL``): the role and acting user end with
# the transaction, so a pooled connection never carries them into the next one.
# Sent on the psycopg connection itself: this runs once per transaction, and skipping
# SQLAlchemy's statement and result layers saves ~40 us of CPU each time.
_ACT_AS_USER = f"SELECT set_config('role', '{APP_ROLE}', true), set_config('app.user_id', %s, true)"
_ACT_AS_SYSTEM = f"SELECT set_config('role', '{SYSTEM_ROLE}', true)"
_IDLE_SINCE = "townsquare_idle_since"
_CURSOR = "townsquare_cursor"
log = logging.getLogger("townsquare.database")


PING_AFTER_IDLE_S = 10.0
"""A pooled connection idle for longer than this is pinged before use (see below)."""


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


def _cursor(pooled: PoolProxiedConnection) -> psycopg.Cursor[Any]:
    """A cursor kept with the pooled connection for the unit of work's own statements.

    ``Connection.execute`` makes a new cursor every time, which costs about 40 us of CPU (a
    fifth of a feed page's call); one connection runs one statement at a time, so one cursor
    per connection serves them all.
    """
    driver: psycopg.Connection[Any] = pooled.driver_connection  # type: ignore[assignment]
    cursor: psycopg.Cursor[Any] | None = pooled.info.get(_CURSOR)
    if cursor is None or cursor.connection is not driver:
        cursor = pooled.info[_CURSOR] = driver.cursor()
    return cursor


class _Unit:
    """The current unit of work: its actor, and its transaction once a store has asked for one."""

    __slots__ = ("actor", "callbacks", "conn", "joined", "ran_alone", "stack")

    def __init__(
        self,
        actor: str | None,
        stack: ExitStack | None,
        conn: Connection | None = None,
        callbacks: list[Callable[[], None]] | None = None,
    ) -> None:
        self.actor = actor
        self.stack = stack
        self.conn = conn
        self.callbacks = callbacks
        self.joined = 0  # how many transaction() blocks inside it joined it
        self.ran_alone = False


class PgDatabase:
    """Opens transactions and hands the current connection to the stores.

    A ``transaction()`` begins on the first :meth:`connection` a store asks for, so a unit of
    work whose only statement is a :meth:`call` runs it alone, in one round trip. A
    ``transaction()`` inside another joins it (and its role), and its calls then run in the
    outer one's transaction. :meth:`bind` makes a caller's own SQLAlchemy connection the
    current one, so library users can run our writes (e.g. a job enqueue) inside their
    transaction, under whatever role they chose.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._unit: ContextVar[_Unit | None] = ContextVar(f"pg-unit-{id(self)}", default=None)

    @contextmanager
    def transaction(self, *, actor: str | None = None) -> Iterator[None]:
        """Open a unit of work as ``actor`` (the app role) or, without one, as the system role.

        Works whatever the login role, as long as it may switch to both roles (a superuser in
        development and tests, :data:`HOST_ROLE` in production).
        """
        joined = self._unit.get()
        if joined is not None:
            joined.joined += 1
            try:
                yield
            finally:
                joined.joined -= 1
            return
        with ExitStack() as stack:
            unit = _Unit(actor, stack, callbacks=[])
            token = self._unit.set(unit)
            try:
                yield  # an exception here rolls back the transaction the stack holds, if any
            finally:
                self._unit.reset(token)
        # Committed (an exception above skips this: a rolled-back transaction calls nothing).
        for callback in unit.callbacks or ():
            try:
                callback()
            except Exception:
                log.exception("an after-commit callback failed; the transaction stays committed")

    def on_commit(self, callback: Callable[[], None]) -> bool:
        """Call ``callback`` once the current unit of work has committed (never if it rolls back).

        Returns False, registering nothing, when the current transaction is not one this
        database opened (a caller's connection made current by :meth:`bind`): its owner
        commits it, and the caller has to act inside the transaction instead.

        Raises:
            RuntimeError: called outside ``transaction()``.
        """
        callbacks = self._current_unit().callbacks
        if callbacks is None:
            return False
        callbacks.append(callback)
        return True

    @contextmanager
    def bind(self, conn: Connection) -> Iterator[None]:
        """Use ``conn`` (already in a transaction the caller owns) for the calls in the block."""
        token = self._unit.set(_Unit(None, None, conn=conn))
        try:
            yield
        finally:
            self._unit.reset(token)

    def connection(self) -> Connection:
        """The current transaction's connection; the first call begins the transaction.

        Raises:
            RuntimeError: called outside ``transaction()`` or after a :meth:`call` ran alone in
                this unit of work; both are programming errors.
        """
        unit = self._current_unit()
        if unit.conn is None:
            if unit.ran_alone or unit.stack is None:
                raise RuntimeError(
                    "this unit of work already ran a statement on its own (call()); "
                    "a transaction begun after it would not be atomic with it"
                )
            conn = unit.stack.enter_context(self.engine.begin())
            cursor = _cursor(conn.connection)
            if unit.actor is None:
                cursor.execute(_ACT_AS_SYSTEM)
            else:
                cursor.execute(_ACT_AS_USER, (unit.actor,))
            unit.conn = conn
        return unit.conn

    def call(self, statement: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Run a statement that is atomic on its own and return its rows.

        The statement's first two parameters are the role and the acting user to switch to,
        which it does itself (see migration ``0009``); ``params`` are the rest. In a unit of
        work that has begun no transaction and is no other's part (no ``transaction()`` block
        joined it) it runs alone in autocommit, its own transaction, in one round trip: after
        that the unit cannot begin a transaction, since it could not be atomic with it.
        Anywhere else it runs in the unit's transaction (beginning it), keeping its role.

        Raises:
            RuntimeError: called outside ``transaction()``.
        """
        unit = self._current_unit()
        if unit.conn is not None or unit.joined:
            return _cursor(self.connection().connection).execute(statement, (None, None, *params)).fetchall()
        unit.ran_alone = True
        role = (SYSTEM_ROLE, None) if unit.actor is None else (APP_ROLE, unit.actor)
        pooled = self.engine.raw_connection()
        driver: psycopg.Connection[Any] = pooled.driver_connection  # type: ignore[assignment]
        try:
            driver.autocommit = True
            rows = _cursor(pooled).execute(statement, (*role, *params)).fetchall()
            driver.autocommit = False
            return rows
        except BaseException:
            if driver.closed or driver.info.transaction_status is not TransactionStatus.IDLE:
                pooled.invalidate()  # broken, or interrupted mid-statement: not for reuse
            else:
                driver.autocommit = False
            raise
        finally:
            pooled.close()

    def _current_unit(self) -> _Unit:
        unit = self._unit.get()
        if unit is None:
            raise RuntimeError("store used outside a unit of work; wrap the call in transaction()")
        return unit

    def ping(self) -> None:
        """Raise if the database cannot answer ``SELECT 1``."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()
