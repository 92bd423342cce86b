"""Creator insights on both adapters: point-in-time summaries and the tier outlook (milestones, countdown)."""

from __future__ import annotations

import itertools
import os
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import EPOCH

from townsquare.bootstrap import Services
from townsquare.core.clock import ManualClock
from townsquare.core.earnings import LedgerEvent, Summary, Totals
from townsquare.core.errors import Conflict, Forbidden, InvalidInput
from townsquare.core.identity import Actor

EXAMPLES = int(os.environ.get("HYPOTHESIS_EXAMPLES", "25"))
ALICE = Actor("alice")
BOB = Actor("bob")
ADMIN = Actor("root", roles=["admin"])
SHOP = Actor("commerce-backend", roles=["service"])
_creators = itertools.count()


def expected_summaries(creator: str, events: list[LedgerEvent], as_of: datetime) -> list[Summary]:
    """The summary of the ledger filtered to events recorded at or before ``as_of`` (the model)."""
    sums: dict[str, Totals] = {}
    for event in events:
        if event.recorded_at <= as_of:
            sums[event.currency] = sums.get(event.currency, Totals(event.currency)) + Totals.of_event(event)
    return [Summary.of(creator, sums[currency]) for currency in sorted(sums)]


def test_a_capture_recorded_later_is_pending_as_of_before_it(services: Services, clock: ManualClock) -> None:
    # Given a $100 sale at noon, $60 captured an hour later and $10 of it refunded a day later
    sale = services.earnings.record(
        SHOP, creator_id="alice", kind="sale", amount=10_000, currency="USD", idempotency_key="s"
    )
    clock.advance(timedelta(hours=1))
    services.earnings.capture(SHOP, sale.id, currency="USD", amount=6_000, idempotency_key="c")
    clock.advance(timedelta(days=1))
    refund = services.earnings.refund(ALICE, sale.id, currency="USD", amount=1_000, reason="late", idempotency_key="r")

    def as_of(when: datetime) -> tuple[int, int, int, int]:
        [summary] = services.earnings.summary(ALICE, "alice", as_of=when) or [Summary.of("alice", Totals("USD"))]
        return summary.total, summary.captured, summary.pending, summary.net

    # Then each instant sees only what was recorded at or before it (the boundary included)
    assert as_of(EPOCH - timedelta(microseconds=1)) == (0, 0, 0, 0)
    assert as_of(EPOCH) == (10_000, 0, 10_000, 0)
    assert as_of(EPOCH + timedelta(minutes=59)) == (10_000, 0, 10_000, 0)
    assert as_of(EPOCH + timedelta(hours=1)) == (10_000, 6_000, 4_000, 6_000)
    assert as_of(refund.recorded_at) == (10_000, 6_000, 4_000, 5_000)
    # And as of now it is the stored summary
    assert services.earnings.summary(ALICE, "alice", as_of=clock.now()) == services.earnings.summary(ALICE, "alice")


def test_bad_instants_are_refused(services: Services, clock: ManualClock) -> None:
    for bad in [datetime(2026, 1, 1), clock.now() + timedelta(microseconds=1)]:
        with pytest.raises(InvalidInput) as refused:
            services.earnings.summary(ALICE, "alice", as_of=bad)
        assert refused.value.field == "as_of"


def test_only_the_creator_or_an_admin_sees_a_past_balance(services: Services, clock: ManualClock) -> None:
    services.earnings.record(SHOP, creator_id="alice", kind="tip", amount=500, currency="USD", idempotency_key="t")
    with pytest.raises(Forbidden):
        services.earnings.summary(BOB, "alice", as_of=clock.now())
    with pytest.raises(Forbidden):
        services.earnings.tier_outlook(BOB, "alice")
    assert services.earnings.summary(ADMIN, "alice", as_of=clock.now())[0].total == 500
    assert services.earnings.tier_outlook(ADMIN, "alice").status.net == 0


operations = st.lists(
    st.tuples(
        st.sampled_from(["record", "capture", "void", "refund"]),
        st.integers(0, 7),  # which earning
        st.integers(1, 5_000),  # amount
        st.sampled_from(["USD", "EUR"]),
        st.integers(0, 3 * 3600),  # seconds after the previous operation
    ),
    max_size=14,
)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations, picks=st.lists(st.integers(-3600, 12 * 3600 * 14), min_size=1, max_size=6))
def test_point_in_time_summary_equals_the_summary_of_the_ledger_up_to_the_instant(
    services: Services, clock: ManualClock, ops: list[tuple[str, int, int, str, int]], picks: list[int]
) -> None:
    creator = f"pit-{next(_creators)}"  # a fresh ledger per example, without resetting the database
    start = clock.now()
    earnings: list[LedgerEvent] = []
    events: list[LedgerEvent] = []
    for n, (op, which, amount, currency, gap) in enumerate(ops):
        clock.advance(timedelta(seconds=gap))
        key = f"{creator}-{n}"
        try:
            if op == "record" or not earnings:
                event = services.earnings.record(
                    SHOP, creator_id=creator, kind="sale", amount=amount, currency=currency, idempotency_key=key
                )
                earnings.append(event)
            else:
                earning = earnings[which % len(earnings)]
                if op == "capture":
                    event = services.earnings.capture(
                        SHOP, earning.id, currency=earning.currency, amount=amount, idempotency_key=key
                    )
                elif op == "void":
                    event = services.earnings.void(SHOP, earning.id, idempotency_key=key)
                else:
                    event = services.earnings.refund(
                        ADMIN, earning.id, currency=earning.currency, amount=amount, reason="r", idempotency_key=key
                    )
        except Conflict:
            continue  # refused by the rules: nothing written, nothing expected
        events.append(event)
    now = clock.now()
    # Instants at every event's own time (the boundary), and random ones up to now
    instants = [event.recorded_at for event in events] + [min(start + timedelta(seconds=pick), now) for pick in picks]
    for instant in instants:
        assert services.earnings.summary(ADMIN, creator, as_of=instant) == expected_summaries(creator, events, instant)
    assert services.earnings.summary(ADMIN, creator, as_of=now) == services.earnings.summary(ADMIN, creator)


days_of_operations = st.lists(
    st.tuples(
        st.sampled_from(["record", "capture", "void", "refund"]),
        st.integers(0, 7),  # which earning
        st.integers(1, 5_000),  # amount
        st.sampled_from(["USD", "EUR"]),
        # seconds after the previous operation: often none (a burst), often across a midnight
        st.sampled_from([0, 1, 3600]) | st.integers(0, 40 * 3600),
    ),
    max_size=14,
)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=days_of_operations, offsets=st.lists(st.integers(-3 * 3600, 3 * 3600), max_size=4))
def test_point_in_time_summaries_are_exact_at_day_edges_and_in_between(
    services: Services, clock: ManualClock, ops: list[tuple[str, int, int, str, int]], offsets: list[int]
) -> None:
    """Postgres answers from per-UTC-day checkpoints plus the tail of events of the instant's day:
    instants on a midnight, a microsecond either side of it, on an event recorded at midnight
    exactly, and in between must all equal the summary of the events up to them."""
    creator = f"edge-{next(_creators)}"
    # Start a second before a UTC midnight, so the first events straddle it
    midnight = datetime.combine(clock.now().date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    clock.set(midnight - timedelta(seconds=1))
    start = clock.now()
    earnings: list[LedgerEvent] = []
    events: list[LedgerEvent] = []
    for n, (op, which, amount, currency, gap) in enumerate(ops):
        clock.advance(timedelta(seconds=gap))
        if n == 1 and clock.now() < midnight:
            clock.set(midnight)  # one event recorded on the midnight itself
        key = f"{creator}-{n}"
        try:
            if op == "record" or not earnings:
                event = services.earnings.record(
                    SHOP, creator_id=creator, kind="sale", amount=amount, currency=currency, idempotency_key=key
                )
                earnings.append(event)
            else:
                earning = earnings[which % len(earnings)]
                if op == "capture":
                    event = services.earnings.capture(
                        SHOP, earning.id, currency=earning.currency, amount=amount, idempotency_key=key
                    )
                elif op == "void":
                    event = services.earnings.void(SHOP, earning.id, idempotency_key=key)
                else:
                    event = services.earnings.refund(
                        ADMIN, earning.id, currency=earning.currency, amount=amount, reason="r", idempotency_key=key
                    )
        except Conflict:
            continue
        events.append(event)
    now = clock.now()
    edges = []
    day = start.date()
    while (edge := datetime.combine(day, datetime.min.time(), tzinfo=UTC)) <= now + timedelta(days=1):
        edges += [edge - timedelta(microseconds=1), edge, edge + timedelta(microseconds=1)]
        edges += [edge + timedelta(seconds=offset) for offset in offsets]
        day += timedelta(days=1)
    instants = [event.recorded_at for event in events] + [each for each in edges if each <= now]
    for instant in instants:
        assert services.earnings.summary(ADMIN, creator, as_of=instant) == expected_summaries(creator, events, instant)
    assert services.earnings.summary(ADMIN, creator, as_of=now) == services.earnings.summary(ADMIN, creator)


def test_the_outlook_counts_down_at_the_pace_of_the_last_30_days(services: Services, clock: ManualClock) -> None:
    # Given $200 captured 40 days ago (outside the window) and $300 captured 10 days ago
    def captured(amount: int, key: str) -> None:
        sale = services.earnings.record(
            SHOP, creator_id="alice", kind="sale", amount=amount, currency="USD", idempotency_key=key
        )
        services.earnings.capture(SHOP, sale.id, currency="USD", idempotency_key=f"{key}-c")

    captured(200_00, "old")
    clock.advance(timedelta(days=30))
    captured(300_00, "recent")
    clock.advance(timedelta(days=10))
    outlook = services.earnings.tier_outlook(ALICE, "alice")
    # Then she is Bronze with $500 to go to Silver, at $300 per 30 days: 50 days from now
    assert (outlook.status.current.name, outlook.status.next and outlook.status.next.name) == ("Bronze", "Silver")
    assert [(m.tier.name, m.reached, m.remaining) for m in outlook.milestones] == [
        ("Bronze", True, 0),
        ("Silver", False, 500_00),
        ("Gold", False, 9_500_00),
        ("Platinum", False, 49_500_00),
    ]
    assert outlook.countdown is not None
    assert (outlook.countdown.remaining, outlook.countdown.pace) == (500_00, 300_00)
    assert outlook.countdown.eta == clock.now() + timedelta(days=50)
    # When 31 quiet days pass, the pace is zero and there is no date
    clock.advance(timedelta(days=31))
    quiet = services.earnings.tier_outlook(ALICE, "alice").countdown
    assert quiet is not None
    assert (quiet.remaining, quiet.pace, quiet.eta) == (500_00, 0, None)
