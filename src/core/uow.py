"""The unit-of-work port: one transaction around the store calls of a service operation.

Stores never take a connection argument; inside ``transaction()`` they use the current one
(Postgres) or the shared lock and undo journal (memory). Nested ``transaction()`` calls join
the outer one, which is how a service enqueues a job in the same transaction as its own
writes (transactional enqueue).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol


class UnitOfWork(Protocol):
    """Opens (or joins) a transaction."""

    def transaction(self, *, actor: str | None = None) -> AbstractContextManager[None]:
        """Run the block atomically: all of its writes or none.

        Args:
            actor: the acting user id; Postgres sets it for row-level security.
        """
        ...
