"""The memory unit of work: one process-wide lock and an undo journal per transaction."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

Undo = Callable[[], None]


class MemoryDatabase:
    """Serializes every transaction on one re-entrant lock; rolls back by replaying undo steps.

    Memory stores call :meth:`record_undo` for each change they make, so a failing operation
    leaves no partial write behind, as a Postgres transaction would.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._journal: ContextVar[list[Undo] | None] = ContextVar(f"memory-journal-{id(self)}", default=None)
        self._resetters: list[Callable[[], None]] = []

    @contextmanager
    def transaction(self, *, actor: str | None = None) -> Iterator[None]:
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

    @property
    def lock(self) -> threading.RLock:
        """The lock held by transactions; stores take it for reads outside one."""
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
