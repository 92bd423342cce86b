"""Earnings endpoints: summary, timeline, tier, recording events, captures, voids, refunds, recompute."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from attrs import frozen
from litestar import Request, get, post
from litestar.exceptions import ClientException, SerializationException
from litestar.params import FromPath, JSONBody, QueryParameter

from townsquare.core.earnings import (
    EarningBalance,
    LedgerEvent,
    RecomputeReport,
    Summary,
    Tier,
    TimelineFilter,
)
from townsquare.core.earnings.jobs import enqueue_recompute
from townsquare.core.earnings.money import check_amount
from townsquare.core.earnings.service import DEFAULT_PAGE_SIZE
from townsquare.hosts.http.auth import admin_guard
from townsquare.hosts.http.convert import project
from townsquare.hosts.http.deps import ActorDep, ServicesDep

TAGS = ["earnings"]


async def integer_amounts_only(request: Request[Any, Any, Any]) -> None:
    """Refuse a JSON ``amount`` that is not an integer before the body is converted.

    The body converter is lenient (``12.0`` or ``"12"`` would become ``12``); money is integer
    minor units, so anything but a JSON integer is a 400 naming the field.
    """
    try:
        body = await request.json()
    except SerializationException as exc:
        raise ClientException(f"the request body is not valid JSON: {exc}") from exc
    if isinstance(body, dict) and body.get("amount") is not None:
        check_amount(body["amount"])


WRITE: dict[str, Any] = {"tags": TAGS, "sync_to_thread": True, "before_request": integer_amounts_only}


# -- request bodies (amounts are JSON integers of minor units: 12.5 or "12" is a 400) -----


@frozen
class RecordEarning:
    """A pending earning for a creator, sent by the commerce backend (admin or service role)."""

    creator_id: str
    kind: str
    amount: int
    currency: str
    idempotency_key: str


@frozen
class CaptureEarning:
    """Capture ``amount`` minor units (all that is uncaptured when omitted)."""

    currency: str
    idempotency_key: str
    amount: int | None = None


@frozen
class VoidEarning:
    idempotency_key: str


@frozen
class RefundEarning:
    """Refund ``amount`` minor units of what was captured (all that is refundable when omitted)."""

    currency: str
    reason: str
    idempotency_key: str
    amount: int | None = None


# -- responses -------------------------------------------------------------------------------


@frozen
class EventOut:
    id: str
    creator_id: str
    type: str
    kind: str
    earning_id: str
    amount: int
    currency: str
    idempotency_key: str
    reason: str | None
    recorded_at: datetime

    @classmethod
    def of(cls, event: LedgerEvent) -> EventOut:
        return project(event, cls)


@frozen
class EarningOut:
    """An earning with its balance."""

    earning: EventOut
    status: str
    captured: int
    uncaptured: int
    refunded: int
    refundable: int

    @classmethod
    def of(cls, balance: EarningBalance) -> EarningOut:
        return project(balance, cls, earning=EventOut.of(balance.earning))


@frozen
class CurrencySummary:
    """One currency's cards.

    ``total = captured + pending + voided``; ``missed = total - captured``; ``net = captured - refunded``.
    """

    currency: str
    total: int
    captured: int
    pending: int
    voided: int
    missed: int
    refunded: int
    net: int
    events: int

    @classmethod
    def of(cls, summary: Summary) -> CurrencySummary:
        return project(summary, cls)


@frozen
class SummaryOut:
    creator_id: str
    currencies: list[CurrencySummary]


@frozen
class TimelineOut:
    events: list[EventOut]
    next_cursor: str | None


@frozen
class TierOut:
    name: str
    threshold: int
    unlocks: list[str]

    @classmethod
    def of(cls, tier: Tier) -> TierOut:
        return cls(name=tier.name, threshold=tier.threshold, unlocks=list(tier.unlocks))


@frozen
class TierStatusOut:
    """``progress_basis_points`` runs 0..10000 from the current tier to the next (integers, no floats)."""

    creator_id: str
    currency: str
    net: int
    current: TierOut
    next: TierOut | None
    remaining: int
    progress_basis_points: int


@frozen
class CorrectionOut:
    currency: str
    differences: dict[str, int]


@frozen
class RecomputeOut:
    creator_id: str
    events: int
    corrected: bool
    corrections: list[CorrectionOut]

    @classmethod
    def of(cls, report: RecomputeReport) -> RecomputeOut:
        return cls(
            creator_id=report.creator_id,
            events=report.events,
            corrected=report.corrected,
            corrections=[
                CorrectionOut(currency=c.currency, differences=dict(c.differences)) for c in report.corrections
            ],
        )


CreatorParam = Annotated[
    str | None,
    QueryParameter(
        name="creator_id", description="whose earnings (admins only; defaults to the caller)", required=False
    ),
]


# -- reads -----------------------------------------------------------------------------------


@get("/api/v1/earnings/summary", summary="Earnings summary per currency", tags=TAGS, sync_to_thread=True)
def summary(services: ServicesDep, actor: ActorDep, creator_id: CreatorParam = None) -> SummaryOut:
    creator = creator_id or actor.user_id
    summaries = services.earnings.summary(actor, creator)
    return SummaryOut(creator_id=creator, currencies=[CurrencySummary.of(each) for each in summaries])


@get("/api/v1/earnings/timeline", summary="Ledger events, newest first, cursor paged", tags=TAGS, sync_to_thread=True)
def timeline(
    services: ServicesDep,
    actor: ActorDep,
    *,
    creator_id: CreatorParam = None,
    kind: Annotated[list[str] | None, QueryParameter(description="earning kinds to keep", required=False)] = None,
    event_type: Annotated[
        list[str] | None, QueryParameter(name="type", description="event types to keep", required=False)
    ] = None,
    since: Annotated[datetime | None, QueryParameter(description="recorded at or after (UTC)", required=False)] = None,
    until: Annotated[datetime | None, QueryParameter(description="recorded before (UTC)", required=False)] = None,
    cursor: Annotated[
        str | None, QueryParameter(description="from the previous page's next_cursor", required=False)
    ] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=100, description="page size (1..100)")] = DEFAULT_PAGE_SIZE,
) -> TimelineOut:
    where = TimelineFilter(
        kinds=frozenset(kind or ()),
        types=frozenset(event_type or ()),
        since=since,
        until=until,
    )
    page = services.earnings.timeline(actor, creator_id or actor.user_id, where, cursor=cursor, limit=limit)
    return TimelineOut(events=[EventOut.of(event) for event in page.events], next_cursor=page.next_cursor)


@get("/api/v1/earnings/tier", summary="Tier, progress to the next and what it unlocks", tags=TAGS, sync_to_thread=True)
def tier(services: ServicesDep, actor: ActorDep, creator_id: CreatorParam = None) -> TierStatusOut:
    status = services.earnings.tier(actor, creator_id or actor.user_id)
    return TierStatusOut(
        creator_id=status.creator_id,
        currency=status.currency,
        net=status.net,
        current=TierOut.of(status.current),
        next=TierOut.of(status.next) if status.next else None,
        remaining=status.remaining,
        progress_basis_points=status.progress_basis_points,
    )


@get("/api/v1/earnings/events/{earning_id:str}", summary="An earning and its balance", tags=TAGS, sync_to_thread=True)
def earning(services: ServicesDep, actor: ActorDep, earning_id: FromPath[str]) -> EarningOut:
    return EarningOut.of(services.earnings.earning(actor, earning_id))


# -- writes ----------------------------------------------------------------------------------


@post(
    "/api/v1/earnings/events",
    summary="Record a pending earning (admin or service role; idempotent by key)",
    **WRITE,
)
def record(services: ServicesDep, actor: ActorDep, data: JSONBody[RecordEarning]) -> EventOut:
    event = services.earnings.record(
        actor,
        creator_id=data.creator_id,
        kind=data.kind,
        amount=data.amount,
        currency=data.currency,
        idempotency_key=data.idempotency_key,
    )
    return EventOut.of(event)


@post(
    "/api/v1/earnings/events/{earning_id:str}/capture",
    summary="Capture an earning, fully or partly (admin or service role)",
    **WRITE,
)
def capture(
    services: ServicesDep, actor: ActorDep, earning_id: FromPath[str], data: JSONBody[CaptureEarning]
) -> EventOut:
    event = services.earnings.capture(
        actor, earning_id, currency=data.currency, amount=data.amount, idempotency_key=data.idempotency_key
    )
    return EventOut.of(event)


@post(
    "/api/v1/earnings/events/{earning_id:str}/void",
    summary="Void an uncaptured earning (admin or service role)",
    tags=TAGS,
    sync_to_thread=True,
)
def void(services: ServicesDep, actor: ActorDep, earning_id: FromPath[str], data: JSONBody[VoidEarning]) -> EventOut:
    return EventOut.of(services.earnings.void(actor, earning_id, idempotency_key=data.idempotency_key))


@post(
    "/api/v1/earnings/events/{earning_id:str}/refunds",
    summary="Refund captured money, fully or partly, with a reason (the creator, admin or service role)",
    **WRITE,
)
def refund(
    services: ServicesDep, actor: ActorDep, earning_id: FromPath[str], data: JSONBody[RefundEarning]
) -> EventOut:
    event = services.earnings.refund(
        actor,
        earning_id,
        currency=data.currency,
        reason=data.reason,
        amount=data.amount,
        idempotency_key=data.idempotency_key,
    )
    return EventOut.of(event)


@post(
    "/api/v1/earnings/recompute",
    summary="Rebuild the caller's stored totals from the events",
    tags=TAGS,
    sync_to_thread=True,
)
def recompute_own(services: ServicesDep, actor: ActorDep) -> RecomputeOut:
    return RecomputeOut.of(services.earnings.recompute(actor, actor.user_id))


@post(
    "/api/v1/admin/earnings/{creator_id:str}/recompute",
    summary="Rebuild any creator's stored totals from the events (admin)",
    tags=[*TAGS, "admin"],
    guards=[admin_guard],
    sync_to_thread=True,
)
def recompute(services: ServicesDep, actor: ActorDep, creator_id: FromPath[str]) -> RecomputeOut:
    return RecomputeOut.of(services.earnings.recompute(actor, creator_id))


@frozen
class QueuedJob:
    job_id: int


@post(
    "/api/v1/admin/earnings/{creator_id:str}/recompute/jobs",
    summary="Queue a recompute of a creator's totals for the worker (admin)",
    tags=[*TAGS, "admin"],
    guards=[admin_guard],
    sync_to_thread=True,
)
def queue_recompute(services: ServicesDep, creator_id: FromPath[str]) -> QueuedJob:
    return QueuedJob(job_id=enqueue_recompute(services.jobs, creator_id))


ROUTES: list[Any] = [
    summary,
    timeline,
    tier,
    earning,
    record,
    capture,
    void,
    refund,
    recompute_own,
    recompute,
    queue_recompute,
]
