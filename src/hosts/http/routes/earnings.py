"""Earnings endpoints: summary, timeline, tier, recording events, captures, voids, refunds, recompute."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from attrs import frozen
from litestar import Request, Router
from litestar.exceptions import ClientException, SerializationException
from litestar.params import JSONBody, PathParameter, QueryParameter

from townsquare.core.earnings import (
    EarningBalance,
    EarningKind,
    EarningStatus,
    EventType,
    LedgerEvent,
    RecomputeReport,
    Summary,
    Tier,
    TierOutlook,
    TierStatus,
    TimelineFilter,
)
from townsquare.core.earnings.jobs import enqueue_recompute
from townsquare.core.earnings.money import check_amount
from townsquare.core.earnings.service import DEFAULT_PAGE_SIZE
from townsquare.hosts.http.auth import admin_guard
from townsquare.hosts.http.convert import project
from townsquare.hosts.http.deps import ActorDep, ServicesDep
from townsquare.hosts.http.openapi import list_of, one_of
from townsquare.hosts.http.routes.declare import API, get, post

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


# -- request bodies (amounts are JSON integers of minor units: 12.5 or "12" is a 400) -----


@frozen
class RecordEarning:
    """A pending earning for a creator, sent by the commerce backend (admin or service role).

    Attributes:
        creator_id: the creator who earns it.
        kind: what was sold or given.
        amount: the amount in minor units (cents), a positive JSON integer.
        currency: ISO 4217 code, three capital letters (``USD``).
        idempotency_key: the same key records nothing twice and answers the same event; the same
            key with other content is a 409.
    """

    creator_id: str
    kind: Annotated[str, one_of(EarningKind)]
    amount: int
    currency: str
    idempotency_key: str


@frozen
class CaptureEarning:
    """Capture ``amount`` minor units (all that is uncaptured when omitted).

    Attributes:
        currency: the earning's currency (a capture in another currency is a 400).
        idempotency_key: the same key captures once and answers the same event.
        amount: minor units to capture, at most what is uncaptured; omitted or null: all of it.
    """

    currency: str
    idempotency_key: str
    amount: int | None = None


@frozen
class VoidEarning:
    """Void what was never captured of an earning.

    Attributes:
        idempotency_key: the same key voids once and answers the same event.
    """

    idempotency_key: str


@frozen
class RefundEarning:
    """Refund ``amount`` minor units of what was captured (all that is refundable when omitted).

    Attributes:
        currency: the earning's currency.
        reason: why (shown on the timeline), 1-500 characters.
        idempotency_key: the same key refunds once and answers the same event.
        amount: minor units, at most what was captured and not yet refunded (more is a 409);
            omitted or null: all that is refundable.
    """

    currency: str
    reason: str
    idempotency_key: str
    amount: int | None = None


# -- responses -------------------------------------------------------------------------------


@frozen
class EventOut:
    """One ledger event: an earning, or a capture, void or refund of one (events are never edited).

    Attributes:
        id: the event's id (an earning's event id is the earning's id).
        creator_id: whose ledger it is in.
        type: what the event does.
        kind: the kind of the earning it belongs to.
        earning_id: the earning it belongs to.
        amount: minor units (for a void: what was voided).
        currency: ISO 4217 code.
        idempotency_key: the key it was written with.
        reason: a refund's reason; null for other events.
        recorded_at: when it was recorded (UTC).
    """

    id: str
    creator_id: str
    type: Annotated[str, one_of(EventType)]
    kind: Annotated[str, one_of(EarningKind)]
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
    """An earning with its balance.

    Attributes:
        earning: the earning's own event.
        status: pending (nothing captured), captured (in part or in full), voided, or refunded.
        captured: minor units captured so far.
        uncaptured: minor units still to capture (0 once voided).
        refunded: minor units refunded so far.
        refundable: minor units that may still be refunded (captured - refunded).
    """

    earning: EventOut
    status: Annotated[str, one_of(EarningStatus)]
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
    Every figure is in minor units and equals the sum over the creator's events.

    Attributes:
        currency: ISO 4217 code.
        total: every earning's amount.
        captured: what was captured.
        pending: what is still to capture.
        voided: what was voided.
        missed: total - captured.
        refunded: what was refunded of the captured.
        net: captured - refunded.
        events: how many ledger events these figures sum over.
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
    """A creator's earnings summary, one set of cards per currency.

    Attributes:
        creator_id: whose earnings.
        currencies: one entry per currency the creator has earned in, by code.
    """

    creator_id: str
    currencies: list[CurrencySummary]


@frozen
class TimelineOut:
    """A page of the ledger, newest first.

    Attributes:
        events: the page's events.
        next_cursor: pass as ``cursor`` for the next page; null on the last page.
    """

    events: list[EventOut]
    next_cursor: str | None


@frozen
class TierOut:
    """A tier of creators, by net captured earnings.

    Attributes:
        name: the tier's name (Bronze, Silver, Gold ...).
        threshold: net minor units from which a creator is in it.
        unlocks: what the tier gives.
    """

    name: str
    threshold: int
    unlocks: list[str]

    @classmethod
    def of(cls, tier: Tier) -> TierOut:
        return cls(name=tier.name, threshold=tier.threshold, unlocks=list(tier.unlocks))


@frozen
class TierStatusOut:
    """Where a creator stands: the current tier, the next, and the way there (integers, no floats).

    Attributes:
        creator_id: whose tier.
        currency: the currency tiers are counted in.
        net: net captured minor units in that currency.
        current: the tier the creator is in.
        next: the next tier; null at the top.
        remaining: minor units still to earn to reach the next tier (0 at the top).
        progress_basis_points: 0..10000, from the current tier's threshold to the next's.
    """

    creator_id: str
    currency: str
    net: int
    current: TierOut
    next: TierOut | None
    remaining: int
    progress_basis_points: int

    @classmethod
    def of(cls, status: TierStatus) -> TierStatusOut:
        return cls(
            creator_id=status.creator_id,
            currency=status.currency,
            net=status.net,
            current=TierOut.of(status.current),
            next=TierOut.of(status.next) if status.next else None,
            remaining=status.remaining,
            progress_basis_points=status.progress_basis_points,
        )


@frozen
class MilestoneOut:
    """One tier of the ladder as seen from where the creator stands.

    Attributes:
        tier: the tier (name, threshold, what it unlocks).
        reached: whether it is the creator's tier or below it.
        remaining: minor units still to earn to reach it (0 once reached).
    """

    tier: TierOut
    reached: bool
    remaining: int


@frozen
class CountdownOut:
    """The way to the next tier at the creator's pace over the last 30 days.

    Attributes:
        remaining: minor units still to earn to reach the next tier.
        pace: net minor units earned over the last 30 days.
        eta: when the next tier is reached at that pace (UTC); null when the pace is zero or negative.
    """

    remaining: int
    pace: int
    eta: datetime | None


@frozen
class TierOutlookOut:
    """Tiers as data: the status, every milestone, and the countdown (null at the top tier).

    Attributes:
        standing: the current tier, the next, and progress.
        milestones: every tier, lowest first.
        countdown: amount to go and the estimated date; null at the top tier.
    """

    standing: TierStatusOut
    milestones: list[MilestoneOut]
    countdown: CountdownOut | None

    @classmethod
    def of(cls, outlook: TierOutlook) -> TierOutlookOut:
        countdown = outlook.countdown
        return cls(
            standing=TierStatusOut.of(outlook.status),
            milestones=[
                MilestoneOut(tier=TierOut.of(each.tier), reached=each.reached, remaining=each.remaining)
                for each in outlook.milestones
            ],
            countdown=None
            if countdown is None
            else CountdownOut(remaining=countdown.remaining, pace=countdown.pace, eta=countdown.eta),
        )


@frozen
class CorrectionOut:
    """What a recompute corrected in one currency's stored totals.

    Attributes:
        currency: ISO 4217 code.
        differences: by figure (``captured``, ``refunded`` ...): the stored value minus the value
            rebuilt from the events.
    """

    currency: str
    differences: dict[str, int]


@frozen
class RecomputeOut:
    """The outcome of rebuilding a creator's stored totals from the events.

    Attributes:
        creator_id: whose totals.
        events: how many events were summed.
        corrected: whether any stored total differed (and was corrected).
        corrections: what differed, per currency.
    """

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


EarningId = Annotated[str, PathParameter(description="the earning's id (its own event's id)")]
CreatorId = Annotated[str, PathParameter(description="the creator's user id")]


@get("/earnings/summary", summary="Earnings summary per currency", problems=[400, 403])
def summary(
    services: ServicesDep,
    actor: ActorDep,
    creator_id: CreatorParam = None,
    as_of: Annotated[
        datetime | None,
        QueryParameter(
            description="the balance as of this past instant (with a UTC offset): events recorded at or "
            "before it count, later captures and refunds do not; omitted: now",
            required=False,
        ),
    ] = None,
) -> SummaryOut:
    """Per currency: total, captured, pending, voided, missed (= total - captured), refunded and net, each equal
    to the sum over the events. Yours, or any creator's with `creator_id` for admins (others get a 403). With
    `as_of`, the summary of the events recorded at or before that instant (naive, unparseable or future: a 400).
    """
    creator = creator_id or actor.user_id
    summaries = services.earnings.summary(actor, creator, as_of=as_of)
    return SummaryOut(creator_id=creator, currencies=[CurrencySummary.of(each) for each in summaries])


@get("/earnings/timeline", summary="Ledger events, newest first, cursor paged", problems=[403])
def timeline(
    services: ServicesDep,
    actor: ActorDep,
    *,
    creator_id: CreatorParam = None,
    kind: Annotated[
        list[str] | None,
        QueryParameter(description="earning kinds to keep", required=False, schema_extra=list_of(EarningKind)),
    ] = None,
    event_type: Annotated[
        list[str] | None,
        QueryParameter(name="type", description="event types to keep", required=False, schema_extra=list_of(EventType)),
    ] = None,
    since: Annotated[datetime | None, QueryParameter(description="recorded at or after (UTC)", required=False)] = None,
    until: Annotated[datetime | None, QueryParameter(description="recorded before (UTC)", required=False)] = None,
    cursor: Annotated[
        str | None, QueryParameter(description="from the previous page's next_cursor", required=False)
    ] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=100, description="page size (1..100)")] = DEFAULT_PAGE_SIZE,
) -> TimelineOut:
    """The ledger's events, newest first, cursor paged (`limit` 1-100), filtered by earning kind, event type and
    time. A cursor belongs to one filter; another's is a 400.
    """
    where = TimelineFilter(
        kinds=frozenset(kind or ()),
        types=frozenset(event_type or ()),
        since=since,
        until=until,
    )
    page = services.earnings.timeline(actor, creator_id or actor.user_id, where, cursor=cursor, limit=limit)
    return TimelineOut(events=[EventOut.of(event) for event in page.events], next_cursor=page.next_cursor)


@get("/earnings/tier", summary="Tier, progress to the next and what it unlocks", problems=[403])
def tier(services: ServicesDep, actor: ActorDep, creator_id: CreatorParam = None) -> TierStatusOut:
    """The creator's tier by net captured earnings, the next tier, how much remains and the progress in basis
    points (integers). Yours, or any creator's for admins.
    """
    return TierStatusOut.of(services.earnings.tier(actor, creator_id or actor.user_id))


@get(
    "/earnings/tier/outlook",
    summary="Every tier's milestone, progress, and the countdown to the next at the 30-day pace",
    problems=[403],
)
def tier_outlook(services: ServicesDep, actor: ActorDep, creator_id: CreatorParam = None) -> TierOutlookOut:
    """Every tier with whether it is reached and how much remains, the current status, and the countdown to the
    next tier: amount to go, net earned over the last 30 days and the date at that pace (null when the pace is
    zero or negative; no countdown at the top tier). Yours, or any creator's for admins.
    """
    return TierOutlookOut.of(services.earnings.tier_outlook(actor, creator_id or actor.user_id))


@get("/earnings/events/{earning_id:str}", summary="An earning and its balance", problems=[403, 404])
def earning(services: ServicesDep, actor: ActorDep, earning_id: EarningId) -> EarningOut:
    """One earning with its balance (captured, uncaptured, refunded, refundable). The creator sees their own;
    admins and the service role any; others get a 403.
    """
    return EarningOut.of(services.earnings.earning(actor, earning_id))


# -- writes ----------------------------------------------------------------------------------


@post(
    "/earnings/events",
    summary="Record a pending earning (admin or service role; idempotent by key)",
    before_request=integer_amounts_only,
    problems=[403, 409],
)
def record(services: ServicesDep, actor: ActorDep, data: JSONBody[RecordEarning]) -> EventOut:
    """Record a pending earning in the creator's append-only ledger (admin or service role; anyone else is a
    403). Idempotent by key: the same key answers the same event and writes nothing; the same key with
    different content is a 409. Amounts are positive JSON integers of minor units.
    """
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
    "/earnings/events/{earning_id:str}/capture",
    summary="Capture an earning, fully or partly (admin or service role)",
    before_request=integer_amounts_only,
    problems=[403, 404, 409],
)
def capture(services: ServicesDep, actor: ActorDep, earning_id: EarningId, data: JSONBody[CaptureEarning]) -> EventOut:
    """Capture part or all of what is uncaptured (admin or service role). Capturing more than is uncaptured, or a
    voided earning, is a 409 and writes nothing; idempotent by key.
    """
    event = services.earnings.capture(
        actor, earning_id, currency=data.currency, amount=data.amount, idempotency_key=data.idempotency_key
    )
    return EventOut.of(event)


@post(
    "/earnings/events/{earning_id:str}/void",
    summary="Void an uncaptured earning (admin or service role)",
    problems=[403, 404, 409],
)
def void(services: ServicesDep, actor: ActorDep, earning_id: EarningId, data: JSONBody[VoidEarning]) -> EventOut:
    """Void what is uncaptured of an earning (admin or service role); voiding a fully captured earning is a 409.
    Idempotent by key.
    """
    return EventOut.of(services.earnings.void(actor, earning_id, idempotency_key=data.idempotency_key))


@post(
    "/earnings/events/{earning_id:str}/refunds",
    summary="Refund captured money, fully or partly, with a reason (the creator, admin or service role)",
    before_request=integer_amounts_only,
    problems=[403, 404, 409],
)
def refund(services: ServicesDep, actor: ActorDep, earning_id: EarningId, data: JSONBody[RefundEarning]) -> EventOut:
    """Refund captured money, fully or partly, with a reason, as a new ledger event (the creator, admin or
    service role). Never more than was captured and not yet refunded (a 409); idempotent by key.
    """
    event = services.earnings.refund(
        actor,
        earning_id,
        currency=data.currency,
        reason=data.reason,
        amount=data.amount,
        idempotency_key=data.idempotency_key,
    )
    return EventOut.of(event)


@post("/earnings/recompute", summary="Rebuild the caller's stored totals from the events")
def recompute_own(services: ServicesDep, actor: ActorDep) -> RecomputeOut:
    """Sum the caller's events again and correct their stored totals where they differ; reports what was
    corrected.
    """
    return RecomputeOut.of(services.earnings.recompute(actor, actor.user_id))


@post(
    "/admin/earnings/{creator_id:str}/recompute",
    summary="Rebuild any creator's stored totals from the events (admin)",
    tags=[*TAGS, "admin"],
    guards=[admin_guard],
)
def recompute(services: ServicesDep, actor: ActorDep, creator_id: CreatorId) -> RecomputeOut:
    """Sum the creator's events again and overwrite their stored totals where they differ; reports what was
    corrected. Safe to repeat.
    """
    return RecomputeOut.of(services.earnings.recompute(actor, creator_id))


@frozen
class QueuedJob:
    """A job queued for the worker.

    Attributes:
        job_id: the job's id (``GET /api/v1/admin/jobs/{job_id}`` shows it).
    """

    job_id: int


@post(
    "/admin/earnings/{creator_id:str}/recompute/jobs",
    summary="Queue a recompute of a creator's totals for the worker (admin)",
    tags=[*TAGS, "admin"],
    guards=[admin_guard],
)
def queue_recompute(services: ServicesDep, creator_id: CreatorId) -> QueuedJob:
    """Queue an `earnings.recompute` job for the creator; the worker runs it (in mock mode: when the clock moves
    or on run-due). Answers the job id.
    """
    return QueuedJob(job_id=enqueue_recompute(services.jobs, creator_id))


HANDLERS: list[Any] = [
    summary,
    timeline,
    tier,
    tier_outlook,
    earning,
    record,
    capture,
    void,
    refund,
    recompute_own,
    recompute,
    queue_recompute,
]


def router() -> Router:
    """The earnings ledger's routes under /api/v1 (the admin ones guarded each)."""
    return Router(path=API, route_handlers=HANDLERS, tags=TAGS)
