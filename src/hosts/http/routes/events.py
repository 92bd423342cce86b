"""Events endpoints under /api/v1: producers' events and ticket types, attendees' registrations, waitlists.

One router declares the path and tags once; each handler is a call into the events service
with the acting user. Producers manage their own events; attendees see their own registrations.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from attrs import field, frozen
from litestar import Router
from litestar.params import JSONBody, PathParameter, QueryParameter
from litestar.status_codes import HTTP_201_CREATED

from townsquare.core.events import (
    Event,
    EventDetails,
    EventStatus,
    Registration,
    RegistrationStatus,
    TicketType,
    WaitlistEntry,
    WaitlistMode,
    WaitlistPlace,
    WaitlistStatus,
    make_details,
)
from townsquare.core.events.discounts import DiscountCode, DiscountKind
from townsquare.core.events.models import DEFAULT_OFFER_HOURS
from townsquare.core.events.service import DEFAULT_LIMIT, MAX_LIMIT, EventService
from townsquare.core.events.waitlist import DEFAULT_LIMIT as WAITLIST_LIMIT
from townsquare.core.events.waitlist import MAX_LIMIT as WAITLIST_MAX_LIMIT
from townsquare.core.events.waitlist import WaitlistService
from townsquare.hosts.http.convert import project
from townsquare.hosts.http.deps import ActorDep, ServicesDep
from townsquare.hosts.http.openapi import one_of
from townsquare.hosts.http.routes.declare import API, get, post, put

TAGS = ["events"]
EventId = Annotated[str, PathParameter(description="the event's id")]
TypeId = Annotated[str, PathParameter(description="the ticket type's id within its event")]
RegistrationId = Annotated[str, PathParameter(description="the registration's id")]
EntryId = Annotated[str, PathParameter(description="the waitlist entry's id")]
WaitlistLimit = Annotated[int, QueryParameter(description=f"page size, 1..{WAITLIST_MAX_LIMIT}")]
Cursor = Annotated[str | None, QueryParameter(description="the previous page's next_cursor", required=False)]
Limit = Annotated[int, QueryParameter(description=f"page size, 1..{MAX_LIMIT}")]


@frozen
class TicketedEventIn:
    """An event's details (all of them, on create and on update).

    Attributes:
        title: its name, at most 200 characters.
        starts_at: when it starts (with a UTC offset).
        ends_at: when it ends, after the start, at most 31 days later.
        time_zone: the IANA zone it takes place in, such as ``Europe/Paris``.
        sales_start: when reservations open.
        sales_end: when they close: after sales_start, no later than starts_at.
        capacity: the most seats over every ticket type, 1..1,000,000.
        currency: the ISO 4217 code of every ticket price.
        online: true for an online event (then no venue).
        venue: where it takes place (required unless online), at most 300 characters.
        description: free text, at most 5,000 characters.
        waitlist_mode: ``automatic`` (freed seats are offered to the next in line) or ``manual``
            (you approve waitlist entries).
        offer_hours: how long a waitlist offer holds its seat, 1..168 hours.
        event_id: your own id for it on create (1..64 of letters, digits, ``_`` and ``-``), or omitted.
    """

    title: str
    starts_at: datetime
    ends_at: datetime
    time_zone: str
    sales_start: datetime
    sales_end: datetime
    capacity: int
    currency: str
    online: bool = False
    venue: str | None = None
    description: str = ""
    waitlist_mode: Annotated[str, one_of(WaitlistMode)] = WaitlistMode.AUTOMATIC.value
    offer_hours: int = DEFAULT_OFFER_HOURS
    event_id: str | None = None

    def details(self) -> EventDetails:
        return make_details(
            title=self.title,
            starts_at=self.starts_at,
            ends_at=self.ends_at,
            time_zone=self.time_zone,
            sales_start=self.sales_start,
            sales_end=self.sales_end,
            capacity=self.capacity,
            currency=self.currency,
            online=self.online,
            venue=self.venue,
            description=self.description,
            waitlist_mode=self.waitlist_mode,
            offer_hours=self.offer_hours,
        )


@frozen
class TicketedEventOut:
    """An event.

    Attributes:
        event_id: its id.
        producer_id: who runs it.
        status: draft, published or cancelled.
        title: its name.
        description: free text.
        starts_at: when it starts (UTC).
        ends_at: when it ends (UTC).
        time_zone: the IANA zone it takes place in.
        online: whether it is online.
        venue: where it takes place, or null when online.
        sales_start: when reservations open.
        sales_end: when they close.
        capacity: the most seats over every ticket type.
        currency: the currency of its prices.
        waitlist_mode: automatic or manual.
        offer_hours: how long a waitlist offer holds its seat.
        created_at: when it was created.
        updated_at: when it last changed.
    """

    event_id: str
    producer_id: str
    status: Annotated[str, one_of(EventStatus)]
    title: str
    description: str
    starts_at: datetime
    ends_at: datetime
    time_zone: str
    online: bool
    venue: str | None
    sales_start: datetime
    sales_end: datetime
    capacity: int
    currency: str
    waitlist_mode: Annotated[str, one_of(WaitlistMode)]
    offer_hours: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_event(cls, event: Event) -> TicketedEventOut:
        return project(event, cls, also=(event.details,))


@frozen
class TicketedEventList:
    """A page of your events, newest first.

    Attributes:
        events: the page's events.
        next_cursor: pass it back for the next page; null on the last.
    """

    events: list[TicketedEventOut]
    next_cursor: str | None


@frozen
class TicketTypeIn:
    """A ticket type to add. Adding the same again returns it.

    Attributes:
        type_id: its id within the event (1..64 of letters, digits, ``_`` and ``-``).
        name: what buyers see, at most 100 characters.
        price: minor units per ticket in the event's currency (0: free).
        quota: the most tickets of this type held at once, 1..1,000,000.
    """

    type_id: str
    name: str
    price: int
    quota: int


@frozen
class TicketTypeChange:
    """What to change in a ticket type; omitted fields stay.

    Attributes:
        name: a new name.
        price: a new price (for reservations made from now on).
        quota: a new quota, never below the tickets held now.
    """

    name: str | None = None
    price: int | None = None
    quota: int | None = None


@frozen
class TicketTypeOut:
    """A ticket type.

    Attributes:
        type_id: its id within the event.
        name: what buyers see.
        price: minor units per ticket.
        quota: the most tickets of this type held at once.
    """

    type_id: str
    name: str
    price: int
    quota: int

    @classmethod
    def from_type(cls, ticket: TicketType) -> TicketTypeOut:
        return cls(ticket.type_id, ticket.name, ticket.price, ticket.quota)


@frozen
class TicketTypeList:
    """An event's ticket types, in the order they were added.

    Attributes:
        ticket_types: the types.
    """

    ticket_types: list[TicketTypeOut]


@frozen
class Availability:
    """Per ticket type, how many tickets can be reserved now (within its quota and the capacity).

    Attributes:
        available: type id to tickets left.
    """

    available: dict[str, int]


@frozen
class ReserveIn:
    """Tickets to hold.

    Attributes:
        type_id: the ticket type.
        quantity: how many, 1..100.
        idempotency_key: the same key holds once and answers the same registration.
        code: a discount code to apply, or omitted.
    """

    type_id: str
    quantity: int
    idempotency_key: str
    code: str | None = None


@frozen
class ConfirmIn:
    """A confirmation on payment.

    Attributes:
        idempotency_key: the same key confirms once; a key used for another registration is a 409.
    """

    idempotency_key: str


@frozen
class RegistrationRefund:
    """A refund of part or all of what was paid.

    Attributes:
        reason: why, 1..500 characters.
        idempotency_key: the same key refunds once.
        amount: minor units, at most what remains refundable; omitted: all of it.
    """

    reason: str
    idempotency_key: str
    amount: int | None = None


@frozen
class RegistrationOut:
    """A registration: held tickets, then (confirmed) tickets.

    Attributes:
        registration_id: its id.
        event_id: the event.
        type_id: the ticket type.
        attendee_id: who registered.
        quantity: how many tickets.
        status: reserved, confirmed, cancelled, refunded or expired (a lapsed hold reads expired).
        expires_at: when a hold lapses; null once confirmed.
        currency: the currency of the amounts.
        unit_price: minor units per ticket.
        subtotal: unit_price times quantity.
        discount: minor units taken off.
        total: what is paid: subtotal minus discount.
        refunded: minor units refunded so far.
        earning_id: the producer's ledger earning, once confirmed (null when free).
        discount_code: the code applied at reservation, or null.
        created_at: when it was reserved.
    """

    registration_id: str
    event_id: str
    type_id: str
    attendee_id: str
    quantity: int
    status: Annotated[str, one_of(RegistrationStatus)]
    expires_at: datetime | None
    currency: str
    unit_price: int
    subtotal: int
    discount: int
    total: int
    refunded: int
    earning_id: str | None
    discount_code: str | None
    created_at: datetime

    @classmethod
    def of(cls, service: EventService, registration: Registration) -> RegistrationOut:
        status = service.status_of(registration).value
        return project(registration, cls, also=(registration.price,), status=status)


@frozen
class RegistrationList:
    """A page of your registrations, newest first.

    Attributes:
        registrations: the page's registrations.
        next_cursor: pass it back for the next page; null on the last.
    """

    registrations: list[RegistrationOut]
    next_cursor: str | None


@frozen
class CodeIn:
    """A discount code to make. Making the same again returns it.

    Attributes:
        code: what attendees type: 1..32 letters, digits, ``_`` or ``-`` (stored upper case).
        kind: percent (value 1..100, rounded half up per line) or fixed (value in minor units off the line).
        value: the percent or the minor units.
        valid_from: from when it applies.
        valid_until: until when (exclusive).
        event_id: the one event of yours it applies to; omitted: all of your events.
        max_uses: the most uses at once (confirmed plus unexpired holds); omitted: no limit.
        per_user_limit: the most uses by one attendee; omitted: no limit.
        min_quantity: the fewest tickets a registration needs for it.
        type_ids: the ticket types it applies to; empty: all.
    """

    code: str
    kind: Annotated[str, one_of(DiscountKind)]
    value: int
    valid_from: datetime
    valid_until: datetime
    event_id: str | None = None
    max_uses: int | None = None
    per_user_limit: int | None = None
    min_quantity: int = 1
    type_ids: list[str] = field(factory=list)


@frozen
class CodeOut:
    """A discount code.

    Attributes:
        code: the code (upper case).
        kind: percent or fixed.
        value: the percent or the minor units off.
        valid_from: from when it applies.
        valid_until: until when (exclusive).
        event_id: the one event it applies to, or null for all of yours.
        max_uses: the most uses at once, or null.
        per_user_limit: the most uses by one attendee, or null.
        min_quantity: the fewest tickets a registration needs.
        type_ids: the ticket types it applies to (empty: all).
    """

    code: str
    kind: Annotated[str, one_of(DiscountKind)]
    value: int
    valid_from: datetime
    valid_until: datetime
    event_id: str | None
    max_uses: int | None
    per_user_limit: int | None
    min_quantity: int
    type_ids: list[str]

    @classmethod
    def from_code(cls, code: DiscountCode) -> CodeOut:
        return project(code, cls, type_ids=list(code.type_ids))


@frozen
class CodeList:
    """Your discount codes, by code.

    Attributes:
        codes: the codes.
    """

    codes: list[CodeOut]


@frozen
class JoinIn:
    """The sold-out ticket type whose waitlist to join.

    Attributes:
        type_id: the ticket type.
    """

    type_id: str


@frozen
class EntryIds:
    """Waitlist entries to approve or reject, all of them or none.

    Attributes:
        entry_ids: 1..500 distinct entry ids of the event's line.
    """

    entry_ids: list[str]


@frozen
class WaitlistEntryOut:
    """A place on a waitlist.

    Attributes:
        entry_id: its id.
        event_id: the event.
        type_id: the ticket type waited for (one ticket).
        user_id: who waits.
        status: waiting, offered, accepted, declined, expired, rejected or left (a lapsed offer reads expired).
        position: while waiting, the place in the type's line (1: next); null otherwise.
        joined_at: when the user joined.
        registration_id: the offer's reservation (confirm it like any hold), once offered.
        offer_expires_at: when the offer lapses unless confirmed.
    """

    entry_id: str
    event_id: str
    type_id: str
    user_id: str
    status: Annotated[str, one_of(WaitlistStatus)]
    position: int | None
    joined_at: datetime
    registration_id: str | None
    offer_expires_at: datetime | None

    @classmethod
    def of(cls, service: WaitlistService, entry: WaitlistEntry, position: int | None = None) -> WaitlistEntryOut:
        return project(entry, cls, status=service.status_of(entry).value, position=position)

    @classmethod
    def at(cls, service: WaitlistService, place: WaitlistPlace) -> WaitlistEntryOut:
        return cls.of(service, place.entry, place.position)


@frozen
class WaitlistEntryList:
    """Waitlist entries.

    Attributes:
        entries: the entries.
        next_cursor: on a producer's page of the line, the next page's cursor; null on the last.
    """

    entries: list[WaitlistEntryOut]
    next_cursor: str | None = None


# -- events ------------------------------------------------------------------------------


@post(
    "/events",
    summary="Create an event (a draft)",
    status_code=HTTP_201_CREATED,
    problems=[400, 409],
)
def create_event(services: ServicesDep, actor: ActorDep, data: JSONBody[TicketedEventIn]) -> TicketedEventOut:
    """Create a draft event you produce; with an event_id of your own, creating again returns the same event."""
    return TicketedEventOut.from_event(services.events.create_event(actor, data.details(), event_id=data.event_id))


@get("/events", summary="Your events, newest first", problems=[400])
def list_events(
    services: ServicesDep, actor: ActorDep, *, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> TicketedEventList:
    """The events you produce (every status), newest first, a page at a time (a bad cursor is a 400)."""
    page = services.events.list_mine(actor, cursor, limit)
    return TicketedEventList([TicketedEventOut.from_event(event) for event in page.events], page.next_cursor)


@get("/events/{event_id:str}", summary="One event", problems=[404])
def get_event(services: ServicesDep, actor: ActorDep, event_id: EventId) -> TicketedEventOut:
    """A published or cancelled event, or a draft of yours; another producer's draft is a 404."""
    return TicketedEventOut.from_event(services.events.get_event(actor, event_id))


@put("/events/{event_id:str}", summary="Replace an event's details", problems=[400, 404, 409])
def update_event(
    services: ServicesDep, actor: ActorDep, event_id: EventId, data: JSONBody[TicketedEventIn]
) -> TicketedEventOut:
    """Replace the details of your event (not once cancelled; the capacity never below the seats held)."""
    return TicketedEventOut.from_event(services.events.update_event(actor, event_id, data.details()))


@post(
    "/events/{event_id:str}/publish",
    summary="Publish an event",
    status_code=200,
    problems=[404, 409],
)
def publish_event(services: ServicesDep, actor: ActorDep, event_id: EventId) -> TicketedEventOut:
    """Publish your draft event: it becomes public and a feed item (kind event); it needs a ticket type."""
    return TicketedEventOut.from_event(services.events.publish(actor, event_id))


@post(
    "/events/{event_id:str}/unpublish",
    summary="Take an event back to draft",
    status_code=200,
    problems=[404, 409],
)
def unpublish_event(services: ServicesDep, actor: ActorDep, event_id: EventId) -> TicketedEventOut:
    """Take your published event back to draft: sales stop, its feed item goes; registrations stay."""
    return TicketedEventOut.from_event(services.events.unpublish(actor, event_id))


@post("/events/{event_id:str}/cancel", summary="Cancel an event", status_code=200, problems=[404])
def cancel_event(services: ServicesDep, actor: ActorDep, event_id: EventId) -> TicketedEventOut:
    """Cancel your event for good; a job refunds every paid registration and releases every hold."""
    return TicketedEventOut.from_event(services.events.cancel_event(actor, event_id))


# -- ticket types ------------------------------------------------------------------------


@get("/events/{event_id:str}/ticket-types", summary="An event's ticket types", problems=[404])
def list_ticket_types(services: ServicesDep, actor: ActorDep, event_id: EventId) -> TicketTypeList:
    """The ticket types of an event you may see, in the order they were added."""
    return TicketTypeList([TicketTypeOut.from_type(each) for each in services.events.ticket_types(actor, event_id)])


@post(
    "/events/{event_id:str}/ticket-types",
    summary="Add a ticket type",
    status_code=HTTP_201_CREATED,
    problems=[400, 404, 409],
)
def add_ticket_type(
    services: ServicesDep, actor: ActorDep, event_id: EventId, data: JSONBody[TicketTypeIn]
) -> TicketTypeOut:
    """Add a ticket type to your event; adding the same again returns it."""
    ticket = services.events.add_ticket_type(
        actor, event_id, type_id=data.type_id, name=data.name, price=data.price, quota=data.quota
    )
    return TicketTypeOut.from_type(ticket)


@put(
    "/events/{event_id:str}/ticket-types/{type_id:str}",
    summary="Change a ticket type",
    problems=[400, 404, 409],
)
def update_ticket_type(
    services: ServicesDep, actor: ActorDep, event_id: EventId, type_id: TypeId, data: JSONBody[TicketTypeChange]
) -> TicketTypeOut:
    """Change a ticket type's name, price (for later reservations) or quota (never below the tickets held)."""
    ticket = services.events.update_ticket_type(
        actor, event_id, type_id, name=data.name, price=data.price, quota=data.quota
    )
    return TicketTypeOut.from_type(ticket)


@get("/events/{event_id:str}/availability", summary="Tickets left per type", problems=[404])
def availability(services: ServicesDep, actor: ActorDep, event_id: EventId) -> Availability:
    """Per ticket type, the tickets that can be reserved now (confirmed and unexpired holds counted)."""
    return Availability(services.events.availability(actor, event_id))


# -- registrations -----------------------------------------------------------------------


@post(
    "/events/{event_id:str}/registrations",
    summary="Reserve tickets (a hold that expires)",
    status_code=HTTP_201_CREATED,
    problems=[400, 404, 409],
)
def reserve(services: ServicesDep, actor: ActorDep, event_id: EventId, data: JSONBody[ReserveIn]) -> RegistrationOut:
    """Hold tickets for 15 minutes inside the sales window; sold out is a 409 naming quantity; the same key answers
    the same hold.
    """
    registration = services.events.reserve(
        actor, event_id, data.type_id, data.quantity, idempotency_key=data.idempotency_key, code=data.code
    )
    return RegistrationOut.of(services.events, registration)


@get("/registrations", summary="Your registrations, newest first", problems=[400])
def my_registrations(
    services: ServicesDep, actor: ActorDep, *, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> RegistrationList:
    """Your registrations, newest first, a page at a time (a bad cursor is a 400)."""
    page = services.events.my_registrations(actor, cursor, limit)
    return RegistrationList(
        [RegistrationOut.of(services.events, each) for each in page.registrations], page.next_cursor
    )


@get("/registrations/{registration_id:str}", summary="One registration", problems=[404])
def get_registration(services: ServicesDep, actor: ActorDep, registration_id: RegistrationId) -> RegistrationOut:
    """A registration of yours, or for an event you produce."""
    return RegistrationOut.of(services.events, services.events.get_registration(actor, registration_id))


@post(
    "/registrations/{registration_id:str}/confirm",
    summary="Confirm your hold on payment",
    status_code=200,
    problems=[400, 404, 409],
)
def confirm(
    services: ServicesDep, actor: ActorDep, registration_id: RegistrationId, data: JSONBody[ConfirmIn]
) -> RegistrationOut:
    """Confirm your unexpired hold: the earning enters the producer's ledger (pending) in the same transaction."""
    registration = services.events.confirm(actor, registration_id, idempotency_key=data.idempotency_key)
    return RegistrationOut.of(services.events, registration)


@post(
    "/registrations/{registration_id:str}/cancel",
    summary="Cancel a registration",
    status_code=200,
    problems=[404, 409],
)
def cancel(services: ServicesDep, actor: ActorDep, registration_id: RegistrationId) -> RegistrationOut:
    """Cancel your registration (or one for your event): its seats free at once; a paid one is refunded in full."""
    return RegistrationOut.of(services.events, services.events.cancel(actor, registration_id))


@post(
    "/registrations/{registration_id:str}/refund",
    summary="Refund part or all of a registration",
    status_code=200,
    problems=[400, 404, 409],
)
def refund(
    services: ServicesDep, actor: ActorDep, registration_id: RegistrationId, data: JSONBody[RegistrationRefund]
) -> RegistrationOut:
    """Refund part or all of a registration for your event, never above what was paid; before capture only in full
    (a void).
    """
    registration = services.events.refund(
        actor, registration_id, reason=data.reason, idempotency_key=data.idempotency_key, amount=data.amount
    )
    return RegistrationOut.of(services.events, registration)


# -- waitlists ---------------------------------------------------------------------------


@post(
    "/events/{event_id:str}/waitlist",
    summary="Join a sold-out ticket type's waitlist",
    status_code=HTTP_201_CREATED,
    problems=[404, 409],
)
def join_waitlist(
    services: ServicesDep, actor: ActorDep, event_id: EventId, data: JSONBody[JoinIn]
) -> WaitlistEntryOut:
    """Join the line for one ticket of a sold-out type (at the back); a type not sold out, or joining twice, is a
    409 naming type_id.
    """
    return WaitlistEntryOut.at(services.waitlist, services.waitlist.join(actor, event_id, data.type_id))


@get(
    "/events/{event_id:str}/waitlist",
    summary="Your event's waitlist, in line order",
    problems=[400, 404],
)
def event_waitlist(
    services: ServicesDep,
    actor: ActorDep,
    event_id: EventId,
    *,
    all_entries: Annotated[
        bool, QueryParameter(name="all", description="every entry, not only waiting and offered ones")
    ] = False,
    cursor: Cursor = None,
    limit: WaitlistLimit = WAITLIST_LIMIT,
) -> WaitlistEntryList:
    """The line of an event you produce, first in line first, a page at a time."""
    page = services.waitlist.entries(actor, event_id, active_only=not all_entries, cursor=cursor, limit=limit)
    return WaitlistEntryList([WaitlistEntryOut.of(services.waitlist, each) for each in page.entries], page.next_cursor)


@post(
    "/events/{event_id:str}/waitlist/approve",
    summary="Make offers to waitlist entries (manual mode)",
    status_code=200,
    problems=[400, 404, 409],
)
def approve_waitlist(
    services: ServicesDep, actor: ActorDep, event_id: EventId, data: JSONBody[EntryIds]
) -> WaitlistEntryList:
    """Offer a seat to each of these waiting entries, all or none, never more than the free seats (409 naming
    entry_ids); in automatic mode a 409 naming waitlist_mode.
    """
    offered = services.waitlist.approve(actor, event_id, data.entry_ids)
    return WaitlistEntryList([WaitlistEntryOut.of(services.waitlist, each) for each in offered])


@post(
    "/events/{event_id:str}/waitlist/reject",
    summary="Turn waitlist entries down (manual mode)",
    status_code=200,
    problems=[400, 404, 409],
)
def reject_waitlist(
    services: ServicesDep, actor: ActorDep, event_id: EventId, data: JSONBody[EntryIds]
) -> WaitlistEntryList:
    """Reject these waiting entries, all or none; in automatic mode a 409 naming waitlist_mode."""
    rejected = services.waitlist.reject(actor, event_id, data.entry_ids)
    return WaitlistEntryList([WaitlistEntryOut.of(services.waitlist, each) for each in rejected])


@get("/waitlist", summary="Your waitlist entries, newest first", problems=[400])
def my_waitlist(
    services: ServicesDep, actor: ActorDep, *, cursor: Cursor = None, limit: WaitlistLimit = WAITLIST_LIMIT
) -> WaitlistEntryList:
    """Your waitlist entries, newest first, each waiting one with its place in line, a page at a time."""
    page = services.waitlist.my_entries(actor, cursor=cursor, limit=limit)
    return WaitlistEntryList([WaitlistEntryOut.at(services.waitlist, each) for each in page.places], page.next_cursor)


@get("/waitlist/{entry_id:str}", summary="One waitlist entry", problems=[404])
def get_waitlist_entry(services: ServicesDep, actor: ActorDep, entry_id: EntryId) -> WaitlistEntryOut:
    """An entry of yours (or of your event's line) with its place in line while it waits."""
    return WaitlistEntryOut.at(services.waitlist, services.waitlist.get_entry(actor, entry_id))


@post(
    "/waitlist/{entry_id:str}/leave",
    summary="Leave a waitlist",
    status_code=200,
    problems=[404, 409],
)
def leave_waitlist(services: ServicesDep, actor: ActorDep, entry_id: EntryId) -> WaitlistEntryOut:
    """Leave the line; leaving with an offer declines it (the seat passes to the next in line)."""
    return WaitlistEntryOut.of(services.waitlist, services.waitlist.leave(actor, entry_id))


@post(
    "/waitlist/{entry_id:str}/decline",
    summary="Decline a waitlist offer",
    status_code=200,
    problems=[404, 409],
)
def decline_offer(services: ServicesDep, actor: ActorDep, entry_id: EntryId) -> WaitlistEntryOut:
    """Decline your offer: its hold is released and the seat passes to the next in line."""
    return WaitlistEntryOut.of(services.waitlist, services.waitlist.decline(actor, entry_id))


# -- discount codes ----------------------------------------------------------------------


@post(
    "/discount-codes",
    summary="Make a discount code",
    status_code=HTTP_201_CREATED,
    problems=[400, 404, 409],
)
def create_code(services: ServicesDep, actor: ActorDep, data: JSONBody[CodeIn]) -> CodeOut:
    """Make a discount code for one of your events or all of them; the same code again returns it."""
    made = services.events.create_code(
        actor,
        code=data.code,
        kind=data.kind,
        value=data.value,
        valid_from=data.valid_from,
        valid_until=data.valid_until,
        event_id=data.event_id,
        max_uses=data.max_uses,
        per_user_limit=data.per_user_limit,
        min_quantity=data.min_quantity,
        type_ids=data.type_ids,
    )
    return CodeOut.from_code(made)


@get("/discount-codes", summary="Your discount codes")
def list_codes(services: ServicesDep, actor: ActorDep) -> CodeList:
    """Your discount codes, by code."""
    return CodeList([CodeOut.from_code(each) for each in services.events.codes(actor)])


HANDLERS: list[Any] = [
    create_code,
    list_codes,
    create_event,
    list_events,
    get_event,
    update_event,
    publish_event,
    unpublish_event,
    cancel_event,
    list_ticket_types,
    add_ticket_type,
    update_ticket_type,
    availability,
    reserve,
    my_registrations,
    get_registration,
    confirm,
    cancel,
    refund,
    join_waitlist,
    event_waitlist,
    approve_waitlist,
    reject_waitlist,
    my_waitlist,
    get_waitlist_entry,
    leave_waitlist,
    decline_offer,
]


def router() -> Router:
    """The events routes under /api/v1 (the app documents every problem status)."""
    return Router(path=API, route_handlers=HANDLERS, tags=TAGS)
