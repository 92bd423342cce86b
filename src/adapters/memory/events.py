"""The memory events store: events, ticket types and registrations in dicts (mock mode).

Transactions are serial (the memory database's one lock), so every lock is implied and a
seat count read in a transaction stays true until it ends; every change records its undo.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TypeVar

from attrs import evolve

from townsquare.adapters.memory.database import MemoryDatabase
from townsquare.core.events.checkout import CheckoutContext, ConfirmLocks, HoldOutcome, HoldTerms
from townsquare.core.events.discounts import DiscountCode
from townsquare.core.events.models import (
    ACTIVE_ENTRY_STATUSES,
    Event,
    Registration,
    RegistrationStatus,
    TicketType,
    WaitlistEntry,
    WaitlistStatus,
    seats_left,
)

K = TypeVar("K")
V = TypeVar("V")


class MemoryEventStore:
    """Implements :class:`townsquare.core.events.EventStore` in process memory."""

    def __init__(self, db: MemoryDatabase, waitlist: MemoryWaitlistStore) -> None:
        self._db = db
        self._waitlist = waitlist  # a hold is written at once only while nobody waits (place_hold)
        self._events: dict[str, Event] = {}
        self._types: dict[tuple[str, str], TicketType] = {}
        self._registrations: dict[str, Registration] = {}
        self._codes: dict[tuple[str, str], DiscountCode] = {}
        db.on_reset(self._reset)

    def _reset(self) -> None:
        self._events.clear()
        self._types.clear()
        self._registrations.clear()
        self._codes.clear()

    # -- events --------------------------------------------------------------------------

    def add_event(self, event: Event) -> bool:
        if event.event_id in self._events:
            return False
        self._put(self._events, event.event_id, event)
        return True

    def get_event(self, event_id: str) -> Event | None:
        return self._events.get(event_id)

    def lock_event(self, event_id: str) -> Event | None:
        return self._events.get(event_id)  # the transaction holds the one lock already

    def save_event(self, event: Event) -> None:
        self._put(self._events, event.event_id, event)

    def events_of(self, producer_id: str, *, after: tuple[datetime, str] | None, limit: int) -> list[Event]:
        mine = sorted(
            (event for event in self._events.values() if event.producer_id == producer_id),
            key=lambda event: (event.created_at, event.event_id),
            reverse=True,
        )
        if after is not None:
            mine = [event for event in mine if (event.created_at, event.event_id) < after]
        return mine[:limit]

    # -- ticket types --------------------------------------------------------------------

    def add_ticket_type(self, ticket: TicketType) -> bool:
        key = (ticket.event_id, ticket.type_id)
        if key in self._types:
            return False
        self._put(self._types, key, ticket)
        return True

    def save_ticket_type(self, ticket: TicketType) -> None:
        self._put(self._types, (ticket.event_id, ticket.type_id), ticket)

    def ticket_types(self, event_id: str) -> list[TicketType]:
        return sorted(
            (ticket for (event, _), ticket in self._types.items() if event == event_id),
            key=lambda ticket: (ticket.created_at, ticket.type_id),
        )

    def held_seats(self, event_id: str, now: datetime) -> dict[str, int]:
        held: dict[str, int] = {}
        for registration in self._registrations.values():
            if registration.event_id == event_id and registration.holds_seats(now):
                held[registration.type_id] = held.get(registration.type_id, 0) + registration.quantity
        return held

    def held_seats_for_change(self, event_id: str, now: datetime) -> dict[str, int]:
        return self.held_seats(event_id, now)  # the transaction holds the one lock already

    # -- registrations -------------------------------------------------------------------

    def add_registration(self, registration: Registration) -> bool:
        if registration.registration_id in self._registrations:
            return False
        self._put(self._registrations, registration.registration_id, registration)
        return True

    def add_registrations(self, registrations: Sequence[Registration]) -> None:
        for registration in registrations:
            if not self.add_registration(registration):
                raise ValueError(f"registration {registration.registration_id!r} exists")

    def get_registration(self, registration_id: str) -> Registration | None:
        return self._registrations.get(registration_id)

    def lock_registration(self, registration_id: str) -> Registration | None:
        return self._registrations.get(registration_id)

    def save_registration(self, registration: Registration) -> None:
        self._put(self._registrations, registration.registration_id, registration)

    def lock_for_confirm(self, registration_id: str, attendee_id: str, confirm_key: str) -> ConfirmLocks | None:
        found = self._registrations.get(registration_id)
        if found is None or found.attendee_id != attendee_id:
            return None  # the transaction holds the one lock already, for everything below too
        prior = next(
            (
                each.registration_id
                for each in self._registrations.values()
                if each.attendee_id == attendee_id and each.confirm_key == confirm_key
            ),
            None,
        )
        return ConfirmLocks(registration=found, prior_registration_id=prior)

    def registrations_of(
        self, attendee_id: str, *, after: tuple[datetime, str] | None, limit: int
    ) -> list[Registration]:
        mine = sorted(
            (each for each in self._registrations.values() if each.attendee_id == attendee_id),
            key=lambda each: (each.created_at, each.registration_id),
            reverse=True,
        )
        if after is not None:
            mine = [each for each in mine if (each.created_at, each.registration_id) < after]
        return mine[:limit]

    def all_registrations(self) -> list[Registration]:
        """Every registration, in no particular order (for the reports adapter)."""
        return list(self._registrations.values())

    def registrations_to_settle(self, event_id: str, limit: int) -> list[Registration]:
        open_ones = (RegistrationStatus.RESERVED, RegistrationStatus.CONFIRMED)
        found = sorted(
            (each for each in self._registrations.values() if each.event_id == event_id and each.status in open_ones),
            key=lambda each: (each.created_at, each.registration_id),
        )
        return found[:limit]

    def lapsed_holds(self, now: datetime, limit: int) -> list[Registration]:
        found = sorted(
            (
                each
                for each in self._registrations.values()
                if each.status is RegistrationStatus.RESERVED and each.expires_at is not None and each.expires_at <= now
            ),
            key=lambda each: (each.expires_at, each.registration_id),
        )
        return found[:limit]

    def mark_expired(self, registration_ids: Sequence[str], now: datetime) -> int:
        count = 0
        for registration_id in registration_ids:
            each = self._registrations.get(registration_id)
            if (
                each is not None
                and each.status is RegistrationStatus.RESERVED
                and each.expires_at is not None
                and each.expires_at <= now
            ):
                self._put(
                    self._registrations,
                    registration_id,
                    evolve(each, status=RegistrationStatus.EXPIRED, updated_at=now),
                )
                count += 1
        return count

    # -- discount codes ------------------------------------------------------------------

    def add_code(self, code: DiscountCode) -> bool:
        key = (code.producer_id, code.code)
        if key in self._codes:
            return False
        self._put(self._codes, key, code)
        return True

    def get_code(self, producer_id: str, code: str) -> DiscountCode | None:
        return self._codes.get((producer_id, code))

    def lock_code(self, producer_id: str, code: str) -> DiscountCode | None:
        return self._codes.get((producer_id, code))

    def code_uses(self, producer_id: str, code: str, attendee_id: str, now: datetime) -> tuple[int, int]:
        uses = mine = 0
        for each in self._registrations.values():
            if each.producer_id == producer_id and each.discount_code == code and each.holds_seats(now):
                uses += 1
                mine += each.attendee_id == attendee_id
        return uses, mine

    def codes_of(self, producer_id: str) -> list[DiscountCode]:
        return sorted(
            (code for (producer, _), code in self._codes.items() if producer == producer_id), key=lambda c: c.code
        )

    # -- the checkout's fast path (each call holds the one lock: atomic on its own) --------

    def checkout_context(self, event_id: str, code: str | None, registration_id: str) -> CheckoutContext | None:
        event = self._events.get(event_id)
        if event is None:
            return None
        return CheckoutContext(
            event=event,
            types=tuple(self.ticket_types(event_id)),
            code=None if code is None else self._codes.get((event.producer_id, code)),
            taken=registration_id in self._registrations,
            waiting=self._waitlist.has_waiting(event_id),
        )

    def place_hold(self, terms: HoldTerms) -> HoldOutcome:
        hold = terms.registration
        event = self._events.get(hold.event_id)
        ticket = self._types.get((hold.event_id, hold.type_id))
        if event is None or ticket is None or not _decided_on(event, terms.event):
            return HoldOutcome.CHANGED
        if (ticket.quota, ticket.price) != (terms.ticket.quota, terms.ticket.price):
            return HoldOutcome.CHANGED
        if hold.registration_id in self._registrations:
            return HoldOutcome.TAKEN
        if self._waitlist.has_waiting(hold.event_id):
            return HoldOutcome.LINE
        held = self.held_seats(hold.event_id, hold.created_at)
        if hold.quantity > seats_left(event, (ticket,), held)[ticket.type_id]:
            return HoldOutcome.FULL
        code = terms.code
        if code is not None and code.limits_uses:
            uses, mine = self.code_uses(code.producer_id, code.code, hold.attendee_id, hold.created_at)
            if not code.has_use_left(uses, mine):
                return HoldOutcome.USED_UP
        return HoldOutcome.HELD if self.add_registration(hold) else HoldOutcome.TAKEN

    def _put(self, table: dict[K, V], key: K, value: V) -> None:
        _put(self._db, table, key, value)


class MemoryWaitlistStore:
    """Implements :class:`townsquare.core.events.ports.WaitlistStore` in process memory."""

    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db
        self._entries: dict[str, WaitlistEntry] = {}
        db.on_reset(self._entries.clear)

    def add_entry(self, entry: WaitlistEntry) -> bool:
        if entry.entry_id in self._entries or self.active_entry(entry.event_id, entry.type_id, entry.user_id):
            return False
        _put(self._db, self._entries, entry.entry_id, entry)
        return True

    def last_seq(self, event_id: str) -> int:
        return max((each.seq for each in self._entries.values() if each.event_id == event_id), default=0)

    def active_entry(self, event_id: str, type_id: str, user_id: str) -> WaitlistEntry | None:
        for each in self._entries.values():
            if (each.event_id, each.type_id, each.user_id) == (event_id, type_id, user_id) and (
                each.status in ACTIVE_ENTRY_STATUSES
            ):
                return each
        return None

    def get_entries(self, entry_ids: Sequence[str]) -> list[WaitlistEntry]:
        return [self._entries[entry_id] for entry_id in dict.fromkeys(entry_ids) if entry_id in self._entries]

    def entry_of_offer(self, registration_id: str) -> WaitlistEntry | None:
        for each in self._entries.values():
            if each.registration_id == registration_id:
                return each
        return None

    def save_entries(self, entries: Sequence[WaitlistEntry]) -> None:
        for entry in entries:
            _put(self._db, self._entries, entry.entry_id, entry)

    def waiting_counts(self, event_id: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for each in self._waiting(event_id):
            counts[each.type_id] = counts.get(each.type_id, 0) + 1
        return counts

    def has_waiting(self, event_id: str) -> bool:
        return any(True for _ in self._waiting(event_id))

    def next_waiting(self, event_id: str, type_ids: Sequence[str], limit: int) -> list[WaitlistEntry]:
        wanted = set(type_ids)
        return sorted(
            (each for each in self._waiting(event_id) if each.type_id in wanted), key=lambda each: each.position_key
        )[:limit]

    def waiting_ahead(self, entry: WaitlistEntry) -> int:
        return sum(
            1
            for each in self._waiting(entry.event_id)
            if each.type_id == entry.type_id and each.position_key < entry.position_key
        )

    def entries_of(self, user_id: str, *, before: tuple[datetime, str] | None, limit: int) -> list[WaitlistEntry]:
        return sorted(
            (
                each
                for each in self._entries.values()
                if each.user_id == user_id and (before is None or (each.joined_at, each.entry_id) < before)
            ),
            key=lambda each: (each.joined_at, each.entry_id),
            reverse=True,
        )[:limit]

    def event_entries(
        self,
        event_id: str,
        *,
        statuses: Sequence[WaitlistStatus],
        after: tuple[datetime, int] | None,
        limit: int,
    ) -> list[WaitlistEntry]:
        found = sorted(
            (each for each in self._entries.values() if each.event_id == event_id and each.status in statuses),
            key=lambda each: each.position_key,
        )
        if after is not None:
            found = [each for each in found if each.position_key > after]
        return found[:limit]

    def lapsed_offers(self, now: datetime, limit: int) -> list[WaitlistEntry]:
        return sorted(
            (
                each
                for each in self._entries.values()
                if each.status is WaitlistStatus.OFFERED
                and each.offer_expires_at is not None
                and each.offer_expires_at <= now
            ),
            key=lambda each: (each.offer_expires_at, each.entry_id),
        )[:limit]

    def events_with_waiting(self, limit: int) -> list[str]:
        waiting = {each.event_id for each in self._entries.values() if each.status is WaitlistStatus.WAITING}
        return sorted(waiting)[:limit]

    def waiting_of_producer(self, producer_id: str, limit: int) -> list[tuple[str, str, int]]:
        counts: dict[tuple[str, str], int] = {}
        for each in self._entries.values():
            if each.producer_id == producer_id and each.status is WaitlistStatus.WAITING:
                counts[(each.event_id, each.type_id)] = counts.get((each.event_id, each.type_id), 0) + 1
        return [(event_id, type_id, n) for (event_id, type_id), n in sorted(counts.items())][:limit]

    def _waiting(self, event_id: str) -> Iterator[WaitlistEntry]:
        return (
            each
            for each in self._entries.values()
            if each.event_id == event_id and each.status is WaitlistStatus.WAITING
        )


def _put(db: MemoryDatabase, table: dict[K, V], key: K, value: V) -> None:
    """Set ``table[key]`` and record how to undo it in the transaction's journal."""
    previous = table.get(key)
    table[key] = value

    def undo() -> None:
        if previous is None:
            table.pop(key, None)
        else:
            table[key] = previous

    db.record_undo(undo)


def _decided_on(stored: Event, read: Event) -> bool:
    """Whether the stored event is still as read in what a reservation decides on (as Postgres compares)."""
    now, then = stored.details, read.details
    return (stored.status, stored.producer_id, now.sales_start, now.sales_end, now.starts_at, now.capacity) == (
        read.status,
        read.producer_id,
        then.sales_start,
        then.sales_end,
        then.starts_at,
        then.capacity,
    ) and now.currency == then.currency
