"""The Postgres unit of work: a pooled engine and the transaction bound to the current context."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy import Connection, Engine, create_engine, text

_SET_ACTOR = text("SELECT set_config('app.user_id', :user_id, true)")


def create_database_engine(url: str, *, pool_size: int = 10, application_name: str = "townsquare") -> Engine:
    """Build the process's engine (called by the composition root, never at import time)."""
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={"application_name": application_name},
    )


class PgDatabase:
    """Opens transactions and hands the current connection to the stores.

    A ``transaction()`` inside another joins it. :meth:`bind` makes a caller's own
    SQLAlchemy connection the current one, so library users can run our writes (e.g. a job
    enqueue) inside their transaction.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._current: ContextVar[Connection | None] = ContextVar(f"pg-conn-{id(self)}", default=None)

    @contextmanager
    def transaction(self, *, actor: str | None = None) -> Iterator[None]:
        if self._current.get() is not None:
            yield
            return
        with self.engine.begin() as conn:
            if actor is not None:
                conn.execute(_SET_ACTOR, {"user_id": actor})
            token = self._current.set(conn)
            try:
                yield
            finally:
                self._current.reset(token)

    @contextmanager
    def bind(self, conn: Connection) -> Iterator[None]:
        """Use ``conn`` (already in a transaction the caller owns) for the calls in the block."""
        token = self._current.set(conn)
        try:
            yield
        finally:
            self._current.reset(token)

    def connection(self) -> Connection:
        """The current transaction's connection.

        Raises:
            RuntimeError: called outside ``transaction()``; a programming error.
        """
        conn = self._current.get()
        if conn is None:
            raise RuntimeError("store used outside a unit of work; wrap the call in transaction()")
        return conn

    def ping(self) -> None:
        """Raise if the database cannot answer ``SELECT 1``."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()
