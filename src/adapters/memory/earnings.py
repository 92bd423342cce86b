"""The memory earnings ledger: events in dicts, totals kept per creator and currency (mock mode)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from townsquare.adapters.memory.database import MemoryDatabase
from townsquare.core.earnings.models import (
    EarningBalance,
    EventType,
    LedgerEvent,
    TimelineFilter,
    TimelinePosition,
    Totals,
)


class MemoryEarningsLedger:
    """Implements :class:`townsquare.core.earnings.ports.EarningsLedger` in process memory.

    Transactions are serial (the database's one lock), so appends and their totals are
    atomic and the earning lock is implied; every change records its undo.
    """

    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db
        self._events: dict[str, LedgerEvent] = {}
        self._by_creator: dict[str, list[LedgerEvent]] = defaultdict(list)
        self._by_earning: dict[str, list[LedgerEvent]] = defaultdict(list)
        self._totals: dict[tuple[str, str], Totals] = {}
        db.on_reset(self._reset)

    def _reset(self) -> None:
        self._events.clear()
        self._by_creator.clear()
        self._by_earning.clear()
        self._totals.clear()

    def append(self, event: LedgerEvent) -> LedgerEvent:
        stored = self._events.get(event.id)
        if stored is not None:
            return stored
        self._events[event.id] = event
        self._by_creator[event.creator_id].append(event)
        if event.type is not EventType.EARNING:
            self._by_earning[event.earning_id].append(event)
        key = (event.creator_id, event.currency)
        before = self._totals.get(key)
        self._totals[key] = (before or Totals(event.currency)) + Totals.of_event(event)

        def undo() -> None:
            del self._events[event.id]
            self._by_creator[event.creator_id].remove(event)
            if event.type is not EventType.EARNING:
                self._by_earning[event.earning_id].remove(event)
            if before is None:
                del self._totals[key]
            else:
                self._totals[key] = before

        self._db.record_undo(undo)
        return event

    def get(self, event_id: str) -> LedgerEvent | None:
        return self._events.get(event_id)

    def lock_earning(self, earning_id: str) -> EarningBalance | None:
        # The transaction's lock already serializes everything in memory mode.
        return self.balance(earning_id)

    def balance(self, earning_id: str) -> EarningBalance | None:
        earning = self._events.get(earning_id)
        if earning is None or earning.type is not EventType.EARNING:
            return None
        return EarningBalance.of(earning, self._by_earning.get(earning_id, ()))

    def stored_totals(self, creator_id: str) -> Sequence[Totals]:
        return sorted(
            (totals for (creator, _), totals in self._totals.items() if creator == creator_id),
            key=lambda totals: totals.currency,
        )

    def lock_totals(self, creator_id: str) -> None:
        # Serial transactions: no writer can run meanwhile.
        return

    def sum_events(self, creator_id: str) -> Sequence[Totals]:
        sums: dict[str, Totals] = {}
        for event in self._by_creator.get(creator_id, ()):
            sums[event.currency] = sums.get(event.currency, Totals(event.currency)) + Totals.of_event(event)
        return [sums[currency] for currency in sorted(sums)]

    def sum_events_as_of(self, creator_id: str, as_of: datetime) -> Sequence[Totals]:
        sums: dict[str, Totals] = {}
        for event in self._by_creator.get(creator_id, ()):
            if event.recorded_at <= as_of:
                sums[event.currency] = sums.get(event.currency, Totals(event.currency)) + Totals.of_event(event)
        return [sums[currency] for currency in sorted(sums)]

    def replace_totals(self, creator_id: str, totals: Sequence[Totals]) -> None:
        before = {key: value for key, value in self._totals.items() if key[0] == creator_id}
        for key in before:
            del self._totals[key]
        for each in totals:
            self._totals[(creator_id, each.currency)] = each

        def undo() -> None:
            for each in totals:
                self._totals.pop((creator_id, each.currency), None)
            self._totals.update(before)

        self._db.record_undo(undo)

    def rebuild_checkpoints(self, creator_id: str) -> None:
        # sum_events_as_of scans the events: nothing kept to rebuild.
        return

    def timeline(
        self, creator_id: str, where: TimelineFilter, after: TimelinePosition | None, limit: int
    ) -> Sequence[LedgerEvent]:
        events = [event for event in self._by_creator.get(creator_id, ()) if where.keeps(event)]
        if after is not None:
            position = (after.recorded_at, after.event_id)
            events = [event for event in events if (event.recorded_at, event.id) < position]
        events.sort(key=lambda event: (event.recorded_at, event.id), reverse=True)
        return events[:limit]

    def events_of_earning(self, earning_id: str) -> list[LedgerEvent]:
        """The earning and every event about it, in the order they were appended (for the reports adapter)."""
        earning = self._events.get(earning_id)
        if earning is None:
            return []
        return [earning, *self._by_earning.get(earning_id, ())]

    def creators(self) -> Sequence[str]:
        return sorted(creator for creator, events in self._by_creator.items() if events)
