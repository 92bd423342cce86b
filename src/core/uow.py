"""The unit-of-work port: the service says, by the block it opens, what is atomic.

Two modes, named for what they promise:

- ``with uow.transaction(actor=...):`` -- one transaction around every store call in the
  block: all of its writes or none. A ``transaction()`` (or ``single_statements()``) opened
  inside it joins it, which is how a service enqueues a job in the same transaction as its
  own writes (transactional enqueue).
- ``with uow.single_statements(actor=...):`` -- every store call in the block is atomic on its
  own and commits when it returns; nothing makes two of them atomic together. In Postgres each
  is one round trip (a statement that switches role itself). A hot path whose one or two
  statements need no atomicity between them uses it (a send, a feed page). A
  ``transaction()`` opened inside it is a transaction of its own.

Stores never take a connection argument: inside either block they use the current one
(Postgres) or the shared lock and undo journal (memory). A store method that needs more than
one statement to be atomic works only inside ``transaction()``.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol


class UnitOfWork(Protocol):
    """Opens the block a service operation's store calls run in."""

    def transaction(self, *, actor: str | None = None) -> AbstractContextManager[None]:
        """Run the block's store calls in one transaction: all of its writes or none.

        Args:
            actor: the acting user id (Postgres sets it for row-level security); ``None``
                for system work (workers, admin operations).
        """
        ...

    def single_statements(self, *, actor: str | None = None) -> AbstractContextManager[None]:
        """Run each of the block's store calls atomically on its own, committed as it returns.

        Args:
            actor: as for :meth:`transaction`.
        """
        ...

    def in_unit(self) -> bool:
        """Whether the caller is inside a ``transaction()`` or ``single_statements()`` block.

        Work handed to another thread does not join the caller's block; a service that would
        wait for such work inside one runs it in the caller's thread instead.
        """
        ...
