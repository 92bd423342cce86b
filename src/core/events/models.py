"""Events domain models: an event with its ticket types, and registrations (holds that become tickets).

Times are UTC instants; an event also names the IANA zone it takes place in (for display
and the producer's reports). Prices are integer minor units in the event's currency.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from attrs import frozen

from townsquare.core.composer.timing import zone
from townsquare.core.earnings.money import MAX_AMOUNT, check_currency
from townsquare.core.errors import Conflict, InvalidInput
from townsquare.core.text import check_storable

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}\Z")
TITLE_MAX = 200
VENUE_MAX = 300
DESCRIPTION_MAX = 5_000
TYPE_NAME_MAX = 100
MAX_CAPACITY = 1_000_000
"""The most seats an event (or one ticket type) may have."""
MAX_QUANTITY = 100
"""The most tickets one reservation may hold."""
MAX_DURATION = timedelta(days=31)
"""The longest an event may last."""
DEFAULT_OFFER_HOURS = 24
"""How long a waitlist offer holds its seat unless the event says otherwise."""
MAX_OFFER_HOURS = 168
"""The longest a waitlist offer may be valid (a week)."""


class EventStatus(StrEnum):
    """Where an event is in its life."""

    DRAFT = "draft"
    """Only its producer sees it; nothing can be reserved."""
    PUBLISHED = "published"
    """Public, in the feed; tickets can be reserved inside the sales window."""
    CANCELLED = "cancelled"
    """Called off for good: every paid registration is refunded by a job."""


class WaitlistMode(StrEnum):
    """How an event's waitlist turns freed seats into offers."""

    AUTOMATIC = "automatic"
    """The next in line gets an offer as soon as a seat frees up."""
    MANUAL = "manual"
    """The producer approves (makes an offer to) or rejects each entry."""


class RegistrationStatus(StrEnum):
    """A registration's state. Only ``confirmed`` and unexpired ``reserved`` ones hold seats."""

    RESERVED = "reserved"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"
    EXPIRED = "expired"


def check_id(value: object, field: str) -> str:
    """Return ``value`` when it is a well-formed id (1..64 letters, digits, '_' or '-')."""
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise InvalidInput(
            f"{field} must be 1..64 letters, digits, '_' or '-' (starting with a letter or digit)", field=field
        )
    return value


def check_text(value: object, field: str, max_length: int, *, required: bool = True) -> str:
    """Return ``value`` trimmed when it is storable text of at most ``max_length`` characters."""
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string", field=field)
    check_storable(value, field)
    text = value.strip()
    if required and not text:
        raise InvalidInput(f"{field} must not be blank", field=field)
    if len(text) > max_length:
        raise InvalidInput(f"{field} must be at most {max_length} characters", field=field)
    return text


def check_count(value: object, field: str, *, low: int, high: int) -> int:
    """Return ``value`` when it is an integer in ``low..high`` (not a bool, not a float)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"{field} must be an integer from {low} to {high:,}", field=field)
    return value


def check_quantity(value: object) -> int:
    """A reservation's quantity: 1..:data:`MAX_QUANTITY` tickets."""
    return check_count(value, "quantity", low=1, high=MAX_QUANTITY)


def check_price(value: object, field: str = "price") -> int:
    """A ticket price in minor units: 0 (free) up to the ledger's largest amount."""
    return check_count(value, field, low=0, high=MAX_AMOUNT)


def check_instant(value: object, field: str) -> datetime:
    """A timezone-aware instant."""
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(f"{field} must be a date and time with a UTC offset", field=field)
    return value


@frozen(kw_only=True)
class EventDetails:
    """What a producer writes about an event: validated by :func:`make_details`.

    Attributes:
        title: the event's name.
        description: free text (may be empty).
        starts_at: when it starts (UTC instant).
        ends_at: when it ends, after it starts.
        time_zone: the IANA zone it takes place in.
        online: whether it happens online (then there is no venue).
        venue: where it takes place, when not online.
        sales_start: when reservations open.
        sales_end: when they close: after they open, and no later than the start.
        capacity: the most seats over every ticket type together.
        currency: the currency of every ticket price.
        waitlist_mode: automatic (freed seats go to the next in line) or manual (the
            producer approves entries).
        offer_hours: how long a waitlist offer holds its seat, 1..168 hours.
    """

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
    waitlist_mode: WaitlistMode = WaitlistMode.AUTOMATIC
    offer_hours: int = DEFAULT_OFFER_HOURS


def make_details(
    *,
    title: object,
    starts_at: object,
    ends_at: object,
    time_zone: object,
    sales_start: object,
    sales_end: object,
    capacity: object,
    currency: object,
    online: object = False,
    venue: object = None,
    description: object = "",
    waitlist_mode: object = WaitlistMode.AUTOMATIC,
    offer_hours: object = DEFAULT_OFFER_HOURS,
) -> EventDetails:
    """Build :class:`EventDetails` from client input.

    Raises:
        InvalidInput: naming the first field at fault (a sales window that ends before it
            starts names ``sales_end``; an end before the start names ``ends_at``).
    """
    checked_title = check_text(title, "title", TITLE_MAX)
    checked_description = check_text(description, "description", DESCRIPTION_MAX, required=False)
    start = check_instant(starts_at, "starts_at")
    end = check_instant(ends_at, "ends_at")
    if end <= start:
        raise InvalidInput("ends_at must be after starts_at", field="ends_at")
    if end - start > MAX_DURATION:
        raise InvalidInput(f"an event may last at most {MAX_DURATION.days} days", field="ends_at")
    zone(time_zone)
    assert isinstance(time_zone, str)
    if not isinstance(online, bool):
        raise InvalidInput("online must be true or false", field="online")
    checked_venue = None
    if online:
        if venue is not None:
            raise InvalidInput("an online event has no venue", field="venue")
    else:
        checked_venue = check_text(venue if venue is not None else "", "venue", VENUE_MAX)
    opens = check_instant(sales_start, "sales_start")
    closes = check_instant(sales_end, "sales_end")
    if closes <= opens:
        raise InvalidInput(
            "sales_end must be after sales_start (the sales window ends before it starts)", field="sales_end"
        )
    if closes > start:
        raise InvalidInput("sales_end must be no later than starts_at", field="sales_end")
    return EventDetails(
        title=checked_title,
        description=checked_description,
        starts_at=start,
        ends_at=end,
        time_zone=time_zone,
        online=online,
        venue=checked_venue,
        sales_start=opens,
        sales_end=closes,
        capacity=check_count(capacity, "capacity", low=1, high=MAX_CAPACITY),
        currency=check_currency(currency),
        waitlist_mode=check_waitlist_mode(waitlist_mode),
        offer_hours=check_count(offer_hours, "offer_hours", low=1, high=MAX_OFFER_HOURS),
    )


def check_waitlist_mode(value: object) -> WaitlistMode:
    """The waitlist mode named ``value`` (``automatic`` or ``manual``)."""
    if isinstance(value, str) and value in WaitlistMode.__members__.values():
        return WaitlistMode(value)
    modes = ", ".join(mode.value for mode in WaitlistMode)
    raise InvalidInput(f"waitlist_mode must be one of {modes}", field="waitlist_mode")


@frozen(kw_only=True)
class Event:
    """An event a producer (a creator) runs.

    Attributes:
        event_id: its id (the producer's, or one the service made).
        producer_id: who runs it and earns from its tickets.
        details: title, times, place, sales window, capacity, currency.
        status: draft, published or cancelled.
        publications: how many times it was published (its feed item's id names the last).
        created_at: when it was created (its place in the producer's list).
        updated_at: when it last changed.
    """

    event_id: str
    producer_id: str
    details: EventDetails
    status: EventStatus
    publications: int
    created_at: datetime
    updated_at: datetime

    @property
    def feed_item_id(self) -> str:
        """The id of its current feed item: one per publication (a removed item's id is never reused)."""
        return f"event:{self.event_id}:{self.publications}"

    def sales_open(self, now: datetime) -> bool:
        """Whether tickets can be reserved at ``now``: published, inside the window, not started."""
        details = self.details
        return (
            self.status is EventStatus.PUBLISHED
            and details.sales_start <= now < details.sales_end
            and now < details.starts_at
        )

    def sales_over(self, now: datetime) -> bool:
        """Whether no ticket can be sold at ``now`` or later: cancelled, sales ended, or started."""
        details = self.details
        return self.status is EventStatus.CANCELLED or now >= details.sales_end or now >= details.starts_at

    def check_sales_open(self, now: datetime) -> None:
        """Raise :class:`Conflict` naming why tickets cannot be reserved at ``now``."""
        details = self.details
        if self.status is EventStatus.CANCELLED:
            raise Conflict(f"event {self.event_id!r} is cancelled", field="event_id")
        if self.status is not EventStatus.PUBLISHED:
            raise Conflict(f"event {self.event_id!r} is not published", field="event_id")
        if now < details.sales_start:
            raise Conflict(
                f"sales for event {self.event_id!r} open at {details.sales_start.isoformat()}", field="event_id"
            )
        if now >= details.sales_end or now >= details.starts_at:
            raise Conflict(f"sales for event {self.event_id!r} have ended", field="event_id")

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Event:
        """Build an event from a stored row (the columns of the ``events`` table)."""
        return cls(
            event_id=row["event_id"],
            producer_id=row["producer_id"],
            details=EventDetails(
                title=row["title"],
                description=row["description"],
                starts_at=row["starts_at"],
                ends_at=row["ends_at"],
                time_zone=row["time_zone"],
                online=row["online"],
                venue=row["venue"],
                sales_start=row["sales_start"],
                sales_end=row["sales_end"],
                capacity=row["capacity"],
                currency=row["currency"],
                waitlist_mode=WaitlistMode(row["waitlist_mode"]),
                offer_hours=row["offer_hours"],
            ),
            status=EventStatus(row["status"]),
            publications=row["publications"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


@frozen(kw_only=True)
class TicketType:
    """A kind of ticket of an event, with its price and quota.

    Attributes:
        event_id: the event it belongs to.
        type_id: its id within the event.
        name: what the buyer sees ("Early bird").
        price: minor units per ticket in the event's currency (0: free).
        quota: the most tickets of this type held at once (confirmed plus unexpired holds).
        created_at: when it was added (the order types are listed in).
    """

    event_id: str
    type_id: str
    name: str
    price: int
    quota: int
    created_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> TicketType:
        """Build a ticket type from a stored row (the ``event_ticket_types`` table)."""
        return cls(
            event_id=row["event_id"],
            type_id=row["type_id"],
            name=row["name"],
            price=row["price"],
            quota=row["quota"],
            created_at=row["created_at"],
        )


@frozen(kw_only=True)
class PriceBreakdown:
    """What a registration costs, in minor units of one currency.

    ``total = subtotal - discount``; ``subtotal = unit_price * quantity``.
    """

    currency: str
    unit_price: int
    quantity: int
    subtotal: int
    discount: int
    total: int

    @classmethod
    def of(cls, ticket: TicketType, quantity: int, currency: str, discount: int = 0) -> PriceBreakdown:
        """The breakdown of ``quantity`` tickets of ``ticket``, less ``discount`` (never below zero)."""
        subtotal = ticket.price * quantity
        discount = min(max(discount, 0), subtotal)
        return cls(
            currency=currency,
            unit_price=ticket.price,
            quantity=quantity,
            subtotal=subtotal,
            discount=discount,
            total=subtotal - discount,
        )


@frozen(kw_only=True)
class Registration:
    """An attendee's tickets of one type for one event: a hold, then (on payment) confirmed.

    Attributes:
        registration_id: derived from the attendee and the reservation's idempotency key.
        event_id: the event.
        type_id: the ticket type.
        attendee_id: who registered.
        producer_id: whose event it is (whose ledger its earning goes to).
        quantity: how many tickets.
        price: the price breakdown fixed at reservation.
        status: reserved, confirmed, cancelled, refunded or expired.
        expires_at: when a reserved hold lapses (None once confirmed).
        refunded: minor units refunded so far (never above ``price.total``).
        reserve_key: the idempotency key of the reservation.
        confirm_key: the idempotency key of the confirmation, once confirmed.
        earning_id: the ledger earning written at confirmation (None while reserved or when free).
        discount_code: the discount code applied at reservation, if any.
        created_at: when it was reserved.
        updated_at: when it last changed.
    """

    registration_id: str
    event_id: str
    type_id: str
    attendee_id: str
    producer_id: str
    quantity: int
    price: PriceBreakdown
    status: RegistrationStatus
    expires_at: datetime | None
    refunded: int
    reserve_key: str
    confirm_key: str | None
    earning_id: str | None
    created_at: datetime
    updated_at: datetime
    discount_code: str | None = None

    def holds_seats(self, now: datetime) -> bool:
        """Whether it counts against quota and capacity at ``now``: confirmed, or a hold not yet expired."""
        if self.status is RegistrationStatus.CONFIRMED:
            return True
        return self.status is RegistrationStatus.RESERVED and self.expires_at is not None and self.expires_at > now

    def status_at(self, now: datetime) -> RegistrationStatus:
        """The status a reader sees: a reserved hold past its expiry is expired, job or no job."""
        if self.status is RegistrationStatus.RESERVED and not self.holds_seats(now):
            return RegistrationStatus.EXPIRED
        return self.status

    @property
    def refundable(self) -> int:
        """What may still be refunded: the total paid minus what was refunded."""
        if self.status is not RegistrationStatus.CONFIRMED:
            return 0
        return self.price.total - self.refunded

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Registration:
        """Build a registration from a stored row (the ``event_registrations`` table)."""
        return cls(
            registration_id=row["registration_id"],
            event_id=row["event_id"],
            type_id=row["type_id"],
            attendee_id=row["attendee_id"],
            producer_id=row["producer_id"],
            quantity=row["quantity"],
            price=PriceBreakdown(
                currency=row["currency"],
                unit_price=row["unit_price"],
                quantity=row["quantity"],
                subtotal=row["subtotal"],
                discount=row["discount"],
                total=row["total"],
            ),
            status=RegistrationStatus(row["status"]),
            expires_at=row["expires_at"],
            refunded=row["refunded"],
            reserve_key=row["reserve_key"],
            confirm_key=row["confirm_key"],
            earning_id=row["earning_id"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            discount_code=row["discount_code"],
        )


class WaitlistStatus(StrEnum):
    """Where a waitlist entry is. Only ``waiting`` and ``offered`` entries are active."""

    WAITING = "waiting"
    """In line for a seat."""
    OFFERED = "offered"
    """Holds an offer: a reservation it may confirm until ``offer_expires_at``."""
    ACCEPTED = "accepted"
    """The offer was confirmed (the registration is a ticket)."""
    DECLINED = "declined"
    """The user declined the offer (or cancelled its hold); the seat passed on."""
    EXPIRED = "expired"
    """The offer lapsed unconfirmed; the seat passed on."""
    REJECTED = "rejected"
    """The producer turned the entry down (manual mode)."""
    LEFT = "left"
    """The user left the line before an offer."""
    CLOSED = "closed"
    """The line closed before an offer: the event was cancelled, its sales ended or it started."""


ACTIVE_ENTRY_STATUSES = (WaitlistStatus.WAITING, WaitlistStatus.OFFERED)
"""The statuses of entries still in line or holding an offer (one per user and type)."""


@frozen(kw_only=True)
class WaitlistEntry:
    """A user waiting for one ticket of a sold-out type.

    Attributes:
        entry_id: derived from the event and ``seq``.
        event_id: the event.
        type_id: the ticket type waited for.
        user_id: who waits.
        producer_id: whose event it is.
        seq: the event's join counter at joining: ties of ``joined_at`` go by it.
        status: see :class:`WaitlistStatus`.
        joined_at: when the user joined (the line's order, then ``seq``).
        updated_at: when it last changed.
        registration_id: the offer's reservation, once offered.
        offered_at: when the offer was made.
        offer_expires_at: when the offer lapses unless confirmed.
    """

    entry_id: str
    event_id: str
    type_id: str
    user_id: str
    producer_id: str
    seq: int
    status: WaitlistStatus
    joined_at: datetime
    updated_at: datetime
    registration_id: str | None = None
    offered_at: datetime | None = None
    offer_expires_at: datetime | None = None

    @property
    def position_key(self) -> tuple[datetime, int]:
        """Its place in line: join time, then the event's join counter."""
        return (self.joined_at, self.seq)

    def status_at(self, now: datetime) -> WaitlistStatus:
        """The status a reader sees: an offer past its expiry is expired, job or no job."""
        if self.status is WaitlistStatus.OFFERED and self.offer_expires_at is not None and self.offer_expires_at <= now:
            return WaitlistStatus.EXPIRED
        return self.status

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> WaitlistEntry:
        """Build an entry from a stored row (the ``event_waitlist`` table)."""
        return cls(
            entry_id=row["entry_id"],
            event_id=row["event_id"],
            type_id=row["type_id"],
            user_id=row["user_id"],
            producer_id=row["producer_id"],
            seq=row["seq"],
            status=WaitlistStatus(row["status"]),
            joined_at=row["joined_at"],
            updated_at=row["updated_at"],
            registration_id=row["registration_id"],
            offered_at=row["offered_at"],
            offer_expires_at=row["offer_expires_at"],
        )


@frozen
class WaitlistPlace:
    """An entry and, while it waits, its place in its type's line (1: next to get an offer)."""

    entry: WaitlistEntry
    position: int | None


@frozen(kw_only=True)
class UnmetDemand:
    """A ticket type of a producer's event with people waiting for it, and what serving them takes.

    Attributes:
        event_id: the event.
        title: the event's title.
        status: the event's status.
        capacity: the event's capacity.
        sales_end: when the event's sales close.
        event_held: seats held now over every type of the event.
        type_id: the ticket type.
        name: its name.
        price: its price in minor units.
        currency: the event's currency.
        quota: its quota.
        held: seats of this type held now (confirmed plus unexpired holds and offers).
        waiting: entries waiting in its line.
    """

    event_id: str
    title: str
    status: EventStatus
    capacity: int
    sales_end: datetime
    event_held: int
    type_id: str
    name: str
    price: int
    currency: str
    quota: int
    held: int
    waiting: int

    @property
    def sold_out(self) -> bool:
        """Whether no seat is free for this type: its quota, or the event's capacity, is taken."""
        return self.held >= self.quota or self.event_held >= self.capacity

    @property
    def capacity_short(self) -> int:
        """Seats the event's capacity lacks to seat everyone waiting here once the quota allows."""
        return max(self.event_held + self.waiting - self.capacity, 0)

    @property
    def value(self) -> int:
        """What the line would pay at today's price (minor units)."""
        return self.waiting * self.price


@frozen
class WaitlistPage:
    """One page of an event's waitlist in line order, and the next page's cursor."""

    entries: tuple[WaitlistEntry, ...]
    next_cursor: str | None


@frozen
class WaitlistPlacePage:
    """One page of a user's own entries, newest first, each with its place; the next page's cursor."""

    places: tuple[WaitlistPlace, ...]
    next_cursor: str | None


def seats_left(
    event: Event,
    types: Sequence[TicketType],
    held: Mapping[str, int],
    waiting: Mapping[str, int] | None = None,
) -> dict[str, int]:
    """Per ticket type, the tickets a reservation may take now, within its quota and the capacity.

    ``held`` maps each type to the seats it holds now (confirmed plus unexpired holds, waitlist
    offers included). ``waiting`` maps each type to its waitlist entries still waiting: each
    claims one of its type's free seats (never more than the type has free), and the claims
    count against the event's capacity too, so a seat freed while people wait goes to them,
    not to whoever reserves first. Without ``waiting`` this is the free seats themselves, what
    offers are made from.
    """
    claims = {
        ticket.type_id: min((waiting or {}).get(ticket.type_id, 0), max(ticket.quota - held.get(ticket.type_id, 0), 0))
        for ticket in types
    }
    event_left = max(event.details.capacity - sum(held.values()) - sum(claims.values()), 0)
    return {
        ticket.type_id: min(max(ticket.quota - held.get(ticket.type_id, 0) - claims[ticket.type_id], 0), event_left)
        for ticket in types
    }


def check_capacity(
    event: Event,
    ticket: TicketType,
    held: Mapping[str, int],
    quantity: int,
    *,
    types: Sequence[TicketType] = (),
    waiting: Mapping[str, int] | None = None,
) -> None:
    """Raise :class:`Conflict` unless ``quantity`` more tickets of ``ticket`` fit.

    ``held`` maps each of the event's ticket types to the seats it holds now (confirmed plus
    unexpired holds). Both limits apply: the type's quota and the event's capacity over all
    types, less what the waitlists claim (see :func:`seats_left`; ``types`` are the event's
    ticket types, needed when ``waiting`` is given).

    Raises:
        Conflict: naming ``quantity``, with how many seats are left.
    """
    left = seats_left(event, types or (ticket,), held, waiting).get(ticket.type_id, 0)
    if quantity > left:
        what = "sold out" if left == 0 else f"only {left} left"
        raise Conflict(f"ticket type {ticket.type_id!r} is {what}; asked for {quantity}", field="quantity")


@frozen
class EventPage:
    """One page of a producer's events, newest first, and the next page's cursor (None: the end)."""

    events: tuple[Event, ...]
    next_cursor: str | None


@frozen
class RegistrationPage:
    """One page of an attendee's registrations, newest first, and the next page's cursor."""

    registrations: tuple[Registration, ...]
    next_cursor: str | None
