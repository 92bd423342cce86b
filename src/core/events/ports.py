"""The events storage port, in the domain's words: events, their ticket types, registrations.

Stores only store, load and lock; the rules (capacity, sales windows, who may do what,
prices, refunds) live in the core. What makes capacity exact is :meth:`EventStore.lock_event`:
every change to what an event's seats hold runs under it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from townsquare.core.events.checkout import CheckoutContext, ConfirmLocks, HoldOutcome, HoldTerms
from townsquare.core.events.discounts import DiscountCode
from townsquare.core.events.models import Event, Registration, TicketType, WaitlistEntry, WaitlistStatus


class EventStore(Protocol):
    """Stores events, ticket types and registrations.

    Every call runs inside ``uow.transaction()``, but for the checkout's fast path (at the end),
    whose calls are atomic on their own.
    """

    def add_event(self, event: Event) -> bool:
        """Store a new event; False (storing nothing) when its id is taken."""
        ...

    def get_event(self, event_id: str) -> Event | None:
        """The event with this id."""
        ...

    def lock_event(self, event_id: str) -> Event | None:
        """The event, locked until the transaction ends.

        Every reservation, confirmation, cancellation and refund of the event's registrations
        (and every change to its quotas) takes this lock first, so a seat count read under it
        is still true when the transaction writes.
        """
        ...

    def save_event(self, event: Event) -> None:
        """Replace the stored event (same id) with ``event``."""
        ...

    def events_of(self, producer_id: str, *, after: tuple[datetime, str] | None, limit: int) -> list[Event]:
        """The producer's events, newest first (created_at, then event_id, descending), after a position."""
        ...

    def add_ticket_type(self, ticket: TicketType) -> bool:
        """Store a new ticket type; False when the event already has one with its id."""
        ...

    def save_ticket_type(self, ticket: TicketType) -> None:
        """Replace the stored ticket type (same event and id)."""
        ...

    def ticket_types(self, event_id: str) -> list[TicketType]:
        """The event's ticket types, in the order they were added."""
        ...

    def held_seats(self, event_id: str, now: datetime) -> dict[str, int]:
        """Per ticket type of the event, the seats held at ``now``: confirmed plus holds expiring after ``now``.

        One consistent reading (one statement in Postgres); types holding nothing may be absent.
        """
        ...

    def held_seats_for_change(self, event_id: str, now: datetime) -> dict[str, int]:
        """:meth:`held_seats`, for a decision made under :meth:`lock_event`'s lock.

        The holds lapsed by ``now`` that the count takes off stay locked until the transaction
        ends: a confirmation locks its hold before it reads the clock
        (:meth:`lock_for_confirm`), so one of these confirms only after this commits, with a
        later clock that sees the lapse too, and the seats counted free stay free.
        """
        ...

    def add_registration(self, registration: Registration) -> bool:
        """Store a new registration; False (storing nothing) when its id is taken."""
        ...

    def add_registrations(self, registrations: Sequence[Registration]) -> None:
        """Store many new registrations at once (waitlist offers, whose ids are new by construction)."""
        ...

    def get_registration(self, registration_id: str) -> Registration | None:
        """The registration with this id."""
        ...

    def lock_registration(self, registration_id: str) -> Registration | None:
        """The registration, locked until the transaction ends."""
        ...

    def save_registration(self, registration: Registration) -> None:
        """Replace the stored registration (same id) with ``registration``."""
        ...

    def lock_for_confirm(self, registration_id: str, attendee_id: str, confirm_key: str) -> ConfirmLocks | None:
        """The attendee's registration under a confirmation's locks, and what the key confirmed before.

        None (locking nothing) when no registration of ``attendee_id`` has this id. Otherwise,
        in this order, until the transaction ends: the attendee's confirmation key (two
        confirmations under one key run one after the other, and the second sees the first's
        registration), the event shared only for a waitlist offer (its entry changes under the
        event's lock), the registration itself, and a code with limited uses the registration
        applied (shared: a reservation counting its uses holds it exclusively). A confirmation
        changes no count of seats or uses, so it does not wait for the event's reservations; a
        reservation that counted this hold as lapsed holds the hold's row until it commits
        (:meth:`held_seats_for_change`, :meth:`place_hold`), so the clock read after this call
        sees the lapse too. What it returns was read under those locks.
        """
        ...

    def registrations_of(
        self, attendee_id: str, *, after: tuple[datetime, str] | None, limit: int
    ) -> list[Registration]:
        """The attendee's registrations, newest first (created_at, then id, descending), after a position."""
        ...

    def registrations_to_settle(self, event_id: str, limit: int) -> list[Registration]:
        """Up to ``limit`` of the event's registrations still reserved or confirmed (for a cancelled event)."""
        ...

    def lapsed_holds(self, now: datetime, limit: int) -> list[Registration]:
        """Up to ``limit`` registrations still marked reserved whose hold expired at or before ``now``."""
        ...

    def mark_expired(self, registration_ids: Sequence[str], now: datetime) -> int:
        """Mark these registrations expired if they are still reserved with a hold lapsed by ``now``; how many."""
        ...

    def add_code(self, code: DiscountCode) -> bool:
        """Store a new discount code; False when the producer already has this code."""
        ...

    def get_code(self, producer_id: str, code: str) -> DiscountCode | None:
        """The producer's discount code."""
        ...

    def lock_code(self, producer_id: str, code: str) -> DiscountCode | None:
        """The producer's discount code, locked until the transaction ends.

        A reservation applying it holds this lock (after the event's) while it counts the
        code's uses and writes its registration, so uses counted are still true at the write,
        across every event a producer-wide code applies to.
        """
        ...

    def code_uses(self, producer_id: str, code: str, attendee_id: str, now: datetime) -> tuple[int, int]:
        """The code's uses at ``now`` (registrations with it holding seats): by everyone, and by ``attendee_id``."""
        ...

    def codes_of(self, producer_id: str) -> list[DiscountCode]:
        """The producer's codes, by code."""
        ...

    # The checkout's fast path (townsquare.core.events.checkout): each call atomic on its own,
    # so it may run in ``single_statements()`` as well as in a transaction.

    def checkout_context(self, event_id: str, code: str | None, registration_id: str) -> CheckoutContext | None:
        """What a reservation decides on, in one reading: None when there is no such event.

        The event, its ticket types, the event's producer's ``code`` (when given and it
        exists), whether ``registration_id`` is taken and whether anyone waits in its line.
        Nothing is locked.
        """
        ...

    def place_hold(self, terms: HoldTerms) -> HoldOutcome:
        """Write ``terms.registration`` (a new hold) if, under the event's lock, the terms still stand.

        Atomic on its own: under :meth:`lock_event`'s lock, with the lapsed holds it takes off
        locked as :meth:`held_seats_for_change` does, the event and ticket type are as
        in ``terms`` (status, sales window, start, capacity, currency; quota, price), nobody
        waits in the event's line, and the seats held at the hold's ``created_at`` plus its
        quantity fit within the type's quota and the event's capacity; with a code that has
        ``max_uses`` or ``per_user_limit``, under the code's lock (:meth:`lock_code`), its uses
        and the attendee's at that instant are below them. Returns why not, writing nothing,
        when any of that fails, checked in the order of :class:`HoldOutcome` (the id taken
        right after the event and type).
        """
        ...


class WaitlistStore(Protocol):
    """Stores waitlist entries. Every call runs inside ``uow.transaction()``.

    Every change to an event's entries runs under that event's lock
    (:meth:`EventStore.lock_event`), like every change to its seats: the lock is what keeps
    offers within the free seats and the line in order.
    """

    def add_entry(self, entry: WaitlistEntry) -> bool:
        """Store a new entry; False (storing nothing) when the user has an active one for the type."""
        ...

    def last_seq(self, event_id: str) -> int:
        """The highest join counter of the event's entries (0: none yet)."""
        ...

    def active_entry(self, event_id: str, type_id: str, user_id: str) -> WaitlistEntry | None:
        """The user's waiting or offered entry for the type, if any."""
        ...

    def get_entries(self, entry_ids: Sequence[str]) -> list[WaitlistEntry]:
        """The entries with these ids (those that exist, in no particular order)."""
        ...

    def entry_of_offer(self, registration_id: str) -> WaitlistEntry | None:
        """The entry whose offer is this registration."""
        ...

    def save_entries(self, entries: Sequence[WaitlistEntry]) -> None:
        """Replace the stored entries (same ids): status, offer and ``updated_at``."""
        ...

    def waiting_counts(self, event_id: str) -> dict[str, int]:
        """Per ticket type of the event, how many entries wait (types with none may be absent)."""
        ...

    def has_waiting(self, event_id: str) -> bool:
        """Whether any entry of the event waits."""
        ...

    def next_waiting(self, event_id: str, type_ids: Sequence[str], limit: int) -> list[WaitlistEntry]:
        """Up to ``limit`` waiting entries of these types of the event, first in line first."""
        ...

    def waiting_ahead(self, entry: WaitlistEntry) -> int:
        """How many entries of the entry's type wait ahead of it."""
        ...

    def entries_of(self, user_id: str, *, before: tuple[datetime, str] | None, limit: int) -> list[WaitlistEntry]:
        """The user's entries, newest first (joined_at, then entry_id, descending), after a position."""
        ...

    def event_entries(
        self,
        event_id: str,
        *,
        statuses: Sequence[WaitlistStatus],
        after: tuple[datetime, int] | None,
        limit: int,
    ) -> list[WaitlistEntry]:
        """The event's entries with these statuses in line order, after a position."""
        ...

    def lapsed_offers(self, now: datetime, limit: int) -> list[WaitlistEntry]:
        """Up to ``limit`` entries still marked offered whose offer expired at or before ``now``."""
        ...

    def events_with_waiting(self, limit: int) -> list[str]:
        """Up to ``limit`` ids of events with waiting entries."""
        ...

    def waiting_of_producer(self, producer_id: str, limit: int) -> list[tuple[str, str, int]]:
        """``(event_id, type_id, waiting)`` of the producer's ticket types with entries waiting.

        At most ``limit`` of them, by event id then type id.
        """
        ...
