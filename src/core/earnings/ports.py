"""The earnings port: what the service needs from a ledger store, in the ledger's words.

Stores only store, load and make things atomic; every rule (what may be captured, refunded
or voided, idempotent replays, how totals reconcile) lives in the core.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from townsquare.core.earnings.models import (
    EarningBalance,
    LedgerEvent,
    TimelineFilter,
    TimelinePosition,
    Totals,
)


class EarningsLedger(Protocol):
    """An append-only ledger of earning events with per-creator stored totals.

    Every method runs inside the caller's ``uow.transaction()``.
    """

    def append(self, event: LedgerEvent) -> LedgerEvent:
        """Append ``event`` and add it to its creator's stored totals, unless its id exists.

        Returns:
            ``event`` when it was appended; the stored event with the same id (and nothing
            written) when one exists, also when a concurrent writer appended it first.
        """
        ...

    def get(self, event_id: str) -> LedgerEvent | None:
        """The event with this id, if any."""
        ...

    def lock_earning(self, earning_id: str) -> EarningBalance | None:
        """Lock the earning against concurrent captures, voids and refunds and load its balance.

        The lock lasts until the transaction ends, so a check made on the balance still holds
        when the next event is appended. None when no earning has this id.
        """
        ...

    def balance(self, earning_id: str) -> EarningBalance | None:
        """The earning's balance without locking it (for reads)."""
        ...

    def stored_totals(self, creator_id: str) -> Sequence[Totals]:
        """The creator's stored totals, one per currency, ordered by currency."""
        ...

    def lock_totals(self, creator_id: str) -> None:
        """Hold off every writer of the creator's events until the transaction ends (for recompute)."""
        ...

    def sum_events(self, creator_id: str) -> Sequence[Totals]:
        """Totals computed from the creator's events themselves, one per currency, ordered by currency."""
        ...

    def sum_events_as_of(self, creator_id: str, as_of: datetime) -> Sequence[Totals]:
        """Like :meth:`sum_events`, over only the events with ``recorded_at <= as_of``."""
        ...

    def replace_totals(self, creator_id: str, totals: Sequence[Totals]) -> None:
        """Make ``totals`` the creator's stored totals (after :meth:`lock_totals`)."""
        ...

    def rebuild_checkpoints(self, creator_id: str) -> None:
        """Rebuild whatever the store keeps to answer :meth:`sum_events_as_of` from the events (after
        :meth:`lock_totals`); a store that sums the events themselves keeps nothing."""
        ...

    def timeline(
        self, creator_id: str, where: TimelineFilter, after: TimelinePosition | None, limit: int
    ) -> Sequence[LedgerEvent]:
        """Up to ``limit`` of the creator's events passing ``where``, newest first, after ``after``.

        Order: ``recorded_at`` descending, then id descending (the keyset).
        """
        ...

    def creators(self) -> Sequence[str]:
        """Every creator with at least one event (for recomputing everyone)."""
        ...
