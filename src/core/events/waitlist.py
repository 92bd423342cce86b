"""The waitlist: users in line for one ticket of a sold-out type; freed seats become offers.

An offer is a reservation (a hold of one ticket) made for the next in line, valid for the
event's ``offer_hours`` (never past the sales end); it counts against quota and capacity like
any hold and is confirmed like one. Every change to an event's entries runs under the event's
row lock, the lock every change to its seats takes, so offers never exceed the free seats and
two promotion runs of one event cannot offer the same seat (or entry) twice. See
docs/events.md ("Waitlist").
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from attrs import evolve

from townsquare.core.clock import Clock
from townsquare.core.cursor import CursorCodec
from townsquare.core.errors import Conflict, InvalidCursor, InvalidInput, NotFound
from townsquare.core.events.models import (
    ACTIVE_ENTRY_STATUSES,
    Event,
    EventStatus,
    PriceBreakdown,
    Registration,
    RegistrationStatus,
    TicketType,
    UnmetDemand,
    WaitlistEntry,
    WaitlistMode,
    WaitlistPage,
    WaitlistPlace,
    WaitlistPlacePage,
    WaitlistStatus,
    seats_left,
)
from townsquare.core.events.ports import EventStore, WaitlistStore
from townsquare.core.identity import Actor
from townsquare.core.jobs import JobRequest, JobService
from townsquare.core.notifications import NotificationService
from townsquare.core.uow import UnitOfWork

PROMOTE_WAITLIST = "events.promote_waitlist"
"""Offers an event's free seats to its line (enqueued by whatever frees seats, in its transaction)."""
PROMOTE_WAITLISTS = "events.promote_waitlists"
"""The periodic sweep: promotes every event with people waiting (catches holds that lapsed)."""
EXPIRE_OFFERS = "events.expire_offers"
"""The periodic job that marks lapsed offers expired and passes their seats on."""
ANNOUNCE_OFFER = "events.announce_offer"
"""Announces one offer in-app and by email (one job per offer, one notification per channel)."""
PROMOTE_BATCH = 1_000
"""Offers made per transaction by a promotion run."""
MAX_BULK = 500
"""The most entry ids one approval or rejection names."""
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
DEMAND_LIMIT = 50
"""Ticket types with people waiting that :meth:`WaitlistService.demand` returns by default."""
ANNOUNCE_CHANNELS = ("inapp", "email")
ANNOUNCER = Actor("system:events.waitlist", roles=["service"])
"""Who sends the offers' announcements: a service (it may notify others), not an admin."""
_ENTRY_NAMESPACE = uuid.UUID("5a0c7d4e-9b7a-5f61-8e3c-2d4b6f8a1c07")
_OFFER_NAMESPACE = uuid.UUID("c3e1a9b2-4d6f-5a8e-b7c0-9f2e4d6a8b13")


def entry_id_for(event_id: str, seq: int) -> str:
    """The id of the event's ``seq``-th waitlist entry (the same on every adapter)."""
    return str(uuid.uuid5(_ENTRY_NAMESPACE, f"{event_id}\n{seq}"))


def offer_registration_id(entry_id: str) -> str:
    """The id of the reservation an entry is offered (one offer per entry, whatever the retries)."""
    return str(uuid.uuid5(_OFFER_NAMESPACE, entry_id))


def offer_key(entry_id: str) -> str:
    """The reservation key of an entry's offer."""
    return f"waitlist:{entry_id}"


def announce_key(entry_id: str, channel: str) -> str:
    """The notification idempotency key of an offer's announcement on one channel."""
    return f"{ANNOUNCE_OFFER}:{entry_id}:{channel}"


def promotion_job(event_id: str) -> JobRequest:
    """The job that promotes an event's line once seats freed up (no key: each freeing asks again)."""
    return JobRequest(job_type=PROMOTE_WAITLIST, payload={"event_id": event_id}, max_attempts=10)


def in_line_for(
    candidates: Sequence[WaitlistEntry], types: Sequence[TicketType], held: dict[str, int], capacity: int
) -> list[WaitlistEntry]:
    """The candidates (first in line first) that get the free seats: each in turn while its type has one.

    An entry whose type is full is passed over (that seat is not its type's); everyone behind
    it of the same type is passed over too, so each type's line keeps its order.
    """
    type_left = {ticket.type_id: max(ticket.quota - held.get(ticket.type_id, 0), 0) for ticket in types}
    event_left = max(capacity - sum(held.values()), 0)
    chosen: list[WaitlistEntry] = []
    for entry in candidates:
        if event_left == 0:
            break
        if type_left.get(entry.type_id, 0) > 0:
            chosen.append(entry)
            type_left[entry.type_id] -= 1
            event_left -= 1
    return chosen


class WaitlistService:
    """Joining and leaving the line, offers (automatic or approved by the producer), their expiry.

    Who may do what: anyone may join the line of a sold-out type of a published event while
    its sales are open; a user leaves their own entries and declines their own offers; the
    producer (or an admin) sees an event's line and, in manual mode, approves or rejects entries.

    Args:
        events: the events store (the event's lock, ticket types, seats, offers' reservations).
        waitlist: where entries live.
        jobs: queues announcements and promotions in the caller's transaction.
        notifications: announces offers (in-app and email).
        uow: opens the transaction of each operation.
        clock: every time decision.
        cursors: signs the producer's page cursors.
    """

    def __init__(
        self,
        *,
        events: EventStore,
        waitlist: WaitlistStore,
        jobs: JobService,
        notifications: NotificationService,
        uow: UnitOfWork,
        clock: Clock,
        cursors: CursorCodec,
    ) -> None:
        self._events = events
        self._waitlist = waitlist
        self._jobs = jobs
        self._notifications = notifications
        self._uow = uow
        self._clock = clock
        self._cursors = cursors

    # -- the user's side -----------------------------------------------------------------

    def join(self, actor: Actor, event_id: str, type_id: str) -> WaitlistPlace:
        """Join the line for one ticket of a sold-out type; the place is at the back.

        Sold out means no ticket of the type can be reserved now (seats free while others wait
        are theirs). One active entry per user and type.

        Raises:
            NotFound: no such published event, or no such ticket type.
            Conflict: sales not open (naming ``event_id``); the type is not sold out, or the
                user is in its line already (naming ``type_id``).
        """
        with self._uow.transaction():
            event = self._events.lock_event(event_id)
            if event is None or event.status is EventStatus.DRAFT:
                raise NotFound(f"no event {event_id!r}", field="event_id")
            now = self._clock.now()
            event.check_sales_open(now)
            types = self._events.ticket_types(event_id)
            if not any(ticket.type_id == type_id for ticket in types):
                raise NotFound(f"no ticket type {type_id!r} for event {event_id!r}", field="type_id")
            if self._waitlist.active_entry(event_id, type_id, actor.user_id) is not None:
                raise Conflict(f"you are already on the waitlist of ticket type {type_id!r}", field="type_id")
            held = self._events.held_seats_for_change(event_id, now)
            left = seats_left(event, types, held, self._waitlist.waiting_counts(event_id))[type_id]
            if left > 0:
                raise Conflict(
                    f"ticket type {type_id!r} is not sold out ({left} left): reserve instead", field="type_id"
                )
            seq = self._waitlist.last_seq(event_id) + 1
            entry = WaitlistEntry(
                entry_id=entry_id_for(event_id, seq),
                event_id=event_id,
                type_id=type_id,
                user_id=actor.user_id,
                producer_id=event.producer_id,
                seq=seq,
                status=WaitlistStatus.WAITING,
                joined_at=now,
                updated_at=now,
            )
            if not self._waitlist.add_entry(entry):  # unreachable under the event's lock
                raise Conflict(f"you are already on the waitlist of ticket type {type_id!r}", field="type_id")
            return WaitlistPlace(entry, self._waitlist.waiting_ahead(entry) + 1)

    def leave(self, actor: Actor, entry_id: str) -> WaitlistEntry:
        """Leave the line; leaving with an offer declines it (its seat passes on). Leaving again returns it.

        Raises:
            NotFound: no such entry of the actor's.
            Conflict: the entry was accepted, rejected or its offer expired.
        """
        return self._settle_own(actor, entry_id, decline_only=False)

    def decline(self, actor: Actor, entry_id: str) -> WaitlistEntry:
        """Decline an offer: its hold is released and the seat passes to the next in line.

        Declining again returns the entry.

        Raises:
            NotFound: no such entry of the actor's.
            Conflict: the entry holds no offer (still waiting, accepted, or the offer expired).
        """
        return self._settle_own(actor, entry_id, decline_only=True)

    def my_entries(self, actor: Actor, *, cursor: str | None = None, limit: int = DEFAULT_LIMIT) -> WaitlistPlacePage:
        """The actor's entries, newest first, with each waiting one's place in its line, a page at a time.

        Raises:
            InvalidInput: a limit out of 1..500.
            InvalidCursor: a malformed, tampered, expired or foreign cursor.
        """
        _check_limit(limit)
        scope = f"events:my-waitlist:{actor.user_id}"
        before = None if cursor is None else _newest_first_position(self._cursors.decode(scope, cursor))
        with self._uow.transaction():
            entries = self._waitlist.entries_of(actor.user_id, before=before, limit=limit + 1)
            places = tuple(self._place(entry) for entry in entries[:limit])
        if len(entries) <= limit:
            return WaitlistPlacePage(places, None)
        last = entries[limit - 1]
        next_cursor = self._cursors.encode(scope, {"j": last.joined_at.isoformat(), "e": last.entry_id})
        return WaitlistPlacePage(places, next_cursor)

    def get_entry(self, actor: Actor, entry_id: str) -> WaitlistPlace:
        """An entry and its place, for its user, the event's producer or an admin.

        Raises:
            NotFound: no such entry the actor may see.
        """
        with self._uow.transaction():
            found = self._waitlist.get_entries([entry_id])
            if not found or not (found[0].user_id == actor.user_id or _manages(actor, found[0])):
                raise NotFound(f"no waitlist entry {entry_id!r}", field="entry_id")
            return self._place(found[0])

    def status_of(self, entry: WaitlistEntry) -> WaitlistStatus:
        """The status a reader sees now (a lapsed offer reads as expired before the job marks it)."""
        return entry.status_at(self._clock.now())

    # -- the producer's side -------------------------------------------------------------

    def entries(
        self,
        actor: Actor,
        event_id: str,
        *,
        active_only: bool = True,
        cursor: str | None = None,
        limit: int = DEFAULT_LIMIT,
    ) -> WaitlistPage:
        """An event's line in order (waiting and offered entries, or every entry), a page at a time.

        Raises:
            InvalidInput: a limit out of 1..500.
            InvalidCursor: a malformed, tampered, expired or foreign cursor.
            NotFound: no such event of the actor's.
        """
        _check_limit(limit)
        scope = f"events:waitlist:{event_id}:{int(active_only)}"
        after = None if cursor is None else _position_in(self._cursors.decode(scope, cursor))
        statuses = ACTIVE_ENTRY_STATUSES if active_only else tuple(WaitlistStatus)
        with self._uow.transaction():
            event = self._events.get_event(event_id)
            if event is None or not _manages(actor, event):
                raise NotFound(f"no event {event_id!r} of yours", field="event_id")
            rows = self._waitlist.event_entries(event_id, statuses=statuses, after=after, limit=limit + 1)
        if len(rows) <= limit:
            return WaitlistPage(tuple(rows), None)
        last = rows[limit - 1]
        next_cursor = self._cursors.encode(scope, {"j": last.joined_at.isoformat(), "s": last.seq})
        return WaitlistPage(tuple(rows[:limit]), next_cursor)

    def demand(self, actor: Actor, limit: int = DEMAND_LIMIT) -> list[UnmetDemand]:
        """The actor's own ticket types with people waiting, with the seats held and the price.

        The producer's view of unmet demand (what a quota or capacity raise would serve):
        only the actor's events, admins included (another producer's line is theirs to act
        on). At most ``limit`` types, by event id then type id. One transaction, as the
        actor: row-level security shows a producer only their own events' lines.

        Raises:
            InvalidInput: a limit out of 1..500.
        """
        _check_limit(limit)
        now = self._clock.now()
        found: list[UnmetDemand] = []
        with self._uow.transaction(actor=actor.user_id):
            waiting = self._waitlist.waiting_of_producer(actor.user_id, limit)
            by_event: dict[str, dict[str, int]] = defaultdict(dict)
            for event_id, type_id, count in waiting:
                by_event[event_id][type_id] = count
            for event_id, counts in by_event.items():
                event = self._events.get_event(event_id)
                if event is None or event.producer_id != actor.user_id:
                    continue
                held = self._events.held_seats(event_id, now)
                event_held = sum(held.values())
                for ticket in self._events.ticket_types(event_id):
                    if ticket.type_id not in counts:
                        continue
                    found.append(
                        UnmetDemand(
                            event_id=event_id,
                            title=event.details.title,
                            status=event.status,
                            capacity=event.details.capacity,
                            sales_end=event.details.sales_end,
                            event_held=event_held,
                            type_id=ticket.type_id,
                            name=ticket.name,
                            price=ticket.price,
                            currency=event.details.currency,
                            quota=ticket.quota,
                            held=held.get(ticket.type_id, 0),
                            waiting=counts[ticket.type_id],
                        )
                    )
        return found

    def approve(self, actor: Actor, event_id: str, entry_ids: Sequence[object]) -> list[WaitlistEntry]:
        """Make offers to these waiting entries (manual mode), in the order given: all of them or none.

        Approvals take the event's lock and count its free seats under it, so however many
        run at once they never offer more seats than are free.

        Raises:
            InvalidInput: no ids, too many, a malformed or repeated one (naming ``entry_ids``).
            NotFound: no such event of the actor's; an id not an entry of it (naming ``entry_ids``).
            Conflict: automatic mode (naming ``waitlist_mode``); sales not open (``event_id``);
                an entry not waiting, or more entries than free seats (``entry_ids``).
        """
        ids = _check_ids(entry_ids)
        with self._uow.transaction():
            event = self._manual_event(actor, event_id)
            now = self._clock.now()
            event.check_sales_open(now)
            entries = self._waiting_entries(event_id, ids)
            types = self._events.ticket_types(event_id)
            held = self._events.held_seats_for_change(event_id, now)
            fits = in_line_for(entries, types, held, event.details.capacity)
            if len(fits) < len(entries):
                free = sum(seats_left(event, types, held).values())
                raise Conflict(
                    f"only {len(fits)} of these {len(entries)} entries fit the free seats ({free} free)",
                    field="entry_ids",
                )
            return self._offer(event, types, entries, now)

    def reject(self, actor: Actor, event_id: str, entry_ids: Sequence[object]) -> list[WaitlistEntry]:
        """Turn these waiting entries down (manual mode): all of them or none.

        Raises:
            InvalidInput: no ids, too many, a malformed or repeated one (naming ``entry_ids``).
            NotFound: no such event of the actor's; an id not an entry of it (naming ``entry_ids``).
            Conflict: automatic mode (naming ``waitlist_mode``); an entry not waiting (``entry_ids``).
        """
        ids = _check_ids(entry_ids)
        with self._uow.transaction():
            self._manual_event(actor, event_id)
            now = self._clock.now()
            rejected = [
                evolve(entry, status=WaitlistStatus.REJECTED, updated_at=now)
                for entry in self._waiting_entries(event_id, ids)
            ]
            self._waitlist.save_entries(rejected)
            return rejected

    # -- jobs ----------------------------------------------------------------------------

    def promote(self, event_id: str) -> int:
        """Offer an event's free seats to its line, first in line first (automatic mode only).

        Once no ticket can be sold (the event was cancelled, its sales ended or it started)
        the line closes instead, in either mode: its waiting entries become ``closed``, so
        the periodic sweep stops visiting the event. A batch of offers per transaction, each
        under the event's lock; returns how many offers it made.
        """
        made = 0
        while True:
            with self._uow.transaction():
                event = self._events.lock_event(event_id)
                now = self._clock.now()
                if event is not None and event.sales_over(now):
                    self._close_line(event_id, now)
                    return made
                if event is None or event.details.waitlist_mode is WaitlistMode.MANUAL or not event.sales_open(now):
                    return made
                types = self._events.ticket_types(event_id)
                held = self._events.held_seats_for_change(event_id, now)
                event_left = event.details.capacity - sum(held.values())
                room = [ticket.type_id for ticket in types if ticket.quota > held.get(ticket.type_id, 0)]
                if event_left <= 0 or not room:
                    return made
                limit = min(PROMOTE_BATCH, event_left)
                candidates = self._waitlist.next_waiting(event_id, room, limit)
                chosen = in_line_for(candidates, types, held, event.details.capacity)
                if chosen:
                    self._offer(event, types, chosen, now)
            made += len(chosen)
            if not chosen or len(candidates) < limit:
                return made

    def promote_all(self, limit: int = 1_000) -> int:
        """The periodic sweep: promote every event with people waiting; how many offers it made."""
        with self._uow.transaction():
            event_ids = self._waitlist.events_with_waiting(limit)
        return sum(self.promote(event_id) for event_id in event_ids)

    def expire_offers(self, limit: int = 1_000) -> int:
        """Mark lapsed offers expired (their holds too), then pass their seats on; how many expired.

        A lapsed offer holds no seat from its expiry instant whether or not this has run.
        """
        now = self._clock.now()
        with self._uow.transaction():
            lapsed = self._waitlist.lapsed_offers(now, limit)
        by_event: dict[str, list[str]] = defaultdict(list)
        for entry in lapsed:
            by_event[entry.event_id].append(entry.entry_id)
        expired = 0
        for event_id, ids in by_event.items():
            with self._uow.transaction():
                self._events.lock_event(event_id)
                still = [
                    entry
                    for entry in self._waitlist.get_entries(ids)
                    if entry.status is WaitlistStatus.OFFERED and entry.status_at(now) is WaitlistStatus.EXPIRED
                ]
                self._events.mark_expired([entry.registration_id for entry in still if entry.registration_id], now)
                self._waitlist.save_entries(
                    [evolve(entry, status=WaitlistStatus.EXPIRED, updated_at=now) for entry in still]
                )
            expired += len(still)
            self.promote(event_id)
        return expired

    def announce_offer(self, entry_id: str) -> int:
        """The announcement job of one offer: in-app and email, each once (keyed by offer and channel).

        An offer declined or lapsed before the job ran is not announced. Returns how many
        notifications were sent (a channel the user turned off sends nothing).
        """
        with self._uow.transaction():
            found = self._waitlist.get_entries([entry_id])
            event = self._events.get_event(found[0].event_id) if found else None
        if not found or event is None or self.status_of(found[0]) is not WaitlistStatus.OFFERED:
            return 0
        entry = found[0]
        assert entry.offer_expires_at is not None
        until = entry.offer_expires_at.strftime("%Y-%m-%d %H:%M UTC")
        sent = 0
        for channel in ANNOUNCE_CHANNELS:
            result = self._notifications.send(
                ANNOUNCER,
                entry.user_id,
                channel,
                "waitlist",
                title=f"A ticket for {event.details.title} is yours to take"[:200],
                body=f"Your place on the waitlist came up. Confirm your reservation by {until}, "
                "or it passes to the next in line.",
                data={"event_id": entry.event_id, "entry_id": entry_id, "registration_id": entry.registration_id},
                idempotency_key=announce_key(entry_id, channel),
            )
            sent += result.sent
        return sent

    # -- helpers -------------------------------------------------------------------------

    def _offer(
        self, event: Event, types: Sequence[TicketType], entries: Sequence[WaitlistEntry], now: datetime
    ) -> list[WaitlistEntry]:
        """Reserve one ticket for each entry and queue its announcement (under the event's lock)."""
        tickets = {ticket.type_id: ticket for ticket in types}
        expires = min(now + timedelta(hours=event.details.offer_hours), event.details.sales_end)
        registrations = [
            Registration(
                registration_id=offer_registration_id(entry.entry_id),
                event_id=event.event_id,
                type_id=entry.type_id,
                attendee_id=entry.user_id,
                producer_id=event.producer_id,
                quantity=1,
                price=PriceBreakdown.of(tickets[entry.type_id], 1, event.details.currency),
                status=RegistrationStatus.RESERVED,
                expires_at=expires,
                refunded=0,
                reserve_key=offer_key(entry.entry_id),
                confirm_key=None,
                earning_id=None,
                created_at=now,
                updated_at=now,
            )
            for entry in entries
        ]
        self._events.add_registrations(registrations)
        offered = [
            evolve(
                entry,
                status=WaitlistStatus.OFFERED,
                registration_id=registration.registration_id,
                offered_at=now,
                offer_expires_at=expires,
                updated_at=now,
            )
            for entry, registration in zip(entries, registrations, strict=True)
        ]
        self._waitlist.save_entries(offered)
        self._jobs.enqueue_many(
            [
                JobRequest(
                    job_type=ANNOUNCE_OFFER,
                    payload={"entry_id": entry.entry_id},
                    idempotency_key=f"{ANNOUNCE_OFFER}:{entry.entry_id}",
                    max_attempts=10,
                )
                for entry in offered
            ]
        )
        return offered

    def _close_line(self, event_id: str, now: datetime) -> None:
        # Under the event's lock, like every change to its line. Offers stay as they are:
        # each is a hold that lapses (or is settled with the cancelled event's holds).
        types = [ticket.type_id for ticket in self._events.ticket_types(event_id)]
        while waiting := self._waitlist.next_waiting(event_id, types, PROMOTE_BATCH):
            self._waitlist.save_entries(
                [evolve(entry, status=WaitlistStatus.CLOSED, updated_at=now) for entry in waiting]
            )

    def _settle_own(self, actor: Actor, entry_id: str, *, decline_only: bool) -> WaitlistEntry:
        with self._uow.transaction():
            found = self._waitlist.get_entries([entry_id])
            if not found or found[0].user_id != actor.user_id:
                raise NotFound(f"no waitlist entry {entry_id!r} of yours", field="entry_id")
            self._events.lock_event(found[0].event_id)
            entry = self._waitlist.get_entries([entry_id])[0]  # read again under the lock
            now = self._clock.now()
            status = entry.status_at(now)
            if status is WaitlistStatus.DECLINED or (status is WaitlistStatus.LEFT and not decline_only):
                return entry
            if status is WaitlistStatus.WAITING and not decline_only:
                left = evolve(entry, status=WaitlistStatus.LEFT, updated_at=now)
                self._waitlist.save_entries([left])
                return left
            if status is not WaitlistStatus.OFFERED:
                what = "has no offer to decline" if decline_only else "is no longer in line"
                raise Conflict(f"waitlist entry {entry_id!r} {what} ({status.value})", field="entry_id")
            assert entry.registration_id is not None
            hold = self._events.lock_registration(entry.registration_id)
            if hold is not None and hold.status is RegistrationStatus.RESERVED:
                self._events.save_registration(evolve(hold, status=RegistrationStatus.CANCELLED, updated_at=now))
            declined = evolve(entry, status=WaitlistStatus.DECLINED, updated_at=now)
            self._waitlist.save_entries([declined])
            self._jobs.enqueue_many([promotion_job(entry.event_id)])
            return declined

    def _place(self, entry: WaitlistEntry) -> WaitlistPlace:
        if entry.status is not WaitlistStatus.WAITING:
            return WaitlistPlace(entry, None)
        return WaitlistPlace(entry, self._waitlist.waiting_ahead(entry) + 1)

    def _manual_event(self, actor: Actor, event_id: str) -> Event:
        event = self._events.lock_event(event_id)
        if event is None or not _manages(actor, event):
            raise NotFound(f"no event {event_id!r} of yours", field="event_id")
        if event.details.waitlist_mode is not WaitlistMode.MANUAL:
            raise Conflict(
                f"event {event_id!r} offers freed seats automatically; approvals are for manual mode",
                field="waitlist_mode",
            )
        return event

    def _waiting_entries(self, event_id: str, ids: Sequence[str]) -> list[WaitlistEntry]:
        """The entries with these ids, in that order, all waiting in the event's line."""
        found = {entry.entry_id: entry for entry in self._waitlist.get_entries(ids) if entry.event_id == event_id}
        unknown = [entry_id for entry_id in ids if entry_id not in found]
        if unknown:
            raise NotFound(f"no waitlist entries {', '.join(unknown)} for event {event_id!r}", field="entry_ids")
        entries = [found[entry_id] for entry_id in ids]
        settled = [entry.entry_id for entry in entries if entry.status is not WaitlistStatus.WAITING]
        if settled:
            raise Conflict(f"waitlist entries {', '.join(settled)} are not waiting", field="entry_ids")
        return entries


def _manages(actor: Actor, thing: Event | WaitlistEntry) -> bool:
    return actor.is_admin or actor.user_id == thing.producer_id


def _check_ids(entry_ids: object) -> list[str]:
    if isinstance(entry_ids, str) or not isinstance(entry_ids, Sequence) or not 1 <= len(entry_ids) <= MAX_BULK:
        raise InvalidInput(f"entry_ids must be a list of 1..{MAX_BULK} entry ids", field="entry_ids")
    if not all(isinstance(each, str) and 0 < len(each) <= 64 for each in entry_ids):
        raise InvalidInput("entry_ids must be entry ids (strings of 1..64 characters)", field="entry_ids")
    ids = [str(each) for each in entry_ids]
    if len(set(ids)) != len(ids):
        raise InvalidInput("entry_ids names an entry twice", field="entry_ids")
    return ids


def _check_limit(limit: object) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be an integer from 1 to {MAX_LIMIT}", field="limit")


def _position_in(position: dict[str, Any]) -> tuple[datetime, int]:
    try:
        joined, seq = position["j"], position["s"]
        if not isinstance(joined, str) or isinstance(seq, bool) or not isinstance(seq, int):
            raise TypeError
        return datetime.fromisoformat(joined), seq
    except (KeyError, TypeError, ValueError):
        raise InvalidCursor("cursor body is malformed", field="cursor") from None


def _newest_first_position(position: dict[str, Any]) -> tuple[datetime, str]:
    try:
        joined, entry_id = position["j"], position["e"]
        if not isinstance(joined, str) or not isinstance(entry_id, str):
            raise TypeError
        return datetime.fromisoformat(joined), entry_id
    except (KeyError, TypeError, ValueError):
        raise InvalidCursor("cursor body is malformed", field="cursor") from None


__all__ = [
    "ANNOUNCE_OFFER",
    "EXPIRE_OFFERS",
    "PROMOTE_WAITLIST",
    "PROMOTE_WAITLISTS",
    "WaitlistService",
    "announce_key",
    "entry_id_for",
    "in_line_for",
    "offer_key",
    "offer_registration_id",
    "promotion_job",
]
