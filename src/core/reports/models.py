"""Reports domain models: a producer's figures over their registrations and the ledger lines of them.

Reports are a read model. Every money figure is summed from the earnings ledger's events of
the registrations a report covers (never a second bookkeeping); counts come from the
registrations themselves. A report covers the registrations *made* (reserved) inside its
range of days, each day taken in the report's time zone, so a daily series always adds up to
its totals and a DST day is 23 or 25 hours long.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from attrs import field, frozen

from townsquare.core.composer.timing import zone
from townsquare.core.errors import InvalidInput
from townsquare.core.events.models import Registration, RegistrationStatus

MAX_DAYS = 366
"""The longest range a report covers, in days (a leap year)."""


@frozen(kw_only=True)
class DayRange:
    """A range of whole days in a time zone, and the UTC instants where those days begin.

    Attributes:
        time_zone: the IANA zone the days are taken in.
        first_day: the first day covered.
        last_day: the last day covered (inclusive).
        boundaries: the UTC instant each day starts, then the instant after the last day ends
            (one more than the days): day ``i`` is ``[boundaries[i], boundaries[i + 1])``.
    """

    time_zone: str
    first_day: date
    last_day: date
    boundaries: tuple[datetime, ...]

    @property
    def days(self) -> int:
        return len(self.boundaries) - 1

    @property
    def start(self) -> datetime:
        """The instant the first day begins (UTC)."""
        return self.boundaries[0]

    @property
    def end(self) -> datetime:
        """The instant the last day ends (UTC, exclusive)."""
        return self.boundaries[-1]

    def day(self, index: int) -> date:
        return self.first_day + timedelta(days=index)


def day_start(day: date, time_zone: str) -> datetime:
    """The UTC instant ``day`` begins in ``time_zone``.

    Where midnight does not exist (a zone that springs forward at 00:00) the day begins at the
    transition: zoneinfo reads the missing wall time with the offset before it, which is that
    instant.
    """
    return datetime.combine(day, time(0), tzinfo=zone(time_zone)).astimezone(UTC)


def make_range(*, time_zone: object, first_day: object, last_day: object) -> DayRange:
    """Build a :class:`DayRange` from client input.

    Raises:
        InvalidInput: an unknown zone (``time_zone``), a day that is not a date (``from`` /
            ``to``), a range that ends before it starts or is longer than 366 days (``to``).
    """
    zone(time_zone)
    assert isinstance(time_zone, str)
    first = _check_day(first_day, "from")
    last = _check_day(last_day, "to")
    if last < first:
        raise InvalidInput("the range ends before it starts: 'to' must be on or after 'from'", field="to")
    days = (last - first).days + 1
    if days > MAX_DAYS:
        raise InvalidInput(f"a report covers at most {MAX_DAYS} days; this range has {days}", field="to")
    boundaries = tuple(day_start(first + timedelta(days=i), time_zone) for i in range(days + 1))
    return DayRange(time_zone=time_zone, first_day=first, last_day=last, boundaries=boundaries)


def _check_day(value: object, field_name: str) -> date:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise InvalidInput(f"{field_name} must be a date (YYYY-MM-DD)", field=field_name)
    return value


def local_day(instant: datetime, time_zone: str) -> date:
    """The day ``instant`` falls on in ``time_zone``."""
    return instant.astimezone(zone(time_zone)).date()


@frozen(kw_only=True)
class MoneyTotals:
    """Money of the registrations covered, in one currency, summed from the ledger.

    Attributes:
        currency: the ISO 4217 code.
        gross: the ledger earnings of the registrations (their totals at confirmation).
        discounts: the discounts given on the registrations that were confirmed.
        captured: the ledger captures of those earnings.
        voided: the ledger voids (whole earnings released before any capture).
        refunded: the ledger refunds.
    """

    currency: str
    gross: int = 0
    discounts: int = 0
    captured: int = 0
    voided: int = 0
    refunded: int = 0

    @property
    def pending(self) -> int:
        """Recorded and neither captured nor voided (the ledger summary's ``pending``)."""
        return self.gross - self.captured - self.voided

    @property
    def net(self) -> int:
        """Captured and kept: captured minus refunded (the ledger summary's ``net``)."""
        return self.captured - self.refunded

    def __add__(self, other: MoneyTotals) -> MoneyTotals:
        assert other.currency == self.currency
        return MoneyTotals(
            currency=self.currency,
            gross=self.gross + other.gross,
            discounts=self.discounts + other.discounts,
            captured=self.captured + other.captured,
            voided=self.voided + other.voided,
            refunded=self.refunded + other.refunded,
        )


def _status_or_none(value: str | None) -> RegistrationStatus | None:
    return None if value is None else RegistrationStatus(value)


@frozen(kw_only=True)
class FigureRow:
    """What a report store sums: the registrations made in one day with one status and currency.

    A store may give the money of a day and currency in rows of their own, with no status (and
    no registrations), and the counts in rows with a status and no money: a report's money is
    per day and currency, never per status.

    Attributes:
        day: the index of the day in the range (0 for the first day).
        status: the status a reader sees now (a lapsed hold is ``expired``); None on a row of money only.
        currency: the registrations' currency.
        registrations: how many.
        tickets: their tickets (quantities) among the ones that were ever confirmed.
        discounts: their discounts among the ones that were ever confirmed.
        gross: the ledger earnings of them.
        captured: the ledger captures of those earnings.
        voided: the ledger voids of them.
        refunded: the ledger refunds of them.
    """

    day: int
    status: RegistrationStatus | None = field(converter=_status_or_none)
    currency: str
    registrations: int
    tickets: int
    discounts: int
    gross: int
    captured: int
    voided: int
    refunded: int

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> FigureRow:
        """Build a figure row from a stored aggregate row (columns named as the attributes)."""
        return cls(
            day=int(row["day"]),
            status=row["status"],
            currency=row["currency"],
            registrations=int(row["registrations"]),
            tickets=int(row["tickets"]),
            discounts=int(row["discounts"]),
            gross=int(row["gross"]),
            captured=int(row["captured"]),
            voided=int(row["voided"]),
            refunded=int(row["refunded"]),
        )

    @property
    def money(self) -> MoneyTotals:
        return MoneyTotals(
            currency=self.currency,
            gross=self.gross,
            discounts=self.discounts,
            captured=self.captured,
            voided=self.voided,
            refunded=self.refunded,
        )


@frozen(kw_only=True)
class DayStats:
    """One day of a report, in the report's time zone.

    Attributes:
        day: the local date.
        starts_at: the instant it begins (UTC).
        ends_at: the instant it ends (UTC, exclusive); 23 or 25 hours after ``starts_at`` on a DST day.
        registrations: registrations made that day (every status).
        tickets: tickets of them that were confirmed.
        money: their money per currency (ordered by currency).
    """

    day: date
    starts_at: datetime
    ends_at: datetime
    registrations: int
    tickets: int
    money: tuple[MoneyTotals, ...]

    @property
    def hours(self) -> int:
        return int((self.ends_at - self.starts_at).total_seconds() // 3600)


@frozen(kw_only=True)
class CapacityUse:
    """A ticket type's seats held now against its quota.

    Attributes:
        type_id: the ticket type.
        name: its name.
        quota: its quota.
        held: seats held now (confirmed plus unexpired holds).
    """

    type_id: str
    name: str
    quota: int
    held: int

    @property
    def left(self) -> int:
        return max(self.quota - self.held, 0)


@frozen(kw_only=True)
class ProducerStats:
    """A producer's figures over one event, or over all their events, for a range of days.

    Attributes:
        producer_id: whose events.
        event_id: the one event, or None for every event of the producer.
        range: the days covered (registrations made in them).
        registrations: how many of them, per status a reader sees now (every status present).
        tickets: tickets of them that were confirmed.
        money: per currency, summed from the ledger (ordered by currency).
        days: one entry per day of the range, adding up to the totals.
        capacity: per ticket type, seats held now against the quota (one event only).
        waitlist_demand: people waiting per ticket type, once the waitlist exists (None until then).
    """

    producer_id: str
    event_id: str | None
    range: DayRange
    registrations: dict[str, int]
    tickets: int
    money: tuple[MoneyTotals, ...]
    days: tuple[DayStats, ...]
    capacity: tuple[CapacityUse, ...] = ()
    waitlist_demand: dict[str, int] | None = None


def fold(
    range_: DayRange, rows: Iterable[FigureRow]
) -> tuple[dict[str, int], int, tuple[MoneyTotals, ...], tuple[DayStats, ...]]:
    """Fold a store's figure rows into the totals and the daily series (the series adds up to the totals)."""
    by_status = {status.value: 0 for status in RegistrationStatus}
    per_day: list[tuple[int, int, dict[str, MoneyTotals]]] = [(0, 0, {}) for _ in range(range_.days)]
    totals: dict[str, MoneyTotals] = {}
    tickets = 0
    for row in rows:
        if row.status is not None:
            by_status[row.status.value] += row.registrations
        tickets += row.tickets
        count, day_tickets, money = per_day[row.day]
        money[row.currency] = money.get(row.currency, MoneyTotals(currency=row.currency)) + row.money
        per_day[row.day] = (count + row.registrations, day_tickets + row.tickets, money)
        totals[row.currency] = totals.get(row.currency, MoneyTotals(currency=row.currency)) + row.money
    days = tuple(
        DayStats(
            day=range_.day(i),
            starts_at=range_.boundaries[i],
            ends_at=range_.boundaries[i + 1],
            registrations=count,
            tickets=day_tickets,
            money=tuple(money[currency] for currency in sorted(money)),
        )
        for i, (count, day_tickets, money) in enumerate(per_day)
    )
    return by_status, tickets, tuple(totals[currency] for currency in sorted(totals)), days


@frozen(kw_only=True)
class RegistrationFilter:
    """Which registrations a list, an export or a bulk action covers.

    Attributes:
        producer_id: whose events (None: every producer's, for admins).
        event_id: one event only.
        status: the status a reader sees now (``expired`` includes lapsed holds).
        type_id: one ticket type only.
        code: registrations made with this discount code (upper case).
        since: made at or after this instant.
        until: made before this instant.
    """

    producer_id: str | None
    event_id: str | None = None
    status: RegistrationStatus | None = None
    type_id: str | None = None
    code: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    @property
    def narrowed(self) -> bool:
        """Whether anything beyond the producer narrows it (a bulk action needs that)."""
        return any(
            value is not None for value in (self.event_id, self.status, self.type_id, self.code, self.since, self.until)
        )

    @property
    def fingerprint(self) -> str:
        """A stable text naming the filter, so a cursor cannot be reused under other filters."""
        parts = [
            self.producer_id or "*",
            self.event_id or "",
            self.status.value if self.status else "",
            self.type_id or "",
            self.code or "",
            self.since.isoformat() if self.since else "",
            self.until.isoformat() if self.until else "",
        ]
        return "|".join(parts)

    def as_payload(self) -> dict[str, Any]:
        """The filter as a JSON object (a bulk action stores it)."""
        return {
            "producer_id": self.producer_id,
            "event_id": self.event_id,
            "status": self.status.value if self.status else None,
            "type_id": self.type_id,
            "code": self.code,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> RegistrationFilter:
        """The filter :meth:`as_payload` wrote."""
        return cls(
            producer_id=payload.get("producer_id"),
            event_id=payload.get("event_id"),
            status=RegistrationStatus(payload["status"]) if payload.get("status") else None,
            type_id=payload.get("type_id"),
            code=payload.get("code"),
            since=datetime.fromisoformat(payload["since"]) if payload.get("since") else None,
            until=datetime.fromisoformat(payload["until"]) if payload.get("until") else None,
        )


class LedgerLineType(StrEnum):
    """The ledger event types a financial export lists (the ledger's own)."""

    EARNING = "earning"
    CAPTURE = "capture"
    VOID = "void"
    REFUND = "refund"


@frozen(kw_only=True)
class LedgerLine:
    """One ledger event of a covered registration, for the financial export.

    Attributes:
        ledger_id: the ledger event's id.
        recorded_at: when the ledger recorded it.
        registration_id: the registration it is about.
        event_id: the registration's event.
        registration_created_at: when the registration was made (the report's day of it).
        type: earning, capture, void or refund.
        amount: minor units.
        currency: ISO 4217.
        reason: a refund's reason.
    """

    ledger_id: str
    recorded_at: datetime
    registration_id: str
    event_id: str
    registration_created_at: datetime
    type: LedgerLineType = field(converter=LedgerLineType)
    amount: int
    currency: str
    reason: str | None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any], registration: Registration) -> LedgerLine:
        """Build a line from a stored ledger row (``id``, ``recorded_at``, ``type``, ``amount``,
        ``currency``, ``reason``) of ``registration``'s earning."""
        return cls(
            ledger_id=str(row["id"]),
            recorded_at=row["recorded_at"],
            registration_id=registration.registration_id,
            event_id=registration.event_id,
            registration_created_at=registration.created_at,
            type=row["type"],
            amount=int(row["amount"]),
            currency=row["currency"],
            reason=row["reason"],
        )
