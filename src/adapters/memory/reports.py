"""The memory reports adapter: the report queries over the memory events store and ledger, and bulk actions.

Reads go through the two stores' own data (the same process); the memory database's lock makes
each unit of work see one consistent state. Bulk items are claimed under that lock, so two
workers never hold one item.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from datetime import datetime

from attrs import define, evolve

from townsquare.adapters.memory.database import MemoryDatabase
from townsquare.adapters.memory.earnings import MemoryEarningsLedger
from townsquare.adapters.memory.events import MemoryEventStore
from townsquare.core.earnings.models import EventType, LedgerEvent
from townsquare.core.events.models import Registration, RegistrationStatus
from townsquare.core.reports.bulk import BulkAction, BulkCandidate, BulkFailure, BulkProgress
from townsquare.core.reports.export import RegistrationExportRow, export_instant
from townsquare.core.reports.models import FigureRow, LedgerLine, RegistrationFilter


def _passes(registration: Registration, where: RegistrationFilter, now: datetime) -> bool:
    return (
        (where.producer_id is None or registration.producer_id == where.producer_id)
        and (where.event_id is None or registration.event_id == where.event_id)
        and (where.status is None or registration.status_at(now) is where.status)
        and (where.type_id is None or registration.type_id == where.type_id)
        and (where.code is None or registration.discount_code == where.code)
        and (where.since is None or registration.created_at >= where.since)
        and (where.until is None or registration.created_at < where.until)
    )


_COLUMN = {EventType.EARNING: 3, EventType.CAPTURE: 4, EventType.VOID: 5, EventType.REFUND: 6}


class MemoryReportStore:
    """Implements :class:`townsquare.core.reports.ReportStore` over the memory events store and ledger."""

    def __init__(self, events: MemoryEventStore, ledger: MemoryEarningsLedger) -> None:
        self._events = events
        self._ledger = ledger

    def _matching(self, where: RegistrationFilter, now: datetime) -> list[Registration]:
        return [each for each in self._events.all_registrations() if _passes(each, where, now)]

    def figures(self, where: RegistrationFilter, boundaries: Sequence[datetime], now: datetime) -> list[FigureRow]:
        start, end = boundaries[0], boundaries[-1]
        sums: dict[tuple[int, RegistrationStatus, str], list[int]] = {}
        for registration in self._matching(where, now):
            if not start <= registration.created_at < end:
                continue
            day = bisect.bisect_right(boundaries, registration.created_at) - 1
            key = (day, registration.status_at(now), registration.price.currency)
            row = sums.setdefault(key, [0] * 7)
            sold = registration.confirm_key is not None
            row[0] += 1
            row[1] += registration.quantity if sold else 0
            row[2] += registration.price.discount if sold else 0
            for event in self._ledger_events(registration):
                row[_COLUMN[event.type]] += event.amount
        return [
            FigureRow(
                day=day,
                status=status,
                currency=currency,
                registrations=row[0],
                tickets=row[1],
                discounts=row[2],
                gross=row[3],
                captured=row[4],
                voided=row[5],
                refunded=row[6],
            )
            for (day, status, currency), row in sorted(sums.items())
        ]

    def registrations(
        self, where: RegistrationFilter, now: datetime, *, after: tuple[datetime, str] | None, limit: int
    ) -> list[Registration]:
        found = sorted(
            self._matching(where, now), key=lambda each: (each.created_at, each.registration_id), reverse=True
        )
        if after is not None:
            found = [each for each in found if (each.created_at, each.registration_id) < after]
        return found[:limit]

    def export_rows(
        self, where: RegistrationFilter, now: datetime, *, after: tuple[datetime, str] | None, limit: int
    ) -> list[RegistrationExportRow]:
        return [
            RegistrationExportRow(
                registration_id=each.registration_id,
                event_id=each.event_id,
                type_id=each.type_id,
                attendee_id=each.attendee_id,
                status=each.status_at(now).value,
                quantity=each.quantity,
                currency=each.price.currency,
                unit_price=each.price.unit_price,
                subtotal=each.price.subtotal,
                discount=each.price.discount,
                total=each.price.total,
                refunded=each.refunded,
                discount_code=each.discount_code,
                created_at=export_instant(each.created_at),
            )
            for each in self.registrations(where, now, after=after, limit=limit)
        ]

    def candidates(self, where: RegistrationFilter, now: datetime) -> list[BulkCandidate]:
        found = sorted(self._matching(where, now), key=lambda each: (each.created_at, each.registration_id))
        return [
            BulkCandidate(
                registration_id=each.registration_id,
                status=each.status_at(now),
                currency=each.price.currency,
                refundable=each.refundable,
            )
            for each in found
        ]

    def ledger_lines(self, registrations: Sequence[Registration]) -> list[LedgerLine]:
        lines = []
        for registration in registrations:
            events = sorted(self._ledger_events(registration), key=lambda event: (event.recorded_at, event.id))
            for event in events:
                row = {
                    "id": event.id,
                    "recorded_at": event.recorded_at,
                    "type": event.type.value,
                    "amount": event.amount,
                    "currency": event.currency,
                    "reason": event.reason,
                }
                lines.append(LedgerLine.from_row(row, registration))
        return lines

    def _ledger_events(self, registration: Registration) -> list[LedgerEvent]:
        if registration.earning_id is None:
            return []
        return self._ledger.events_of_earning(registration.earning_id)


@define
class _Item:
    registration_id: str
    error: str | None = None
    done: bool = False
    finished_at: datetime | None = None


class MemoryBulkActionStore:
    """Implements :class:`townsquare.core.reports.BulkActionStore` in process memory."""

    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db
        self._actions: dict[str, BulkAction] = {}
        self._items: dict[str, list[_Item]] = {}
        db.on_reset(self._reset)

    def _reset(self) -> None:
        self._actions.clear()
        self._items.clear()

    def add_action(self, action: BulkAction, registration_ids: Sequence[str]) -> bool:
        if action.action_id in self._actions:
            return False
        self._actions[action.action_id] = action
        self._items[action.action_id] = [_Item(each) for each in registration_ids]

        def undo() -> None:
            self._actions.pop(action.action_id, None)
            self._items.pop(action.action_id, None)

        self._db.record_undo(undo)
        return True

    def get_action(self, action_id: str) -> BulkAction | None:
        return self._actions.get(action_id)

    def claim_item(self, action_id: str, positions: tuple[int, int] | None = None) -> str | None:
        # The transaction holds the one lock: no other worker can claim until it ends.
        first, last = positions if positions is not None else (1, len(self._items.get(action_id, ())))
        for item in self._items.get(action_id, [])[first - 1 : last]:
            if item.finished_at is None:
                return item.registration_id
        return None

    def finish_item(self, action_id: str, registration_id: str, *, error: str | None, at: datetime) -> bool:
        for item in self._items.get(action_id, ()):
            if item.registration_id == registration_id and item.finished_at is None:
                item.error, item.done, item.finished_at = error, error is None, at

                def undo(item: _Item = item) -> None:
                    item.error, item.done, item.finished_at = None, False, None

                self._db.record_undo(undo)
                return True
        return False

    def finish_action(self, action_id: str, at: datetime) -> None:
        action = self._actions.get(action_id)
        if action is None or action.finished_at is not None:
            return
        self._actions[action_id] = evolve(action, finished_at=at)

        def undo() -> None:
            self._actions[action_id] = action

        self._db.record_undo(undo)

    def progress(self, action_id: str, *, failures: int) -> BulkProgress:
        items = self._items.get(action_id, [])
        failed = [each for each in items if each.finished_at is not None and not each.done]
        return BulkProgress(
            done=sum(each.done for each in items),
            failed=len(failed),
            pending=sum(each.finished_at is None for each in items),
            failures=tuple(
                BulkFailure(registration_id=each.registration_id, error=each.error or "") for each in failed[:failures]
            ),
        )
