"""Insights endpoints: missed opportunities and what-if projections over a creator's ledger and carts."""

from __future__ import annotations

from typing import Annotated, Any

import attrs
from attrs import frozen
from litestar import Router
from litestar.params import QueryParameter

from townsquare.core.insights import Assumptions, Opportunity, OpportunityKind, Projection
from townsquare.core.insights.opportunities import ACTIONS, BASIS_POINTS, MAX_PRICE_CHANGE_BP
from townsquare.hosts.http.convert import project
from townsquare.hosts.http.deps import ActorDep, ServicesDep
from townsquare.hosts.http.openapi import one_of
from townsquare.hosts.http.routes.declare import API, get
from townsquare.hosts.http.routes.earnings import CreatorParam, CurrencySummary

TAGS = ["earnings"]


@frozen
class OpportunityOut:
    """One scenario of missed money.

    Attributes:
        rank: 1 for the largest amount.
        kind: pending, voided, refunded or cart.
        currency: ISO 4217 code.
        amount: minor units at stake.
        action: a stable name for what would pick it up (capture_pending, win_back_voided,
            review_refunds, follow_up_carts).
        insight: one sentence naming the amount.
    """

    rank: int
    kind: Annotated[str, one_of(OpportunityKind)]
    currency: str
    amount: int
    action: Annotated[str, one_of(ACTIONS.values())]
    insight: str

    @classmethod
    def of(cls, opportunity: Opportunity) -> OpportunityOut:
        return project(opportunity, cls)


@frozen
class OpportunitiesOut:
    """A creator's missed opportunities, ranked by amount (empty scenarios are left out).

    Attributes:
        creator_id: whose ledger and products.
        opportunities: largest amount first.
    """

    creator_id: str
    opportunities: list[OpportunityOut]


@frozen
class ProjectionOut:
    """One currency under the assumptions.

    Attributes:
        currency: ISO 4217 code.
        baseline: the summary itself, figure for figure.
        projected: the summary recomputed under the assumptions (same identities).
        delta: projected minus baseline, per figure (total, captured, pending, voided, missed, refunded, net).
    """

    currency: str
    baseline: CurrencySummary
    projected: CurrencySummary
    delta: dict[str, int]

    @classmethod
    def of(cls, projection: Projection) -> ProjectionOut:
        return cls(
            currency=projection.currency,
            baseline=CurrencySummary.of(projection.baseline),
            projected=CurrencySummary.of(projection.projected),
            delta=dict(projection.delta),
        )


@frozen
class WhatIfOut:
    """A creator's summary per currency recomputed under changed assumptions.

    Attributes:
        creator_id: whose ledger.
        assumptions: the assumptions applied, in basis points (defaults filled in).
        currencies: one projection per currency, by code.
    """

    creator_id: str
    assumptions: dict[str, int]
    currencies: list[ProjectionOut]


def _share(description: str) -> Any:
    return QueryParameter(ge=0, le=BASIS_POINTS, description=f"{description}, in basis points (0..10000)")


@get(
    "/opportunities",
    summary="Missed opportunities: pending, voided, refunded and cart money, ranked, each with an action",
    problems=[400, 403],
)
def opportunities(services: ServicesDep, actor: ActorDep, creator_id: CreatorParam = None) -> OpportunitiesOut:
    """Every scenario with an amount, largest first: money recorded and not captured, voided before capture,
    refunded after capture, and your products waiting in buyers' carts for over a day. Amounts equal the summary's
    figures (and the carts' prices); each has an `action` name and an `insight` sentence. Yours, or any creator's
    for admins.
    """
    creator = creator_id or actor.user_id
    found = services.insights.opportunities(actor, creator)
    return OpportunitiesOut(creator_id=creator, opportunities=[OpportunityOut.of(each) for each in found])


@get(
    "/what-if",
    summary="The summary recomputed under changed assumptions (capture rate, win-backs, refunds, carts, price)",
    problems=[400, 403],
)
def what_if(
    services: ServicesDep,
    actor: ActorDep,
    *,
    creator_id: CreatorParam = None,
    capture_pending_bp: Annotated[int, _share("share of pending money captured")] = 0,
    win_back_voided_bp: Annotated[int, _share("share of voided money won back")] = 0,
    avoid_refunds_bp: Annotated[int, _share("share of refunds avoided")] = 0,
    convert_carts_bp: Annotated[int, _share("share of stale cart value converted into captured sales")] = 0,
    price_change_bp: Annotated[
        int,
        QueryParameter(
            ge=-BASIS_POINTS,
            le=MAX_PRICE_CHANGE_BP,
            description="every price changed by this share, in basis points (-10000..100000; 1000 = +10 %)",
        ),
    ] = 0,
) -> WhatIfOut:
    """Per currency: the baseline (equal to the summary, figure for figure), the projection and the delta.
    Integer arithmetic in minor units; each share rounds half up once per figure; the price change applies last.
    With every assumption at 0 the projection is the baseline. Yours, or any creator's for admins.
    """
    assumptions = Assumptions(
        capture_pending_bp=capture_pending_bp,
        win_back_voided_bp=win_back_voided_bp,
        avoid_refunds_bp=avoid_refunds_bp,
        convert_carts_bp=convert_carts_bp,
        price_change_bp=price_change_bp,
    )
    creator = creator_id or actor.user_id
    projections = services.insights.what_if(actor, creator, assumptions)
    return WhatIfOut(
        creator_id=creator,
        assumptions=attrs.asdict(assumptions),
        currencies=[ProjectionOut.of(each) for each in projections],
    )


HANDLERS: list[Any] = [opportunities, what_if]


def router() -> Router:
    """Missed opportunities and what-if under /api/v1/earnings."""
    return Router(path=f"{API}/earnings", route_handlers=HANDLERS, tags=TAGS)
