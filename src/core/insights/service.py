"""The insights service: missed opportunities and what-if projections for a creator."""

from __future__ import annotations

from datetime import timedelta

from townsquare.core.clock import Clock
from townsquare.core.earnings.models import Summary
from townsquare.core.earnings.service import EarningsService
from townsquare.core.feed.models import CartDemand
from townsquare.core.feed.ports import FeedStore
from townsquare.core.identity import Actor
from townsquare.core.insights.opportunities import (
    Assumptions,
    Opportunity,
    Projection,
    Signals,
    missed_opportunities,
    project,
)
from townsquare.core.uow import UnitOfWork

STALE_CART = timedelta(days=1)
"""A cart entry older than this has not converted (the same day as the assistant's cart follow-up)."""


class InsightsService:
    """Reads the ledger summary and the commerce signals beside it, and computes on them in core."""

    def __init__(self, earnings: EarningsService, feed: FeedStore, uow: UnitOfWork, clock: Clock) -> None:
        self._earnings = earnings
        self._feed = feed
        self._uow = uow
        self._clock = clock

    def _signals_of(self, actor: Actor, creator_id: str) -> list[Signals]:
        """The creator's signals per currency, ordered by currency.

        Raises:
            Forbidden: another creator's, and the actor is not an admin.
        """
        # The summary checks the actor may read this creator's figures, and reads as them.
        summaries = {each.currency: each for each in self._earnings.summary(actor, creator_id)}
        # Carts are every buyer's own rows: only their aggregate leaves this read, so it runs as
        # the system once the summary has checked the actor.
        with self._uow.transaction(actor=None):
            carts = {each.currency: each for each in self._feed.cart_demand(creator_id, self._clock.now() - STALE_CART)}
        return [
            _signals(creator_id, currency, summaries.get(currency), carts.get(currency))
            for currency in sorted(summaries.keys() | carts.keys())
        ]

    def opportunities(self, actor: Actor, creator_id: str) -> list[Opportunity]:
        """Every scenario of missed money with an amount, ranked, each with its action."""
        return missed_opportunities(self._signals_of(actor, creator_id))

    def what_if(self, actor: Actor, creator_id: str, assumptions: Assumptions) -> list[Projection]:
        """The summary per currency recomputed under ``assumptions``, beside its baseline."""
        return [project(each, assumptions) for each in self._signals_of(actor, creator_id)]


def _signals(creator_id: str, currency: str, summary: Summary | None, cart: CartDemand | None) -> Signals:
    if summary is None:
        summary = Summary(
            creator_id=creator_id,
            currency=currency,
            total=0,
            captured=0,
            pending=0,
            voided=0,
            missed=0,
            refunded=0,
            net=0,
            events=0,
        )
    if cart is None:
        return Signals(summary=summary)
    return Signals(summary=summary, cart_items=cart.entries, cart_amount=cart.amount)
