"""The memory unit of work: one process-wide lock, and an undo journal per transaction.

The two modes of :class:`townsquare.core.uow.UnitOfWork`: ``transaction()`` holds the lock
and undoes the block's changes if it raises; ``single_statements()`` holds the lock too (so
each store call sees and leaves a consistent state) but keeps no journal: what a store call
changed stays changed, as a committed statement does in Postgres. Memory store calls check
before they change anything, so each is atomic on its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

Undo = Callable[[], None]


class MemoryDatabase:
    """Serializes every unit of work on one re-entrant lock; rolls back by replaying undo steps.

    Memory stores call :meth:`record_undo` for each change they make, so a failing transaction
    leaves no partial write behind, as a Postgres transaction would.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._journal: ContextVar[list[Undo] | None] = ContextVar(f"memory-journal-{id(self)}", default=None)
        self._statements: ContextVar[int] = ContextVar(f"memory-statements-{id(self)}", default=0)
        self._resetters: list[Callable[[], None]] = []

    @contextmanager
    def transaction(self, *, actor: str | None = None) -> Iterator[None]:
        """All of the block's changes or none; inside another ``transaction()`` this joins it."""
        if self._journal.get() is not None:
            yield  # join the enclosing transaction
            return
        with self._lock:
            journal: list[Undo] = []
            token = self._journal.set(journal)
            try:
                yield
            except BaseException:
                for undo in reversed(journal):
                    undo()
                raise
            finally:
                self._journal.reset(token)

    @contextmanager
    def single_statements(self, *, actor: str | None = None) -> Iterator[None]:
        """Each store call's changes stand on their own; inside a ``transaction()`` this joins it."""
        with self._lock:
            token = self._statements.set(self._statements.get() + 1)
            try:
                yield
            finally:
                self._statements.reset(token)

    def in_unit(self) -> bool:
        """Whether this context is inside a ``transaction()`` or ``single_statements()`` block."""
        return self._journal.get() is not None or self._statements.get() > 0

    @property
    def lock(self) -> threading.RLock:
        """The lock held by units of work; stores take it for reads outside one."""
        return self._lock

    def record_undo(self, undo: Undo) -> None:
        """Register how to revert a change just made (no-op outside a transaction)."""
        journal = self._journal.get()
        if journal is not None:
            journal.append(undo)

    def on_reset(self, reset: Callable[[], None]) -> None:
        """Stores register how to empty themselves, for :meth:`reset`."""
        self._resetters.append(reset)

    def reset(self) -> None:
        """Forget everything every store holds (mock mode's reset route)."""
        with self._lock:
            for reset in self._resetters:
                reset()
