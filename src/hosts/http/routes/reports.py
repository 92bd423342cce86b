"""Reports endpoints under /api/v1: a producer's stats, the reconciliation list, bulk actions, exports.

One router declares the path and tags once; each handler is a call into the reports service
with the acting user. Producers see their own events' figures; the admin variants see everyone's.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Annotated, Any, TypeAlias

from attrs import asdict, frozen
from litestar import Response, Router
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody, PathParameter, QueryParameter
from litestar.response import Stream
from litestar.status_codes import HTTP_202_ACCEPTED

from townsquare.bootstrap import Services
from townsquare.core.events import RegistrationStatus
from townsquare.core.identity import Actor
from townsquare.core.reports import (
    BulkKind,
    BulkPreview,
    BulkReport,
    CapacityUse,
    DayStats,
    MoneyTotals,
    ProducerStats,
    RegistrationFilter,
)
from townsquare.core.reports.service import DEFAULT_LIMIT, MAX_LIMIT
from townsquare.hosts.http.auth import admin_guard
from townsquare.hosts.http.convert import project
from townsquare.hosts.http.deps import ActorDep, ServicesDep
from townsquare.hosts.http.openapi import one_of, values_of
from townsquare.hosts.http.routes.declare import API, get, on_loop, post
from townsquare.hosts.http.routes.events import Cursor, EventId, RegistrationList, RegistrationOut

TAGS = ["reports"]
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


@get("/reports/events/{event_id:str}/stats", summary="One event's stats", problems=[400, 404])
def event_stats(services: ServicesDep, actor: ActorDep, event_id: EventId, days: DaysDep) -> StatsOut:
    """Registrations by status, capacity per ticket type, gross, discounts, refunds and net (from the ledger)
    and a daily series, over the registrations made from `from` to `to` (default: the event's first day to
    today) in `time_zone` (default: the event's). Another producer's event is a 404."""
    return StatsOut.of(services.reports.event_stats(actor, event_id, **days.asked()))


@get("/reports/stats", summary="Stats over all your events", problems=[400, 403])
def producer_stats(
    services: ServicesDep, actor: ActorDep, days: DaysDep, producer_id: ProducerParam = None
) -> StatsOut:
    """Over every event of yours (or, for admins, `producer_id`'s), the registrations made from `from` to `to`
    (default: the last 30 days) in `time_zone` (default: your preferred zone)."""
    return StatsOut.of(services.reports.producer_stats(actor, producer_id=producer_id, **days.asked()))


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
    problems=[400, 403, 404],
)
def registrations(
    services: ServicesDep, actor: ActorDep, filters: FiltersDep, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> RegistrationList:
    """Newest first, a page at a time; a date range (`from` and `to`, both) covers the registrations made in
    those days in `time_zone` (default: your preferred zone)."""
    return _page(services, actor, filters.where(services, actor), cursor, limit)


@get(
    "/admin/reports/registrations",
    summary="Every producer's registrations, filtered (admins)",
    guards=[admin_guard],
    problems=[400, 403, 404],
)
def admin_registrations(
    services: ServicesDep, actor: ActorDep, filters: FiltersDep, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> RegistrationList:
    """The admin variant: every producer's registrations (or `producer_id`'s); others get a 403."""
    return _page(services, actor, filters.where(services, actor, every_producer=True), cursor, limit)


# -- bulk actions ------------------------------------------------------------------------


@frozen
class RegistrationFilterIn:
    """Which of your registrations a bulk action takes: at least one filter besides you.

    Attributes:
        event_id: one event only.
        status: the status a reader sees now.
        type_id: one ticket type only.
        code: made with this discount code.
        first_day: made on or after this day (with ``last_day``).
        last_day: made on or before this day (at most 366 days after ``first_day``).
        time_zone: the IANA zone of the days (default: your preferred zone).
        producer_id: whose registrations (admins only; defaults to you).
    """

    event_id: str | None = None
    status: Annotated[str | None, one_of(RegistrationStatus, nullable=True)] = None
    type_id: str | None = None
    code: str | None = None
    first_day: date | None = None
    last_day: date | None = None
    time_zone: str | None = None
    producer_id: str | None = None

    def where(self, services: Services, actor: Actor, *, every_producer: bool = False) -> RegistrationFilter:
        """The filter checked and bound to whose registrations ``actor`` may see (a 4xx naming the field)."""
        return services.reports.registration_filter(actor, every_producer=every_producer, **asdict(self))


@frozen
class DaysIn:
    """The days a report covers, from the query (``from``, ``to``, ``time_zone``)."""

    first_day: date | None = None
    last_day: date | None = None
    time_zone: str | None = None

    def asked(self) -> dict[str, Any]:
        """The service's keyword arguments."""
        return asdict(self)


@frozen
class ScopeIn:
    """The registrations a financial report covers, from the query: its days, one event or another producer."""

    days: DaysIn
    event_id: str | None = None
    producer_id: str | None = None

    def asked(self) -> dict[str, Any]:
        """The service's keyword arguments."""
        return {**self.days.asked(), "event_id": self.event_id, "producer_id": self.producer_id}


def provide_days(first_day: FromDay = None, last_day: ToDay = None, time_zone: TimeZone = None) -> DaysIn:
    return DaysIn(first_day, last_day, time_zone)


def provide_scope(days: DaysDep, event_id: EventParam = None, producer_id: ProducerParam = None) -> ScopeIn:
    return ScopeIn(days, event_id, producer_id)


def provide_filters(
    covered: ScopeDep, status: Status = None, type_id: TypeIdParam = None, code: CodeParam = None
) -> RegistrationFilterIn:
    """The reconciliation list's filters from the query: the same as a bulk action's body."""
    days = covered.days
    return RegistrationFilterIn(
        event_id=covered.event_id,
        status=status,
        type_id=type_id,
        code=code,
        first_day=days.first_day,
        last_day=days.last_day,
        time_zone=days.time_zone,
        producer_id=covered.producer_id,
    )


DaysDep: TypeAlias = NamedDependency[DaysIn]
ScopeDep: TypeAlias = NamedDependency[ScopeIn]
FiltersDep: TypeAlias = NamedDependency[RegistrationFilterIn]
QUERIES = {"days": on_loop(provide_days), "covered": on_loop(provide_scope), "filters": on_loop(provide_filters)}
"""The query bundles, each built on the loop from the query (checked by the service in the handler).

``scope`` would be the natural name of the second, but Litestar reserves it (the ASGI scope)."""


@frozen
class BulkPreviewIn:
    """A bulk action to dry-run.

    Attributes:
        kind: refund (what remains of each confirmed registration) or cancel (confirmed ones and live holds).
        filter: which registrations (at least one filter).
    """

    kind: Annotated[str, one_of(BulkKind)]
    filter: RegistrationFilterIn


@frozen
class BulkActionIn:
    """A bulk action to start.

    Attributes:
        kind: refund (what remains of each confirmed registration) or cancel (confirmed ones and live holds).
        filter: which registrations (at least one filter).
        reason: why (each refund's reason), 1..500 characters.
        idempotency_key: starting again with it returns the same action.
    """

    kind: Annotated[str, one_of(BulkKind)]
    filter: RegistrationFilterIn
    reason: str
    idempotency_key: str


@frozen
class BulkPreviewOut:
    """A dry run: what the bulk action would do now (nothing was changed).

    Attributes:
        kind: refund or cancel.
        count: how many registrations it takes.
        amounts: the exact sum it would refund, per currency (minor units).
    """

    kind: Annotated[str, one_of(BulkKind)]
    count: int
    amounts: dict[str, int]

    @classmethod
    def of(cls, plan: BulkPreview) -> BulkPreviewOut:
        return cls(kind=plan.kind.value, count=plan.count, amounts=plan.amounts)


@frozen
class BulkFailureOut:
    """A registration the action could not refund or cancel.

    Attributes:
        registration_id: the registration.
        error: why (the problem's detail).
    """

    registration_id: str
    error: str


@frozen
class BulkActionOut:
    """A bulk action and how far it got.

    Attributes:
        action_id: its id.
        producer_id: whose registrations.
        kind: refund or cancel.
        reason: the refunds' reason.
        total: how many registrations it took when it was made.
        amounts: what they were to refund then, per currency.
        done: refunded or cancelled so far.
        failed: could not be (each with its reason in ``failures``).
        pending: not worked on yet.
        failures: up to 100 failed registrations with their reasons.
        finished: no registration is left pending.
        created_at: when it was made.
        finished_at: when it finished, or null.
    """

    action_id: str
    producer_id: str
    kind: Annotated[str, one_of(BulkKind)]
    reason: str
    total: int
    amounts: dict[str, int]
    done: int
    failed: int
    pending: int
    failures: list[BulkFailureOut]
    finished: bool
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, report: BulkReport) -> BulkActionOut:
        action, progress = report.action, report.progress
        return cls(
            action_id=action.action_id,
            producer_id=action.producer_id,
            kind=action.kind.value,
            reason=action.reason,
            total=action.total,
            amounts=action.amounts,
            done=progress.done,
            failed=progress.failed,
            pending=progress.pending,
            failures=[BulkFailureOut(each.registration_id, each.error) for each in progress.failures],
            finished=report.finished,
            created_at=action.created_at,
            finished_at=action.finished_at,
        )


@post(
    "/reports/bulk-actions/preview",
    summary="Dry-run a bulk refund or cancel",
    status_code=200,
    problems=[400, 403, 404],
)
def preview_bulk(services: ServicesDep, actor: ActorDep, data: JSONBody[BulkPreviewIn]) -> BulkPreviewOut:
    """How many registrations the bulk action would take now and the exact sum it would refund; nothing changes.
    A filter is required (one over every registration of yours is a 400 naming `filter`)."""
    return BulkPreviewOut.of(services.reports.preview_bulk(actor, data.kind, data.filter.where(services, actor)))


@post(
    "/reports/bulk-actions",
    summary="Start a bulk refund or cancel (a job)",
    status_code=HTTP_202_ACCEPTED,
    problems=[400, 403, 404, 409],
)
def start_bulk(services: ServicesDep, actor: ActorDep, data: JSONBody[BulkActionIn]) -> BulkActionOut:
    """Takes the registrations the dry run would take now and queues the job that refunds or cancels each once;
    poll `GET /reports/bulk-actions/{action_id}` for its progress. The same key returns the same action."""
    report = services.reports.start_bulk(
        actor, data.kind, data.filter.where(services, actor), reason=data.reason, idempotency_key=data.idempotency_key
    )
    return BulkActionOut.of(report)


@get(
    "/reports/bulk-actions/{action_id:str}",
    summary="A bulk action's progress",
    problems=[404],
)
def bulk_action(
    services: ServicesDep, actor: ActorDep, action_id: Annotated[str, PathParameter(description="the action's id")]
) -> BulkActionOut:
    """Done, failed (with reasons) and pending counts while it runs; `finished` once none is pending."""
    return BulkActionOut.of(services.reports.bulk_report(actor, action_id))


# -- exports -----------------------------------------------------------------------------

CSV = "text/csv; charset=utf-8"


def _csv_response(what: str) -> dict[int, ResponseSpec]:
    return {
        200: ResponseSpec(
            data_container=str,
            media_type=CSV,
            description=f"CSV text (RFC 4180, UTF-8, a header row first): {what}",
            generate_examples=False,
        )
    }


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


def _encoded(chunks: Iterator[str]) -> Iterator[bytes]:
    for chunk in chunks:
        yield chunk.encode("utf-8")


@get(
    "/reports/registrations.csv",
    summary="Your events' registrations as CSV (streamed)",
    media_type=CSV,
    responses=_csv_response("one row per registration, the columns of the registration body"),
    problems=[400, 403, 404],
)
def export_registrations(services: ServicesDep, actor: ActorDep, filters: FiltersDep) -> Stream:
    """The registrations the list would show (same filters), every one, newest first, streamed a page at a time
    in UTF-8; cells that start like a formula (= + - @, tab, CR) get a leading `'`."""
    chunks = services.reports.export_registrations(actor, filters.where(services, actor))
    return Stream(_encoded(chunks), media_type=CSV, headers=_attachment("registrations.csv"))


@get(
    "/reports/financials.csv",
    summary="The ledger lines of your registrations as CSV (streamed)",
    media_type=CSV,
    responses=_csv_response(
        "one row per ledger event: day, registration_id, event_id, ledger_id, recorded_at, "
        "type, amount, currency, reason"
    ),
    problems=[400, 403, 404],
)
def export_financials(services: ServicesDep, actor: ActorDep, covered: ScopeDep) -> Stream:
    """Every ledger event (earning, capture, void, refund) of the registrations the stats of the same
    parameters cover, with the registration's day in the zone: they add up to the financial report's totals."""
    chunks = services.reports.export_financials(actor, **covered.asked())
    return Stream(_encoded(chunks), media_type=CSV, headers=_attachment("financials.csv"))


@get(
    "/reports/financials.pdf",
    summary="The financial report as PDF",
    media_type="application/pdf",
    problems=[400, 403, 404],
)
def financial_report(services: ServicesDep, actor: ActorDep, covered: ScopeDep) -> Response[bytes]:
    """The stats' totals per currency (the sums of `financials.csv` of the same parameters), registrations by
    status and a revenue-by-day chart; the same figures give the same bytes."""
    document = services.reports.financial_report(actor, **covered.asked())
    return Response(document, media_type="application/pdf", headers=_attachment("financials.pdf"))


HANDLERS: list[Any] = [
    event_stats,
    producer_stats,
    registrations,
    admin_registrations,
    preview_bulk,
    start_bulk,
    bulk_action,
    export_registrations,
    export_financials,
    financial_report,
]


def router() -> Router:
    """The reports routes under /api/v1 (the app documents every problem status)."""
    return Router(path=API, route_handlers=HANDLERS, tags=TAGS, dependencies=QUERIES)
