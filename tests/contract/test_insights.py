"""Missed opportunities and what-if projections on both adapters: amounts equal the ledger and the carts."""

from __future__ import annotations

import itertools
import os
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from townsquare.bootstrap import Services
from townsquare.core.clock import ManualClock
from townsquare.core.errors import Conflict, Forbidden, InvalidInput
from townsquare.core.feed.models import make_draft
from townsquare.core.identity import Actor
from townsquare.core.insights import STALE_CART, Assumptions, OpportunityKind

EXAMPLES = int(os.environ.get("HYPOTHESIS_EXAMPLES", "25"))
ALICE = Actor("alice")
BOB = Actor("bob")
ADMIN = Actor("root", roles=["admin"])
SHOP = Actor("commerce-backend", roles=["service"])
_creators = itertools.count()


def _product(services: Services, creator: Actor, item_id: str, price: int, currency: str = "USD") -> None:
    services.feed.publish(creator, make_draft(item_id, "product", item_id, price_cents=price, currency=currency))


def _ledger(services: Services) -> None:
    # $100 sale, $60 captured, $10 of that refunded; a $25 tip voided; a $5 tip left pending
    sale = services.earnings.record(
        SHOP, creator_id="alice", kind="sale", amount=100_00, currency="USD", idempotency_key="s"
    )
    services.earnings.capture(SHOP, sale.id, currency="USD", amount=60_00, idempotency_key="c")
    services.earnings.refund(ALICE, sale.id, currency="USD", amount=10_00, reason="broken", idempotency_key="r")
    tip = services.earnings.record(
        SHOP, creator_id="alice", kind="tip", amount=25_00, currency="USD", idempotency_key="t"
    )
    services.earnings.void(SHOP, tip.id, idempotency_key="v")
    services.earnings.record(SHOP, creator_id="alice", kind="tip", amount=5_00, currency="USD", idempotency_key="p")


def test_opportunities_are_the_summary_figures_and_stale_carts_ranked(services: Services, clock: ManualClock) -> None:
    _ledger(services)
    # Her two products in three carts for over a day, one fresh cart entry, a removed product, and Bob's product
    _product(services, ALICE, "mug", 12_00)
    _product(services, ALICE, "poster", 30_00)
    _product(services, ALICE, "gone", 99_00)
    _product(services, BOB, "bobs", 77_00)
    for viewer in ("v1", "v2"):
        services.feed.add_to_cart(Actor(viewer), "mug")
    services.feed.add_to_cart(Actor("v1"), "poster")
    services.feed.add_to_cart(Actor("v3"), "gone")
    services.feed.add_to_cart(Actor("v3"), "bobs")
    services.feed.remove(ALICE, "gone")
    clock.advance(STALE_CART)
    services.feed.add_to_cart(Actor("v3"), "mug")  # fresh: not counted yet
    clock.advance(timedelta(seconds=1))

    found = services.insights.opportunities(ALICE, "alice")
    [summary] = services.earnings.summary(ALICE, "alice")
    # Pending 45.00 (40 of the sale + the 5 tip), carts 54.00 (two mugs and a poster), voided 25.00, refunded 10.00
    assert (summary.pending, summary.voided, summary.refunded) == (45_00, 25_00, 10_00)
    assert [(each.rank, each.kind, each.amount, each.action) for each in found] == [
        (1, OpportunityKind.CART, 12_00 * 2 + 30_00, "follow_up_carts"),
        (2, OpportunityKind.PENDING, summary.pending, "capture_pending"),
        (3, OpportunityKind.VOIDED, summary.voided, "win_back_voided"),
        (4, OpportunityKind.REFUNDED, summary.refunded, "review_refunds"),
    ]
    assert "3 cart entries worth 54.00 USD" in found[0].insight
    assert all(each.currency == "USD" and "USD" in each.insight for each in found)


def test_nothing_missed_lists_nothing(services: Services) -> None:
    sale = services.earnings.record(
        SHOP, creator_id="alice", kind="sale", amount=10_00, currency="EUR", idempotency_key="s"
    )
    services.earnings.capture(SHOP, sale.id, currency="EUR", idempotency_key="c")
    assert services.insights.opportunities(ALICE, "alice") == []
    assert services.insights.opportunities(BOB, "bob") == []  # no ledger, no carts


def test_only_the_creator_or_an_admin_sees_them(services: Services) -> None:
    _ledger(services)
    for read in (
        lambda: services.insights.opportunities(BOB, "alice"),
        lambda: services.insights.what_if(BOB, "alice", Assumptions(capture_pending_bp=5_000)),
    ):
        with pytest.raises(Forbidden):
            read()
    assert services.insights.opportunities(ADMIN, "alice") == services.insights.opportunities(ALICE, "alice")


def test_what_if_baseline_is_the_summary_and_moves_money_by_the_shares(services: Services, clock: ManualClock) -> None:
    _ledger(services)
    _product(services, ALICE, "mug", 12_00)
    services.feed.add_to_cart(Actor("v1"), "mug")
    clock.advance(STALE_CART)
    [summary] = services.earnings.summary(ALICE, "alice")
    [same] = services.insights.what_if(ALICE, "alice", Assumptions())
    assert same.baseline == summary
    assert same.projected == summary
    assert set(same.delta.values()) == {0}

    [half] = services.insights.what_if(
        ALICE, "alice", Assumptions(capture_pending_bp=5_000, avoid_refunds_bp=10_000, convert_carts_bp=10_000)
    )
    # 22.50 of the 45.00 pending captured, the 12.00 cart sold and captured, no refunds
    assert half.projected.captured == 60_00 + 22_50 + 12_00
    assert half.projected.pending == 22_50
    assert half.projected.refunded == 0
    assert half.projected.total == summary.total + 12_00
    assert half.delta["net"] == 22_50 + 12_00 + 10_00

    [doubled] = services.insights.what_if(ALICE, "alice", Assumptions(price_change_bp=10_000))
    assert (doubled.projected.total, doubled.projected.net) == (2 * summary.total, 2 * summary.net)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("capture_pending_bp", -1),
        ("win_back_voided_bp", 10_001),
        ("avoid_refunds_bp", 1.5),
        ("convert_carts_bp", True),
        ("price_change_bp", -10_001),
        ("price_change_bp", 100_001),
    ],
)
def test_out_of_range_assumptions_are_refused_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(InvalidInput) as refused:
        Assumptions(**{field: value})  # type: ignore[arg-type]
    assert refused.value.field == field


operations = st.lists(
    st.tuples(
        st.sampled_from(["record", "capture", "void", "refund", "cart"]),
        st.integers(0, 5),
        st.integers(1, 5_000),
        st.sampled_from(["USD", "EUR"]),
    ),
    max_size=12,
)
shares = st.integers(0, 10_000)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations, capture=shares, win_back=shares, avoid=shares, carts=shares, price=st.integers(-10_000, 100_000))
def test_every_figure_reconciles_with_the_ledger_and_projections_keep_the_identities(
    services: Services,
    clock: ManualClock,
    *,
    ops: list[tuple[str, int, int, str]],
    capture: int,
    win_back: int,
    avoid: int,
    carts: int,
    price: int,
) -> None:
    n = next(_creators)
    creator = Actor(f"ins-{n}")  # a fresh ledger per example, without resetting the database
    earnings = []
    for step, (op, which, amount, currency) in enumerate(ops):
        key = f"{creator.user_id}-{step}"
        try:
            if op == "cart":
                _product(services, creator, f"p{n}-{step}", amount, currency)
                services.feed.add_to_cart(Actor(f"buyer-{which}"), f"p{n}-{step}")
            elif op == "record" or not earnings:
                event = services.earnings.record(
                    SHOP, creator_id=creator.user_id, kind="sale", amount=amount, currency=currency, idempotency_key=key
                )
                earnings.append(event)
            elif op == "capture":
                earning = earnings[which % len(earnings)]
                services.earnings.capture(
                    SHOP, earning.id, currency=earning.currency, amount=amount, idempotency_key=key
                )
            elif op == "void":
                services.earnings.void(SHOP, earnings[which % len(earnings)].id, idempotency_key=key)
            else:
                earning = earnings[which % len(earnings)]
                services.earnings.refund(
                    ADMIN, earning.id, currency=earning.currency, amount=amount, reason="r", idempotency_key=key
                )
        except Conflict:
            continue
    clock.advance(STALE_CART)
    summaries = {each.currency: each for each in services.earnings.summary(creator, creator.user_id)}
    found = services.insights.opportunities(creator, creator.user_id)
    for opportunity in found:
        summary = summaries.get(opportunity.currency)
        if opportunity.kind is OpportunityKind.PENDING:
            assert summary is not None and opportunity.amount == summary.pending
        elif opportunity.kind is OpportunityKind.VOIDED:
            assert summary is not None and opportunity.amount == summary.voided
        elif opportunity.kind is OpportunityKind.REFUNDED:
            assert summary is not None and opportunity.amount == summary.refunded
    assert [each.amount for each in found] == sorted((each.amount for each in found), reverse=True)

    for baseline in services.insights.what_if(creator, creator.user_id, Assumptions()):
        assert baseline.projected == baseline.baseline
    assumptions = Assumptions(
        capture_pending_bp=capture,
        win_back_voided_bp=win_back,
        avoid_refunds_bp=avoid,
        convert_carts_bp=carts,
        price_change_bp=price,
    )
    for projection in services.insights.what_if(creator, creator.user_id, assumptions):
        p = projection.projected
        assert p.total == p.captured + p.pending + p.voided
        assert p.missed == p.total - p.captured
        assert p.net == p.captured - p.refunded
        assert 0 <= p.refunded <= p.captured
        assert min(p.pending, p.voided) >= 0
        if price == 0:
            assert p.captured >= projection.baseline.captured
