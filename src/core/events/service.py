"""The events service: producers run events with ticket types; attendees reserve, confirm, cancel.

Writes run as the system (``uow.transaction()`` without an actor): a confirmation writes the
producer's earning and a refund the producer's ledger, which are not the attendee's rows. Every
operation checks in the core who the actor is before anything is written.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from attrs import evolve

from townsquare.core.clock import Clock
from townsquare.core.cursor import CursorCodec
from townsquare.core.earnings.models import (
    EarningKind,
    EventType,
    LedgerEvent,
    check_idempotency_key,
    check_reason,
    event_id_for,
)
from townsquare.core.earnings.money import Money
from townsquare.core.earnings.ports import EarningsLedger
from townsquare.core.errors import Conflict, InvalidCursor, InvalidInput, NotFound
from townsquare.core.events.checkout import new_hold, reserve_at_once
from townsquare.core.events.discounts import DiscountCode, make_code, normalize_code
from townsquare.core.events.models import (
    MAX_CAPACITY,
    TYPE_NAME_MAX,
    Event,
    EventDetails,
    EventPage,
    EventStatus,
    Registration,
    RegistrationPage,
    RegistrationStatus,
    TicketType,
    WaitlistMode,
    WaitlistStatus,
    check_capacity,
    check_count,
    check_id,
    check_price,
    check_quantity,
    check_text,
    seats_left,
)
from townsquare.core.events.ports import EventStore, WaitlistStore
from townsquare.core.events.waitlist import offer_key, promotion_job
from townsquare.core.feed import FeedService, make_draft
from townsquare.core.identity import Actor
from townsquare.core.ids import IdSource, RandomIds
from townsquare.core.jobs import JobService
from townsquare.core.uow import UnitOfWork

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
HOLD_DURATION = timedelta(minutes=15)
"""How long a reservation holds its seats unless confirmed."""
SETTLE_CANCELLED = "events.settle_cancelled"
"""The job that refunds every paid registration of a cancelled event (one per event)."""
EXPIRE_HOLDS = "events.expire_holds"
"""The periodic bookkeeping job that marks lapsed holds expired (seats free at once without it)."""
SETTLE_BATCH = 100
_REGISTRATION_NAMESPACE = uuid.UUID("0b8f4f7e-3f55-5c1e-9d2a-7a61c4e2b9d3")


def registration_id_for(attendee_id: str, idempotency_key: str) -> str:
    """The id of the registration an attendee's reservation key names (the same on every retry)."""
    return str(uuid.uuid5(_REGISTRATION_NAMESPACE, f"{attendee_id}\n{idempotency_key}"))


def settle_job_key(event_id: str) -> str:
    """The idempotency key of a cancelled event's settlement job."""
    return f"{SETTLE_CANCELLED}:{event_id}"


T = TypeVar("T")


class EventService:
    """Events, ticket types and registrations.

    Who may do what: anyone may create events (they are its producer); a producer (or an
    admin) manages their own events, ticket types and refunds; anyone may reserve tickets of a
    published event inside its sales window; an attendee confirms their own holds; an
    attendee, the producer or an admin cancels a registration.

    Args:
        events: where events, ticket types and registrations live.
        waitlist: the waitlists' entries (their claims on freed seats; offers confirmed or
            cancelled through here).
        ledger: the earnings ledger (its writes join the operation's transaction).
        feed: where published events appear (kind ``event``).
        jobs: queues a cancelled event's settlement (transactional enqueue).
        uow: opens the transaction of each operation.
        clock: every time decision.
        cursors: signs list cursors.
        ids: makes the ids of events the client did not name.
        hold_for: how long a reservation holds its seats.
    """

    def __init__(
        self,
        *,
        events: EventStore,
        waitlist: WaitlistStore,
        ledger: EarningsLedger,
        feed: FeedService,
        jobs: JobService,
        uow: UnitOfWork,
        clock: Clock,
        cursors: CursorCodec,
        ids: IdSource | None = None,
        hold_for: timedelta = HOLD_DURATION,
    ) -> None:
        self._events = events
        self._waitlist = waitlist
        self._ledger = ledger
        self._feed = feed
        self._jobs = jobs
        self._uow = uow
        self._clock = clock
        self._cursors = cursors
        self._ids = ids if ids is not None else RandomIds()
        self._hold_for = hold_for

    # -- events --------------------------------------------------------------------------

    def create_event(self, actor: Actor, details: EventDetails, *, event_id: str | None = None) -> Event:
        """Create a draft event the actor produces. With a client id, creating again returns it.

        Raises:
            InvalidInput: a malformed ``event_id``.
            Conflict: the id is another producer's event, or the same id with other details.
        """
        chosen = self._ids.new_id() if event_id is None else check_id(event_id, "event_id")
        now = self._clock.now()
        event = Event(
            event_id=chosen,
            producer_id=actor.user_id,
            details=details,
            status=EventStatus.DRAFT,
            publications=0,
            created_at=now,
            updated_at=now,
        )
        with self._uow.transaction():
            if self._events.add_event(event):
                return event
            existing = self._events.get_event(chosen)
            if existing is None or existing.producer_id != actor.user_id or existing.details != details:
                raise Conflict(f"event id {chosen!r} is taken; choose another", field="event_id")
            return existing

    def get_event(self, actor: Actor, event_id: str) -> Event:
        """An event: a published or cancelled one for anyone, a draft for its producer (or an admin).

        Raises:
            NotFound: no such event the actor may see.
        """
        with self._uow.transaction(actor=actor.acting_as()):
            event = self._events.get_event(event_id)
        if event is None or (event.status is EventStatus.DRAFT and not _manages(actor, event)):
            raise NotFound(f"no event {event_id!r}", field="event_id")
        return event

    def update_event(self, actor: Actor, event_id: str, details: EventDetails) -> Event:
        """Replace an event's details (not once cancelled; the capacity never below the seats held).

        Raises:
            NotFound: no such event of the actor's.
            Conflict: cancelled, or a capacity below the seats held now (field ``capacity``).
        """
        with self._uow.transaction():
            event = self._managed_for_update(actor, event_id)
            if event.status is EventStatus.CANCELLED:
                raise Conflict(f"event {event_id!r} is cancelled", field="event_id")
            if details.currency != event.details.currency and self._events.ticket_types(event_id):
                raise Conflict("the currency cannot change once ticket types exist", field="currency")
            held = sum(self._events.held_seats_for_change(event_id, self._clock.now()).values())
            if details.capacity < held:
                raise Conflict(f"{held} seats are held; the capacity cannot go below that", field="capacity")
            updated = evolve(event, details=details, updated_at=self._clock.now())
            self._events.save_event(updated)
            if details.capacity > event.details.capacity or details.waitlist_mode != event.details.waitlist_mode:
                self._seats_freed(updated)
            return updated

    def list_mine(self, actor: Actor, cursor: str | None = None, limit: int = DEFAULT_LIMIT) -> EventPage:
        """The actor's own events (every status), newest first, a page at a time.

        Raises:
            InvalidInput: a limit out of 1..100.
            InvalidCursor: a malformed, tampered, expired or foreign cursor.
        """
        _check_limit(limit)
        scope = f"events:mine:{actor.user_id}"
        after = None if cursor is None else _position_in(self._cursors.decode(scope, cursor))
        with self._uow.transaction(actor=actor.user_id):
            rows = self._events.events_of(actor.user_id, after=after, limit=limit + 1)
        page, next_cursor = self._page(scope, rows, limit, [(each.created_at, each.event_id) for each in rows])
        return EventPage(tuple(page), next_cursor)

    def publish(self, actor: Actor, event_id: str) -> Event:
        """Publish a draft event: it becomes public and enters the feed (kind ``event``), in one transaction.

        Publishing a published event returns it as it is.

        Raises:
            NotFound: no such event of the actor's.
            Conflict: cancelled, or it has no ticket types.
        """
        with self._uow.transaction():
            event = self._managed_for_update(actor, event_id)
            if event.status is EventStatus.PUBLISHED:
                return event
            if event.status is EventStatus.CANCELLED:
                raise Conflict(f"event {event_id!r} is cancelled", field="event_id")
            if not self._events.ticket_types(event_id):
                raise Conflict("an event needs a ticket type before it can be published", field="event_id")
            published = evolve(
                event, status=EventStatus.PUBLISHED, publications=event.publications + 1, updated_at=self._clock.now()
            )
            self._events.save_event(published)
            details = published.details
            item = make_draft(published.feed_item_id, "event", details.title, body=details.description)
            self._feed.publish(Actor(published.producer_id), item)
            self._seats_freed(published)  # published again: a line that formed before is served
            return published

    def unpublish(self, actor: Actor, event_id: str) -> Event:
        """Take a published event back to draft: sales stop and its feed item is removed.

        Registrations already made stay as they are. Unpublishing a draft returns it.

        Raises:
            NotFound: no such event of the actor's.
            Conflict: cancelled.
        """
        with self._uow.transaction():
            event = self._managed_for_update(actor, event_id)
            if event.status is EventStatus.DRAFT:
                return event
            if event.status is EventStatus.CANCELLED:
                raise Conflict(f"event {event_id!r} is cancelled", field="event_id")
            drafted = evolve(event, status=EventStatus.DRAFT, updated_at=self._clock.now())
            self._events.save_event(drafted)
            self._feed.remove(Actor(event.producer_id), event.feed_item_id)
            return drafted

    def cancel_event(self, actor: Actor, event_id: str) -> Event:
        """Cancel an event for good; a job (one per event) refunds every paid registration.

        The status change, the feed item's removal and the job commit together. Cancelling
        again returns the event as it is.

        Raises:
            NotFound: no such event of the actor's.
        """
        with self._uow.transaction():
            event = self._managed_for_update(actor, event_id)
            if event.status is EventStatus.CANCELLED:
                return event
            cancelled = evolve(event, status=EventStatus.CANCELLED, updated_at=self._clock.now())
            self._events.save_event(cancelled)
            if event.status is EventStatus.PUBLISHED:
                self._feed.remove(Actor(event.producer_id), event.feed_item_id)
            self._jobs.enqueue(
                SETTLE_CANCELLED, {"event_id": event_id}, idempotency_key=settle_job_key(event_id), max_attempts=10
            )
            if self._waitlist.has_waiting(event_id):
                self._jobs.enqueue_many([promotion_job(event_id)])  # which closes the line
            return cancelled

    # -- ticket types --------------------------------------------------------------------

    def add_ticket_type(
        self, actor: Actor, event_id: str, *, type_id: object, name: object, price: object, quota: object
    ) -> TicketType:
        """Add a ticket type to one of the actor's events. Adding the same again returns it.

        Raises:
            InvalidInput: naming ``type_id``, ``name``, ``price`` or ``quota``.
            NotFound: no such event of the actor's.
            Conflict: cancelled, or the type id is taken with other values.
        """
        checked_id = check_id(type_id, "type_id")
        checked_name = check_text(name, "name", TYPE_NAME_MAX)
        checked_price = check_price(price)
        checked_quota = check_count(quota, "quota", low=1, high=MAX_CAPACITY)
        with self._uow.transaction():
            event = self._managed_for_update(actor, event_id)
            if event.status is EventStatus.CANCELLED:
                raise Conflict(f"event {event_id!r} is cancelled", field="event_id")
            ticket = TicketType(
                event_id=event_id,
                type_id=checked_id,
                name=checked_name,
                price=checked_price,
                quota=checked_quota,
                created_at=self._clock.now(),
            )
            if self._events.add_ticket_type(ticket):
                return ticket
            existing = self._ticket(event_id, checked_id)
            if (existing.name, existing.price, existing.quota) != (checked_name, checked_price, checked_quota):
                raise Conflict(f"ticket type {checked_id!r} exists with other values", field="type_id")
            return existing

    def update_ticket_type(
        self,
        actor: Actor,
        event_id: str,
        type_id: str,
        *,
        name: object = None,
        price: object = None,
        quota: object = None,
    ) -> TicketType:
        """Change a ticket type's name, price (for later reservations) or quota (never below the seats held).

        Raises:
            InvalidInput: naming the field at fault.
            NotFound: no such event of the actor's, or no such type.
            Conflict: cancelled, or a quota below the seats held now (field ``quota``).
        """
        with self._uow.transaction():
            event = self._managed_for_update(actor, event_id)
            if event.status is EventStatus.CANCELLED:
                raise Conflict(f"event {event_id!r} is cancelled", field="event_id")
            ticket = self._ticket(event_id, type_id)
            changed = ticket
            if name is not None:
                changed = evolve(changed, name=check_text(name, "name", TYPE_NAME_MAX))
            if price is not None:
                changed = evolve(changed, price=check_price(price))
            if quota is not None:
                new_quota = check_count(quota, "quota", low=1, high=MAX_CAPACITY)
                held = self._events.held_seats_for_change(event_id, self._clock.now()).get(type_id, 0)
                if new_quota < held:
                    raise Conflict(
                        f"{held} tickets of this type are held; the quota cannot go below that", field="quota"
                    )
                changed = evolve(changed, quota=new_quota)
            if changed != ticket:
                self._events.save_ticket_type(changed)
            if changed.quota > ticket.quota:
                self._seats_freed(event)
            return changed

    def ticket_types(self, actor: Actor, event_id: str) -> list[TicketType]:
        """The ticket types of an event the actor may see, in the order they were added.

        Raises:
            NotFound: no such event the actor may see.
        """
        self.get_event(actor, event_id)
        with self._uow.transaction(actor=actor.acting_as()):
            return self._events.ticket_types(event_id)

    def availability(self, actor: Actor, event_id: str) -> dict[str, int]:
        """Per ticket type, the tickets that can be reserved now (within quota and capacity).

        Seats free while people wait for them are the waitlist's (see :func:`seats_left`).

        Raises:
            NotFound: no such event the actor may see.
        """
        event = self.get_event(actor, event_id)
        with self._uow.transaction():
            types = self._events.ticket_types(event_id)
            held = self._events.held_seats(event_id, self._clock.now())
            waiting = self._waitlist.waiting_counts(event_id)
        return seats_left(event, types, held, waiting)

    # -- registrations -------------------------------------------------------------------

    def reserve(
        self,
        actor: Actor,
        event_id: str,
        type_id: str,
        quantity: object,
        *,
        idempotency_key: str,
        code: object = None,
    ) -> Registration:
        """Hold ``quantity`` tickets of a type for :attr:`hold_for`; the seats are the actor's until then.

        Atomic under any concurrency: the event's lock serializes its reservations, and the
        seats counted under it (confirmed plus holds expiring after now) include every
        committed reservation. An expired hold stops counting at its expiry instant.
        Retrying with the same key returns the same registration.

        A discount ``code`` is applied here (see :mod:`townsquare.core.events.discounts`): its
        row is locked after the event's, so its uses (confirmed plus unexpired holds) never
        pass ``max_uses`` or the per-user limit, whichever events of the producer race for it.

        Raises:
            InvalidInput: a quantity outside 1..100, a bad key; an unknown or expired code, a
                code for another event or type, too few tickets for it (naming ``code``).
            NotFound: no such published event, or no such ticket type.
            Conflict: sales not open (naming ``event_id``); not enough seats (naming
                ``quantity``); the code used up (naming ``code``); the key already names another
                reservation.
        """
        checked_quantity = check_quantity(quantity)
        checked_code = None if code is None else normalize_code(code)
        key = check_idempotency_key(idempotency_key)
        registration_id = registration_id_for(actor.user_id, key)
        # The fast path (docs/events.md, "Speed"): two statements, the hold written at once
        # under the event's lock if the rules accept it; anything else is decided below.
        held = reserve_at_once(
            self._events,
            self._uow,
            actor,
            event_id=event_id,
            type_id=type_id,
            quantity=checked_quantity,
            key=key,
            registration_id=registration_id,
            code=checked_code,
            now=self._clock.now(),
            hold_for=self._hold_for,
        )
        if held is not None:
            return held
        with self._uow.transaction():
            event = self._events.lock_event(event_id)
            if event is None or event.status is EventStatus.DRAFT:
                raise NotFound(f"no event {event_id!r}", field="event_id")
            # Looked up under the event's lock: a racing retry of the same key waits and finds it.
            existing = self._events.get_registration(registration_id)
            if existing is not None:
                asked = (event_id, type_id, checked_quantity, checked_code)
                if (existing.event_id, existing.type_id, existing.quantity, existing.discount_code) != asked:
                    raise Conflict(
                        f"idempotency key {key!r} was already used for another reservation", field="idempotency_key"
                    )
                return existing
            now = self._clock.now()
            event.check_sales_open(now)
            types = self._events.ticket_types(event_id)
            ticket = _ticket_in(types, event_id, type_id)
            held_seats = self._events.held_seats_for_change(event_id, now)
            check_capacity(
                event,
                ticket,
                held_seats,
                checked_quantity,
                types=types,
                waiting=self._waitlist.waiting_counts(event_id),
            )
            discount = 0
            if checked_code is not None:
                discount = self._apply_code(actor, event, ticket, quantity=checked_quantity, code=checked_code, now=now)
            registration = new_hold(
                actor,
                event,
                ticket,
                registration_id=registration_id,
                quantity=checked_quantity,
                key=key,
                code=checked_code,
                discount=discount,
                now=now,
                hold_for=self._hold_for,
            )
            if not self._events.add_registration(registration):
                raise Conflict(f"idempotency key {key!r} was already used", field="idempotency_key")
            return registration

    def confirm(self, actor: Actor, registration_id: str, *, idempotency_key: str) -> Registration:
        """Confirm the actor's hold on payment: its earning enters the producer's ledger (pending) at once.

        The status change and the ledger earning commit in one transaction. Confirming a
        confirmed registration returns it; a key already used to confirm another is a conflict.

        Raises:
            NotFound: no such registration of the actor's (someone else's hold is not found).
            Conflict: the hold expired or was cancelled; the key names another confirmation.
        """
        key = check_idempotency_key(idempotency_key)
        with self._uow.transaction():
            # One statement: the key's lock and what it confirmed before, the registration's lock
            # (and a limited code's, shared). A reservation that counted this hold as lapsed holds
            # its row until it commits, so the clock read below is later than that reservation's.
            locked = self._events.lock_for_confirm(registration_id, actor.user_id, key)
            if locked is None:
                raise NotFound(f"no registration {registration_id!r} of yours", field="registration_id")
            if locked.prior_registration_id not in (None, registration_id):
                raise Conflict(
                    f"idempotency key {key!r} already confirmed another registration", field="idempotency_key"
                )
            registration = locked.registration
            # Read after the lock: a reservation that counted this hold as expired has committed
            # by now with an earlier time, so this confirmation sees the expiry too.
            now = self._clock.now()
            if registration.status is RegistrationStatus.CONFIRMED:
                return registration
            if not registration.holds_seats(now):
                status = registration.status_at(now).value
                raise Conflict(f"registration {registration_id!r} is {status}; reserve again", field="registration_id")
            earning_id = None
            if registration.price.total > 0:
                earning_id = self._write_earning(registration, now)
            confirmed = evolve(
                registration,
                status=RegistrationStatus.CONFIRMED,
                expires_at=None,
                confirm_key=key,
                earning_id=earning_id,
                updated_at=now,
            )
            self._events.save_registration(confirmed)
            self._offer_settled(registration, WaitlistStatus.ACCEPTED, now)
            return confirmed

    def cancel(self, actor: Actor, registration_id: str) -> Registration:
        """Cancel a registration (its attendee, the event's producer or an admin); its seats free at once.

        A confirmed, paid registration is refunded in full of what remains (a ledger refund; a
        void when nothing was captured yet). Cancelling again returns it as it is.

        Raises:
            NotFound: no such registration the actor may change.
            Conflict: already refunded or expired.
        """
        with self._uow.transaction():
            found = self._events.get_registration(registration_id)
            if found is None or not (found.attendee_id == actor.user_id or _manages(actor, found)):
                raise NotFound(f"no registration {registration_id!r}", field="registration_id")
            event = self._events.lock_event(found.event_id)
            assert event is not None  # registrations are never without their event
            registration = self._locked_registration(registration_id)
            cancelled = self._cancel(registration, "registration cancelled")
            if cancelled != registration:
                self._offer_settled(registration, WaitlistStatus.DECLINED, self._clock.now())
                self._seats_freed(event)
            return cancelled

    def refund(
        self,
        actor: Actor,
        registration_id: str,
        *,
        reason: str,
        idempotency_key: str,
        amount: object = None,
    ) -> Registration:
        """Refund part or all of a confirmed registration (the producer or an admin), never above what was paid.

        A refund of everything that remains makes it ``refunded`` and frees its seats. The
        ledger gets a refund of what was captured; before any capture only a full refund is
        possible (a void of the earning). Retrying with the same key changes nothing more.

        Raises:
            InvalidInput: an amount that is not a positive integer or above what remains
                refundable (naming ``amount``); a bad reason or key.
            NotFound: no such registration of the actor's events.
            Conflict: not confirmed; a partial refund before capture; the key names another refund.
        """
        checked_reason = check_reason(reason)
        key = check_idempotency_key(idempotency_key)
        with self._uow.transaction():
            found = self._events.get_registration(registration_id)
            if found is None or not _manages(actor, found):
                raise NotFound(f"no registration {registration_id!r} of your events", field="registration_id")
            event = self._events.lock_event(found.event_id)
            assert event is not None  # registrations are never without their event
            registration = self._locked_registration(registration_id)
            ledger_id = event_id_for(registration.producer_id, _refund_key(registration_id, key))
            stored = self._ledger.get(ledger_id)
            if stored is not None:
                if amount is not None and amount != stored.amount:
                    raise Conflict(
                        f"idempotency key {key!r} was already used for another refund", field="idempotency_key"
                    )
                return registration
            if registration.status is not RegistrationStatus.CONFIRMED or registration.earning_id is None:
                raise Conflict(f"registration {registration_id!r} has no payment to refund", field="registration_id")
            remaining = registration.refundable
            refund = remaining if amount is None else check_count(amount, "amount", low=1, high=remaining)
            refunded = self._refund(
                registration, refund, _refund_key(registration_id, key), checked_reason, partial_ok=True
            )
            if refunded.status is RegistrationStatus.REFUNDED:
                self._seats_freed(event)
            return refunded

    def get_registration(self, actor: Actor, registration_id: str) -> Registration:
        """A registration, for its attendee, the event's producer or an admin.

        Raises:
            NotFound: no such registration the actor may see.
        """
        with self._uow.transaction():
            found = self._events.get_registration(registration_id)
        if found is None or not (found.attendee_id == actor.user_id or _manages(actor, found)):
            raise NotFound(f"no registration {registration_id!r}", field="registration_id")
        return found

    def my_registrations(self, actor: Actor, cursor: str | None = None, limit: int = DEFAULT_LIMIT) -> RegistrationPage:
        """The actor's registrations, newest first, a page at a time.

        Raises:
            InvalidInput: a limit out of 1..100.
            InvalidCursor: a malformed, tampered, expired or foreign cursor.
        """
        _check_limit(limit)
        scope = f"events:registrations:{actor.user_id}"
        after = None if cursor is None else _position_in(self._cursors.decode(scope, cursor))
        with self._uow.transaction(actor=actor.user_id):
            rows = self._events.registrations_of(actor.user_id, after=after, limit=limit + 1)
        positions = [(each.created_at, each.registration_id) for each in rows]
        page, next_cursor = self._page(scope, rows, limit, positions)
        return RegistrationPage(tuple(page), next_cursor)

    def _page(
        self, scope: str, rows: list[T], limit: int, positions: list[tuple[datetime, str]]
    ) -> tuple[list[T], str | None]:
        """The first ``limit`` rows, and a cursor after the last of them when more were read."""
        if len(rows) <= limit:
            return rows, None
        created_at, row_id = positions[limit - 1]
        return rows[:limit], self._cursors.encode(scope, {"c": created_at.isoformat(), "i": row_id})

    def status_of(self, registration: Registration) -> RegistrationStatus:
        """The status a reader sees now (a lapsed hold reads as expired before the job marks it)."""
        return registration.status_at(self._clock.now())

    # -- discount codes ------------------------------------------------------------------

    def create_code(
        self,
        actor: Actor,
        *,
        code: object,
        kind: object,
        value: object,
        valid_from: object,
        valid_until: object,
        event_id: object = None,
        max_uses: object = None,
        per_user_limit: object = None,
        min_quantity: object = 1,
        type_ids: Sequence[object] = (),
    ) -> DiscountCode:
        """Make a discount code for one of the actor's events, or (no ``event_id``) all of them.

        Making the same code again with the same values returns it.

        Raises:
            InvalidInput: naming the field at fault.
            NotFound: ``event_id`` is not an event of the actor's.
            Conflict: the actor has this code with other values.
        """
        made = make_code(
            producer_id=actor.user_id,
            code=code,
            kind=kind,
            value=value,
            valid_from=valid_from,
            valid_until=valid_until,
            created_at=self._clock.now(),
            event_id=event_id,
            max_uses=max_uses,
            per_user_limit=per_user_limit,
            min_quantity=min_quantity,
            type_ids=type_ids,
        )
        with self._uow.transaction():
            if made.event_id is not None:
                event = self._events.get_event(made.event_id)
                if event is None or event.producer_id != actor.user_id:
                    raise NotFound(f"no event {made.event_id!r} of yours", field="event_id")
            if self._events.add_code(made):
                return made
            existing = self._events.get_code(actor.user_id, made.code)
            if existing is None or evolve(existing, created_at=made.created_at) != made:
                raise Conflict(f"you already have code {made.code!r} with other values", field="code")
            return existing

    def codes(self, actor: Actor) -> list[DiscountCode]:
        """The actor's discount codes, by code."""
        with self._uow.transaction(actor=actor.user_id):
            return self._events.codes_of(actor.user_id)

    def _apply_code(
        self, actor: Actor, event: Event, ticket: TicketType, *, quantity: int, code: str, now: datetime
    ) -> int:
        found = self._events.lock_code(event.producer_id, code)
        if found is None:
            raise InvalidInput(f"unknown code {code!r}", field="code")
        found.check_applies(event, ticket.type_id, quantity, now)
        if found.limits_uses:  # else nothing to count against
            uses, mine = self._events.code_uses(event.producer_id, code, actor.user_id, now)
            found.check_uses(uses, mine)
        return found.discount_on(ticket.price * quantity)

    # -- jobs ----------------------------------------------------------------------------

    def settle_cancelled(self, event_id: str) -> int:
        """The settlement job of a cancelled event: cancel every hold, refund every paid registration.

        A batch per transaction; idempotent (settled registrations are no longer reserved or
        confirmed). Returns how many it settled.
        """
        settled = 0
        while True:
            with self._uow.transaction():
                event = self._events.lock_event(event_id)
                if event is None or event.status is not EventStatus.CANCELLED:
                    return settled
                batch = self._events.registrations_to_settle(event_id, SETTLE_BATCH)
                for registration in batch:
                    self._cancel(self._locked_registration(registration.registration_id), "event cancelled")
            settled += len(batch)
            if len(batch) < SETTLE_BATCH:
                return settled

    def expire_holds(self, limit: int = 1_000) -> int:
        """Bookkeeping: mark holds that lapsed as expired. Seats free at expiry without it; returns how many."""
        now = self._clock.now()
        with self._uow.transaction():
            lapsed = self._events.lapsed_holds(now, limit)
            marked = self._events.mark_expired([each.registration_id for each in lapsed], now)
            # The seats freed at each lapse; the lines waiting for them are promoted by a job.
            for event_id in sorted({each.event_id for each in lapsed}):
                if self._waitlist.has_waiting(event_id):
                    self._jobs.enqueue_many([promotion_job(event_id)])
            return marked

    # -- helpers -------------------------------------------------------------------------

    def _managed_for_update(self, actor: Actor, event_id: str) -> Event:
        event = self._events.lock_event(event_id)
        if event is None or not _manages(actor, event):
            raise NotFound(f"no event {event_id!r} of yours", field="event_id")
        return event

    def _ticket(self, event_id: str, type_id: str) -> TicketType:
        return _ticket_in(self._events.ticket_types(event_id), event_id, type_id)

    def _seats_freed(self, event: Event) -> None:
        """Seats freed up (or the line may now be served): queue the line's promotion, in this transaction."""
        if event.details.waitlist_mode is WaitlistMode.AUTOMATIC and self._waitlist.has_waiting(event.event_id):
            self._jobs.enqueue_many([promotion_job(event.event_id)])

    def _offer_settled(self, registration: Registration, status: WaitlistStatus, now: datetime) -> None:
        """A waitlist offer's hold was confirmed or cancelled: its entry says so, in this transaction."""
        if registration.status is not RegistrationStatus.RESERVED or not registration.reserve_key.startswith(
            offer_key("")
        ):
            return
        entry = self._waitlist.entry_of_offer(registration.registration_id)
        if entry is not None and entry.status is WaitlistStatus.OFFERED:
            self._waitlist.save_entries([evolve(entry, status=status, updated_at=now)])

    def _locked_registration(self, registration_id: str) -> Registration:
        registration = self._events.lock_registration(registration_id)
        if registration is None:  # unreachable: registrations are never deleted
            raise NotFound(f"no registration {registration_id!r}", field="registration_id")
        return registration

    def _write_earning(self, registration: Registration, now: datetime) -> str:
        key = f"events.registration:{registration.registration_id}"
        earning = LedgerEvent(
            id=event_id_for(registration.producer_id, key),
            creator_id=registration.producer_id,
            type=EventType.EARNING,
            kind=EarningKind.TICKET,
            earning_id=event_id_for(registration.producer_id, key),
            money=Money(registration.price.total, registration.price.currency),
            idempotency_key=key,
            recorded_at=now,
        )
        return self._ledger.append(earning).id

    def _cancel(self, registration: Registration, reason: str) -> Registration:
        now = self._clock.now()
        if registration.status is RegistrationStatus.CANCELLED:
            return registration
        if registration.status is RegistrationStatus.RESERVED:
            if not registration.holds_seats(now):
                raise Conflict(f"registration {registration.registration_id!r} has expired", field="registration_id")
            cancelled = evolve(registration, status=RegistrationStatus.CANCELLED, updated_at=now)
            self._events.save_registration(cancelled)
            return cancelled
        if registration.status is not RegistrationStatus.CONFIRMED:
            status = registration.status.value
            raise Conflict(f"registration {registration.registration_id!r} is {status}", field="registration_id")
        if registration.earning_id is not None and registration.refundable > 0:
            key = f"events.cancel:{registration.registration_id}"
            registration = self._refund(registration, registration.refundable, key, reason, partial_ok=False)
        cancelled = evolve(registration, status=RegistrationStatus.CANCELLED, updated_at=now)
        self._events.save_registration(cancelled)
        return cancelled

    def _refund(
        self, registration: Registration, amount: int, key: str, reason: str, *, partial_ok: bool
    ) -> Registration:
        """Write the ledger refund of ``amount`` and record it on the registration.

        Before any capture there is nothing to refund: the whole earning is voided instead, and
        only a refund of everything that remains can be one. With ``partial_ok`` False (a
        cancellation), a partly captured earning is refunded what was captured.
        """
        assert registration.earning_id is not None
        now = self._clock.now()
        balance = self._ledger.lock_earning(registration.earning_id)
        if balance is None:  # unreachable: the earning was written at confirmation
            raise NotFound(f"no earning for registration {registration.registration_id!r}", field="registration_id")
        producer = registration.producer_id
        ledger_id = event_id_for(producer, key)
        common: dict[str, Any] = {
            "id": ledger_id,
            "creator_id": producer,
            "kind": EarningKind.TICKET,
            "earning_id": balance.earning.id,
            "idempotency_key": key,
            "recorded_at": now,
        }
        if balance.captured == 0 and not balance.voided:
            if amount != balance.earning.amount:
                raise Conflict(
                    "the payment is not captured yet: only a refund of the whole amount (a void) is possible",
                    field="amount",
                )
            self._ledger.append(LedgerEvent(type=EventType.VOID, money=balance.earning.money, **common))
        else:
            if not partial_ok:
                amount = min(amount, balance.refundable)
            if amount > balance.refundable:
                raise Conflict(
                    f"only {balance.refundable} of the payment is captured and not yet refunded", field="amount"
                )
            if amount > 0:
                money = Money(amount, balance.currency)
                self._ledger.append(LedgerEvent(type=EventType.REFUND, money=money, reason=reason, **common))
        refunded = registration.refunded + amount
        status = RegistrationStatus.REFUNDED if refunded >= registration.price.total else registration.status
        updated = evolve(registration, refunded=refunded, status=status, updated_at=now)
        self._events.save_registration(updated)
        return updated


def _ticket_in(types: Sequence[TicketType], event_id: str, type_id: str) -> TicketType:
    for ticket in types:
        if ticket.type_id == type_id:
            return ticket
    raise NotFound(f"no ticket type {type_id!r} for event {event_id!r}", field="type_id")


def _refund_key(registration_id: str, key: str) -> str:
    return f"events.refund:{registration_id}:{key}"


def _manages(actor: Actor, thing: Event | Registration) -> bool:
    return actor.is_admin or actor.user_id == thing.producer_id


def _check_limit(limit: object) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be an integer from 1 to {MAX_LIMIT}", field="limit")


def _position_in(position: dict[str, Any]) -> tuple[datetime, str]:
    try:
        created, item_id = position["c"], position["i"]
        if not isinstance(created, str) or not isinstance(item_id, str):
            raise TypeError
        return datetime.fromisoformat(created), item_id
    except (KeyError, TypeError, ValueError):
        raise InvalidCursor("cursor body is malformed", field="cursor") from None


__all__ = [
    "DEFAULT_LIMIT",
    "EXPIRE_HOLDS",
    "HOLD_DURATION",
    "MAX_LIMIT",
    "SETTLE_CANCELLED",
    "EventService",
    "registration_id_for",
    "settle_job_key",
]
