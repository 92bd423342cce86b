"""The Postgres unit of work: the two modes of :class:`townsquare.core.uow.UnitOfWork`.

Every unit of work switches to one of two database roles (docs/security.md): a user's to
:data:`APP_ROLE`, where row-level security shows and accepts only that user's rows, and one
without an actor (workers, admin and system operations) to :data:`SYSTEM_ROLE`.

- ``transaction()`` checks a connection out of the pool when a store first asks for one,
  begins, switches role (``SET LOCAL``, so it ends with the transaction) and commits or rolls
  back at the end of the block.
- ``single_statements()`` holds no connection: each :meth:`PgDatabase.call` checks one out,
  runs its statement in autocommit (its own transaction; the statement switches role itself,
  see migration ``0009``) and returns it, one round trip.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from typing import Any

import psycopg
from attrs import define, field
from psycopg.pq import TransactionStatus
from sqlalchemy import Connection, Engine, text

from townsquare.adapters.postgres.engine import kept_cursor

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
_ACT_AS_USER = f"SELECT set_config('role', '{APP_ROLE}', true) AS role, set_config('app.user_id', %s, true) AS user_id"
_ACT_AS_SYSTEM = f"SELECT set_config('role', '{SYSTEM_ROLE}', true) AS role"
log = logging.getLogger("townsquare.database")


@define
class _Transaction:
    """An open ``transaction()``: its connection once a store asked for one.

    ``stack`` is None for a caller's own transaction made current by :meth:`PgDatabase.bind`:
    its owner begins and ends it, and nobody here sees its commit (so no ``callbacks``).
    """

    actor: str | None
    stack: ExitStack | None
    conn: Connection | None = None
    callbacks: list[Callable[[], None]] | None = field(factory=list)


@define
class _SingleStatements:
    """An open ``single_statements()`` block: only the actor; each call is its own transaction."""

    actor: str | None


class PgDatabase:
    """The unit of work in Postgres: hands the stores their connection, or runs their calls alone.

    Stores run statements in two ways:

    - :meth:`call`: a statement that is atomic on its own. Inside ``transaction()`` it runs
      in the transaction; inside ``single_statements()`` it runs alone, in one round trip.
    - :meth:`connection`: the transaction's connection, for anything else. Only inside
      ``transaction()``: in ``single_statements()`` there is no transaction to hand out.

    :meth:`bind` makes a caller's own SQLAlchemy connection the current transaction, so
    library users can run our writes (e.g. a job enqueue) inside their transaction, under
    whatever role they chose.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._unit: ContextVar[_Transaction | _SingleStatements | None] = ContextVar(
            f"pg-unit-{id(self)}", default=None
        )

    @contextmanager
    def transaction(self, *, actor: str | None = None) -> Iterator[None]:
        """One transaction as ``actor`` (the app role) or, without one, as the system role.

        Inside another ``transaction()`` this joins it (and its role). Works whatever the
        login role, as long as it may switch to both roles (a superuser in development and
        tests, :data:`HOST_ROLE` in production).
        """
        if isinstance(self._unit.get(), _Transaction):
            yield
            return
        with ExitStack() as stack:
            unit = _Transaction(actor, stack)
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

    @contextmanager
    def single_statements(self, *, actor: str | None = None) -> Iterator[None]:
        """Each :meth:`call` in the block is its own transaction, as ``actor``.

        Inside a ``transaction()`` this joins it: its calls are then part of that transaction.
        """
        if self._unit.get() is not None:
            yield
            return
        token = self._unit.set(_SingleStatements(actor))
        try:
            yield
        finally:
            self._unit.reset(token)

    def in_unit(self) -> bool:
        """Whether this context is inside a ``transaction()``, ``single_statements()`` or ``bind()`` block."""
        return self._unit.get() is not None

    @contextmanager
    def bind(self, conn: Connection) -> Iterator[None]:
        """Use ``conn`` (already in a transaction the caller owns) for the calls in the block."""
        token = self._unit.set(_Transaction(None, None, conn=conn, callbacks=None))
        try:
            yield
        finally:
            self._unit.reset(token)

    def on_commit(self, callback: Callable[[], None]) -> bool:
        """Call ``callback`` once what the store just wrote has committed (never if it rolls back).

        In a ``transaction()`` that is after its commit; in ``single_statements()`` the
        statement committed when it returned, so the callback runs at once. Returns False,
        registering nothing, in a caller's transaction made current by :meth:`bind`: its owner
        commits it, and the caller has to act inside the transaction instead.

        Raises:
            RuntimeError: called outside a unit of work.
        """
        unit = self._current_unit()
        if isinstance(unit, _SingleStatements):
            callback()
            return True
        if unit.callbacks is None:
            return False
        unit.callbacks.append(callback)
        return True

    def connection(self) -> Connection:
        """The current transaction's connection; the first call begins the transaction.

        Raises:
            RuntimeError: called outside ``transaction()`` (in ``single_statements()`` only
                :meth:`call` runs): a programming error.
        """
        unit = self._current_unit()
        if isinstance(unit, _SingleStatements):
            raise RuntimeError("this store operation needs a transaction; the service opened single_statements()")
        if unit.conn is None:
            assert unit.stack is not None  # a bound transaction always has its connection
            conn = unit.stack.enter_context(self.engine.begin())
            cursor = kept_cursor(conn.connection)
            if unit.actor is None:
                cursor.execute(_ACT_AS_SYSTEM)
            else:
                cursor.execute(_ACT_AS_USER, (unit.actor,))
            unit.conn = conn
        return unit.conn

    def call(self, statement: str, params: Mapping[str, Any]) -> list[Any]:
        """Run a statement that is atomic on its own and return its rows (named tuples: read columns by name).

        ``statement`` is a psycopg statement with named parameters whose first two are
        ``%(role)s`` and ``%(actor)s``: the role and acting user it switches to itself (the
        call functions of migrations ``0009`` and ``0010``); ``params`` are the others. In a
        ``transaction()`` it runs there, keeping the transaction's role (both are passed as
        NULL); in ``single_statements()`` it runs alone in autocommit, in one round trip.

        Raises:
            RuntimeError: called outside a unit of work.
        """
        unit = self._current_unit()
        if isinstance(unit, _Transaction):
            cursor = kept_cursor(self.connection().connection)
            return cursor.execute(statement, {"role": None, "actor": None, **params}).fetchall()
        role = SYSTEM_ROLE if unit.actor is None else APP_ROLE
        pooled = self.engine.raw_connection()
        driver: psycopg.Connection[Any] = pooled.driver_connection  # type: ignore[assignment]
        try:
            driver.autocommit = True
            rows = kept_cursor(pooled).execute(statement, {"role": role, "actor": unit.actor, **params}).fetchall()
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

    def _current_unit(self) -> _Transaction | _SingleStatements:
        unit = self._unit.get()
        if unit is None:
            raise RuntimeError(
                "store used outside a unit of work; wrap the call in transaction() or single_statements()"
            )
        return unit

    def ping(self) -> None:
        """Raise if the database cannot answer ``SELECT 1``."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        """Close the pool's connections (the composition root calls this on shutdown)."""
        self.engine.dispose()
