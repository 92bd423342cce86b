"""Reports endpoints under /api/v1: a producer's stats, the reconciliation list, bulk actions, exports.

One router declares the path and tags once; each handler is a call into the reports service
with the acting user. Producers see their own events' figures; the admin variants see everyone's.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from attrs import frozen
from litestar import Router, get
from litestar.params import PathParameter, QueryParameter

from townsquare.bootstrap import Services
from townsquare.core.events import RegistrationStatus
from townsquare.core.identity import Actor
from townsquare.core.reports import CapacityUse, DayStats, MoneyTotals, ProducerStats, RegistrationFilter
from townsquare.core.reports.service import DEFAULT_LIMIT, MAX_LIMIT
from townsquare.hosts.http.auth import admin_guard
from townsquare.hosts.http.convert import project
from townsquare.hosts.http.deps import ActorDep, ServicesDep
from townsquare.hosts.http.openapi import values_of
from townsquare.hosts.http.routes.events import RegistrationList, RegistrationOut

PATH = "/api/v1"
TAGS = ["reports"]
EventId = Annotated[str, PathParameter(description="the event's id")]
FromDay = Annotated[
    date | None, QueryParameter(name="from", description="the first day covered (YYYY-MM-DD)", required=False)
]
ToDay = Annotated[
    date | None,
    QueryParameter(name="to", description="the last day covered (inclusive; at most 366 days)", required=False),
]
TimeZone = Annotated[
    str | None,
    QueryParameter(description="the IANA zone the days are taken in, such as Europe/Paris", required=False),
]
ProducerParam = Annotated[
    str | None,
    QueryParameter(description="whose events (admins only; defaults to the caller)", required=False),
]
Cursor = Annotated[str | None, QueryParameter(description="the previous page's next_cursor", required=False)]
Limit = Annotated[int, QueryParameter(description=f"page size, 1..{MAX_LIMIT}")]
Status = Annotated[
    str | None,
    QueryParameter(
        description="the status a reader sees now",
        required=False,
        schema_extra=values_of(RegistrationStatus, nullable=True),
    ),
]
TypeIdParam = Annotated[str | None, QueryParameter(description="one ticket type only", required=False)]
CodeParam = Annotated[str | None, QueryParameter(description="made with this discount code", required=False)]
EventParam = Annotated[str | None, QueryParameter(description="one event only", required=False)]


@frozen
class MoneyOut:
    """Money of the registrations covered in one currency, summed from the ledger.

    Attributes:
        currency: ISO 4217 code.
        gross: the ledger earnings (the registrations' totals at confirmation).
        discounts: discounts given on the registrations that were confirmed.
        captured: the ledger captures.
        voided: the ledger voids.
        refunded: the ledger refunds.
        pending: gross minus captured minus voided.
        net: captured minus refunded.
    """

    currency: str
    gross: int
    discounts: int
    captured: int
    voided: int
    refunded: int
    pending: int
    net: int

    @classmethod
    def of(cls, money: MoneyTotals) -> MoneyOut:
        return project(money, cls)


@frozen
class DayOut:
    """One day in the report's zone.

    Attributes:
        day: the local date.
        starts_at: when it begins (UTC).
        ends_at: when it ends (UTC, exclusive).
        hours: its length: 24, or 23 / 25 on a DST change.
        registrations: registrations made that day.
        tickets: their confirmed tickets.
        money: their money per currency.
    """

    day: date
    starts_at: datetime
    ends_at: datetime
    hours: int
    registrations: int
    tickets: int
    money: list[MoneyOut]

    @classmethod
    def of(cls, day: DayStats) -> DayOut:
        return project(day, cls, money=[MoneyOut.of(each) for each in day.money])


@frozen
class CapacityOut:
    """A ticket type's seats held now against its quota.

    Attributes:
        type_id: the ticket type.
        name: its name.
        quota: its quota.
        held: confirmed plus unexpired holds.
        left: quota minus held.
    """

    type_id: str
    name: str
    quota: int
    held: int
    left: int

    @classmethod
    def of(cls, use: CapacityUse) -> CapacityOut:
        return project(use, cls)


@frozen
class StatsOut:
    """A producer's stats over the registrations made in a range of days.

    Attributes:
        producer_id: whose events.
        event_id: the one event, or null for all of the producer's.
        time_zone: the zone the days are taken in.
        first_day: the first day covered.
        last_day: the last day covered.
        registrations: counts per status a reader sees now (every status present).
        tickets: confirmed tickets.
        money: per currency, from the ledger.
        days: one per day, adding up to the totals.
        capacity: per ticket type, seats held now (one event only).
        waitlist_demand: people waiting per ticket type (null until the waitlist exists).
    """

    producer_id: str
    event_id: str | None
    time_zone: str
    first_day: date
    last_day: date
    registrations: dict[str, int]
    tickets: int
    money: list[MoneyOut]
    days: list[DayOut]
    capacity: list[CapacityOut]
    waitlist_demand: dict[str, int] | None

    @classmethod
    def of(cls, stats: ProducerStats) -> StatsOut:
        return cls(
            producer_id=stats.producer_id,
            event_id=stats.event_id,
            time_zone=stats.range.time_zone,
            first_day=stats.range.first_day,
            last_day=stats.range.last_day,
            registrations=stats.registrations,
            tickets=stats.tickets,
            money=[MoneyOut.of(each) for each in stats.money],
            days=[DayOut.of(each) for each in stats.days],
            capacity=[CapacityOut.of(each) for each in stats.capacity],
            waitlist_demand=stats.waitlist_demand,
        )


# -- stats -------------------------------------------------------------------------------


@get("/reports/events/{event_id:str}/stats", summary="One event's stats", sync_to_thread=True, problems=[400, 404])
def event_stats(
    services: ServicesDep,
    actor: ActorDep,
    event_id: EventId,
    *,
    first_day: FromDay = None,
    last_day: ToDay = None,
    time_zone: TimeZone = None,
) -> StatsOut:
    """Registrations by status, capacity per ticket type, gross, discounts, refunds and net (from the ledger)
    and a daily series, over the registrations made from `from` to `to` (default: the event's first day to
    today) in `time_zone` (default: the event's). Another producer's event is a 404."""
    stats = services.reports.event_stats(actor, event_id, first_day=first_day, last_day=last_day, time_zone=time_zone)
    return StatsOut.of(stats)


@get("/reports/stats", summary="Stats over all your events", sync_to_thread=True, problems=[400, 403])
def producer_stats(
    services: ServicesDep,
    actor: ActorDep,
    *,
    first_day: FromDay = None,
    last_day: ToDay = None,
    time_zone: TimeZone = None,
    producer_id: ProducerParam = None,
) -> StatsOut:
    """Over every event of yours (or, for admins, `producer_id`'s), the registrations made from `from` to `to`
    (default: the last 30 days) in `time_zone` (default: your preferred zone)."""
    stats = services.reports.producer_stats(
        actor, first_day=first_day, last_day=last_day, time_zone=time_zone, producer_id=producer_id
    )
    return StatsOut.of(stats)


# -- reconciliation ----------------------------------------------------------------------


def _page(
    services: Services, actor: Actor, where: RegistrationFilter, cursor: str | None, limit: int
) -> RegistrationList:
    page = services.reports.registrations(actor, where, cursor=cursor, limit=limit)
    return RegistrationList(
        [RegistrationOut.of(services.events, each) for each in page.registrations], page.next_cursor
    )


@get(
    "/reports/registrations",
    summary="Your events' registrations, filtered",
    sync_to_thread=True,
    problems=[400, 403, 404],
)
def registrations(
    services: ServicesDep,
    actor: ActorDep,
    *,
    event_id: EventParam = None,
    status: Status = None,
    type_id: TypeIdParam = None,
    code: CodeParam = None,
    first_day: FromDay = None,
    last_day: ToDay = None,
    time_zone: TimeZone = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> RegistrationList:
    """Newest first, a page at a time; a date range (`from` and `to`, both) covers the registrations made in
    those days in `time_zone` (default: your preferred zone)."""
    where = services.reports.registration_filter(
        actor,
        event_id=event_id,
        status=status,
        type_id=type_id,
        code=code,
        first_day=first_day,
        last_day=last_day,
        time_zone=time_zone,
    )
    return _page(services, actor, where, cursor, limit)


@get(
    "/admin/reports/registrations",
    summary="Every producer's registrations, filtered (admins)",
    guards=[admin_guard],
    sync_to_thread=True,
    problems=[400, 403, 404],
)
def admin_registrations(
    services: ServicesDep,
    actor: ActorDep,
    *,
    producer_id: ProducerParam = None,
    event_id: EventParam = None,
    status: Status = None,
    type_id: TypeIdParam = None,
    code: CodeParam = None,
    first_day: FromDay = None,
    last_day: ToDay = None,
    time_zone: TimeZone = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> RegistrationList:
    """The admin variant: every producer's registrations (or `producer_id`'s); others get a 403."""
    where = services.reports.registration_filter(
        actor,
        producer_id=producer_id,
        event_id=event_id,
        status=status,
        type_id=type_id,
        code=code,
        first_day=first_day,
        last_day=last_day,
        time_zone=time_zone,
        every_producer=True,
    )
    return _page(services, actor, where, cursor, limit)


HANDLERS: list[Any] = [event_stats, producer_stats, registrations, admin_registrations]


def router() -> Router:
    """The reports routes under :data:`PATH` (the app documents every problem status)."""
    return Router(path=PATH, route_handlers=HANDLERS, tags=TAGS)
