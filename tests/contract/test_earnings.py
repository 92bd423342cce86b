"""Contract tests of the earnings ledger: each runs once on the memory adapter and once on Postgres."""

from __future__ import annotations

from datetime import timedelta

import pytest

from townsquare.bootstrap import Services
from townsquare.core.clock import ManualClock
from townsquare.core.earnings import (
    EarningKind,
    EarningsService,
    EarningStatus,
    EventType,
    LedgerEvent,
    Summary,
    Tier,
    TierLadder,
    TimelineFilter,
    default_tier_ladder,
)
from townsquare.core.earnings.jobs import RECOMPUTE_JOB, RECONCILE_ALL_JOB
from townsquare.core.errors import Conflict, Forbidden, InvalidCursor, InvalidInput, NotFound
from townsquare.core.identity import Actor, system_actor
from townsquare.core.jobs import JobRunner, JobStatus

OPERATOR = system_actor("tests")


ALICE = Actor("alice")
BOB = Actor("bob")
ADMIN = Actor("root", roles=["admin"])
SHOP = Actor("commerce-backend", roles=["service"])


def sale(
    services: Services, amount: int = 10_000, key: str = "sale-1", creator: str = "alice", **extra: str
) -> LedgerEvent:
    return services.earnings.record(
        SHOP,
        creator_id=creator,
        kind=extra.get("kind", "sale"),
        amount=amount,
        currency=extra.get("currency", "USD"),
        idempotency_key=key,
    )


def usd(services: Services, creator: str = "alice") -> Summary:
    [summary] = [each for each in services.earnings.summary(ADMIN, creator) if each.currency == "USD"]
    return summary


def test_a_recorded_sale_is_pending_until_captured(services: Services) -> None:
    # Given a sale of $100.00 for alice
    earning = sale(services)
    # Then it is pending and counts as missed
    summary = usd(services)
    assert (summary.total, summary.captured, summary.pending, summary.missed, summary.net) == (
        10_000,
        0,
        10_000,
        10_000,
        0,
    )
    assert services.earnings.earning(ALICE, earning.id).status is EarningStatus.PENDING
    # When $60 of it is captured, then the rest
    services.earnings.capture(SHOP, earning.id, currency="USD", amount=6_000, idempotency_key="cap-1")
    assert services.earnings.earning(ALICE, earning.id).status is EarningStatus.PARTIALLY_CAPTURED
    services.earnings.capture(SHOP, earning.id, currency="USD", idempotency_key="cap-2")
    # Then all of it is captured and nothing is missed
    summary = usd(services)
    assert (summary.total, summary.captured, summary.pending, summary.missed, summary.net) == (
        10_000,
        10_000,
        0,
        0,
        10_000,
    )
    assert services.earnings.earning(ALICE, earning.id).status is EarningStatus.CAPTURED


def test_partial_refunds_never_exceed_what_was_captured(services: Services) -> None:
    # Given a $100 sale of which $80 is captured
    earning = sale(services)
    services.earnings.capture(SHOP, earning.id, currency="USD", amount=8_000, idempotency_key="cap")
    # When alice refunds $30 and then $50 (with reasons)
    services.earnings.refund(ALICE, earning.id, currency="USD", amount=3_000, reason="scratched", idempotency_key="r1")
    refund = services.earnings.refund(ALICE, earning.id, currency="USD", reason="returned", idempotency_key="r2")
    # Then the omitted amount was the rest of the refundable $50, and nothing more can be refunded
    assert refund.amount == 5_000
    assert refund.reason == "returned"
    with pytest.raises(Conflict, match="exceeds the refundable 0"):
        services.earnings.refund(ALICE, earning.id, currency="USD", amount=1, reason="again", idempotency_key="r3")
    summary = usd(services)
    assert (summary.captured, summary.refunded, summary.net, summary.missed) == (8_000, 8_000, 0, 2_000)


def test_a_refund_above_the_refundable_amount_is_refused_and_writes_nothing(services: Services) -> None:
    # Given $50 captured and $20 refunded
    earning = sale(services)
    services.earnings.capture(SHOP, earning.id, currency="USD", amount=5_000, idempotency_key="cap")
    services.earnings.refund(ALICE, earning.id, currency="USD", amount=2_000, reason="late", idempotency_key="r1")
    before = services.earnings.timeline(ADMIN, "alice").events
    # When a refund of $30.01 is asked
    with pytest.raises(Conflict, match="exceeds the refundable 3000") as refused:
        services.earnings.refund(ALICE, earning.id, currency="USD", amount=3_001, reason="x", idempotency_key="r2")
    # Then it names the amount and nothing was written
    assert refused.value.field == "amount"
    assert services.earnings.timeline(ADMIN, "alice").events == before
    assert usd(services).refunded == 2_000


def test_captures_never_exceed_the_earning(services: Services) -> None:
    earning = sale(services, amount=500)
    services.earnings.capture(SHOP, earning.id, currency="USD", amount=400, idempotency_key="cap-1")
    with pytest.raises(Conflict, match="exceeds the 100 still uncaptured"):
        services.earnings.capture(SHOP, earning.id, currency="USD", amount=101, idempotency_key="cap-2")
    services.earnings.capture(SHOP, earning.id, currency="USD", amount=100, idempotency_key="cap-3")
    with pytest.raises(Conflict, match="already fully captured"):
        services.earnings.capture(SHOP, earning.id, currency="USD", amount=1, idempotency_key="cap-4")
    assert usd(services).captured == 500


def test_a_voided_earning_cannot_be_captured_or_refunded_and_counts_as_missed(services: Services) -> None:
    # Given a voided $100 tip
    earning = sale(services, kind="tip")
    void = services.earnings.void(SHOP, earning.id, idempotency_key="void")
    assert (void.type, void.amount) == (EventType.VOID, 10_000)
    # When it is captured or refunded
    with pytest.raises(Conflict, match="voided"):
        services.earnings.capture(SHOP, earning.id, currency="USD", amount=100, idempotency_key="cap")
    with pytest.raises(Conflict, match="voided"):
        services.earnings.refund(ALICE, earning.id, currency="USD", amount=100, reason="x", idempotency_key="r")
    with pytest.raises(Conflict, match="already voided"):
        services.earnings.void(SHOP, earning.id, idempotency_key="void-again")
    # Then its amount is voided and missed, not pending
    summary = usd(services)
    assert (summary.total, summary.voided, summary.pending, summary.missed, summary.captured) == (
        10_000,
        10_000,
        0,
        10_000,
        0,
    )


def test_a_captured_earning_cannot_be_voided(services: Services) -> None:
    earning = sale(services)
    services.earnings.capture(SHOP, earning.id, currency="USD", amount=1, idempotency_key="cap")
    with pytest.raises(Conflict, match="refund what was captured instead"):
        services.earnings.void(SHOP, earning.id, idempotency_key="void")
    assert usd(services).voided == 0


def test_a_replayed_key_returns_the_same_event_and_writes_once(services: Services, clock: ManualClock) -> None:
    # Given a recorded sale, a capture and a refund
    first = sale(services)
    capture = services.earnings.capture(SHOP, first.id, currency="USD", amount=7_000, idempotency_key="cap")
    refund = services.earnings.refund(ALICE, first.id, currency="USD", amount=7_000, reason="r", idempotency_key="r")
    clock.advance(timedelta(minutes=5))
    # When each is retried with its key (the refund even though nothing is refundable now)
    assert sale(services) == first
    assert services.earnings.capture(SHOP, first.id, currency="USD", amount=7_000, idempotency_key="cap") == capture
    assert services.earnings.refund(ALICE, first.id, currency="USD", reason="r", idempotency_key="r") == refund
    # Then the ledger holds each once, stamped at the first write
    assert len(services.earnings.timeline(ALICE, "alice").events) == 3
    assert usd(services).events == 3
    assert first.recorded_at == clock.now() - timedelta(minutes=5)


@pytest.mark.parametrize(
    "change",
    [{"amount": 10_001}, {"kind": "tip"}, {"currency": "EUR"}],
    ids=["amount", "kind", "currency"],
)
def test_a_key_reused_with_other_content_is_a_conflict(services: Services, change: dict[str, object]) -> None:
    sale(services)
    request: dict[str, object] = {"creator_id": "alice", "kind": "sale", "amount": 10_000, "currency": "USD"}
    with pytest.raises(Conflict, match="already used for a different earning") as conflict:
        services.earnings.record(SHOP, idempotency_key="sale-1", **{**request, **change})  # type: ignore[arg-type]
    assert conflict.value.field == "idempotency_key"
    assert usd(services).events == 1


def test_a_key_reused_for_another_kind_of_event_is_a_conflict(services: Services) -> None:
    earning = sale(services)
    with pytest.raises(Conflict, match="already used"):
        services.earnings.capture(SHOP, earning.id, currency="USD", amount=10, idempotency_key="sale-1")
    services.earnings.capture(SHOP, earning.id, currency="USD", amount=10, idempotency_key="cap")
    with pytest.raises(Conflict, match="already used"):
        services.earnings.refund(ALICE, earning.id, currency="USD", amount=10, reason="x", idempotency_key="cap")
    assert usd(services).refunded == 0


@pytest.mark.parametrize(
    ("amount", "currency", "kind", "field"),
    [
        (0, "USD", "sale", "amount"),
        (-5, "USD", "sale", "amount"),
        (12.5, "USD", "sale", "amount"),
        (True, "USD", "sale", "amount"),
        (10**13, "USD", "sale", "amount"),
        (100, "XYZ", "sale", "currency"),
        (100, "usd", "sale", "currency"),
        (100, "USD", "gift", "kind"),
    ],
    ids=["zero", "negative", "float", "bool", "huge", "unknown-currency", "lowercase-currency", "unknown-kind"],
)
def test_bad_earnings_are_refused_and_write_nothing(
    services: Services, amount: object, currency: str, kind: str, field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        services.earnings.record(
            SHOP,
            creator_id="alice",
            kind=kind,
            amount=amount,
            currency=currency,
            idempotency_key="k",  # type: ignore[arg-type]
        )
    assert refused.value.field == field
    assert services.earnings.summary(ALICE, "alice") == []


def test_a_capture_or_refund_in_another_currency_is_refused(services: Services) -> None:
    earning = sale(services)
    with pytest.raises(InvalidInput, match="does not match the earning's currency USD"):
        services.earnings.capture(SHOP, earning.id, currency="EUR", amount=100, idempotency_key="cap")
    services.earnings.capture(SHOP, earning.id, currency="USD", amount=100, idempotency_key="cap")
    with pytest.raises(InvalidInput, match="does not match"):
        services.earnings.refund(ALICE, earning.id, currency="GBP", amount=100, reason="x", idempotency_key="r")
    with pytest.raises(InvalidInput, match="reason"):
        services.earnings.refund(ALICE, earning.id, currency="USD", amount=100, reason="  ", idempotency_key="r")
    assert usd(services).refunded == 0


def test_unknown_earnings_are_not_found(services: Services) -> None:
    earning = sale(services)
    capture = services.earnings.capture(SHOP, earning.id, currency="USD", amount=100, idempotency_key="cap")
    for missing in ["not-a-uuid", "00000000-0000-4000-8000-000000000000", capture.id]:
        with pytest.raises(NotFound):
            services.earnings.capture(SHOP, missing, currency="USD", amount=1, idempotency_key="c2")
        with pytest.raises(NotFound):
            services.earnings.earning(ADMIN, missing)


def test_who_may_do_what(services: Services) -> None:
    earning = sale(services)
    # Creators cannot record, capture or void (that is the commerce backend's job) ...
    with pytest.raises(Forbidden):
        services.earnings.record(ALICE, creator_id="alice", kind="tip", amount=1, currency="USD", idempotency_key="k")
    with pytest.raises(Forbidden):
        services.earnings.capture(ALICE, earning.id, currency="USD", amount=1, idempotency_key="c")
    with pytest.raises(Forbidden):
        services.earnings.void(ALICE, earning.id, idempotency_key="v")
    # ... and see, refund and recompute only their own ledger.
    services.earnings.capture(ADMIN, earning.id, currency="USD", amount=100, idempotency_key="c")
    with pytest.raises(NotFound):
        services.earnings.refund(BOB, earning.id, currency="USD", amount=1, reason="x", idempotency_key="r")
    with pytest.raises(NotFound):
        services.earnings.earning(BOB, earning.id)
    for read in (services.earnings.summary, services.earnings.timeline, services.earnings.tier):
        with pytest.raises(Forbidden):
            read(BOB, "alice")
    with pytest.raises(Forbidden):
        services.earnings.recompute(BOB, "alice")
    assert services.earnings.refund(ALICE, earning.id, currency="USD", amount=1, reason="x", idempotency_key="r")
    assert services.earnings.summary(BOB, "bob") == []


def test_summaries_are_per_currency_and_equal_the_sums_of_the_events(services: Services) -> None:
    # Given sales in two currencies and a mix of follow-ups
    a = sale(services, amount=1_000, key="a")
    b = sale(services, amount=2_500, key="b", currency="EUR")
    c = sale(services, amount=700, key="c", kind="subscription")
    services.earnings.capture(SHOP, a.id, currency="USD", amount=1_000, idempotency_key="ca")
    services.earnings.capture(SHOP, b.id, currency="EUR", amount=2_000, idempotency_key="cb")
    services.earnings.refund(ALICE, b.id, currency="EUR", amount=500, reason="late", idempotency_key="rb")
    services.earnings.void(SHOP, c.id, idempotency_key="vc")
    # Then each currency has its own summary, equal to what the events add up to
    summaries = {each.currency: each for each in services.earnings.summary(ALICE, "alice")}
    assert summaries["EUR"] == Summary("alice", "EUR", 2_500, 2_000, 500, 0, 500, 500, 1_500, 3)
    assert summaries["USD"] == Summary("alice", "USD", 1_700, 1_000, 0, 700, 700, 0, 1_000, 4)
    # And recompute agrees with the stored totals
    report = services.earnings.recompute(ALICE, "alice")
    assert (report.corrected, report.events) == (False, 7)


def test_timeline_is_newest_first_and_pages_without_gaps_or_duplicates(services: Services, clock: ManualClock) -> None:
    # Given 25 events, several sharing a timestamp
    written = []
    for n in range(25):
        if n % 3 == 0:
            clock.advance(timedelta(seconds=1))
        written.append(sale(services, amount=100 + n, key=f"s{n}"))
    # When alice pages through her timeline 10 at a time
    seen: list[LedgerEvent] = []
    page = services.earnings.timeline(ALICE, "alice", limit=10)
    seen += page.events
    while page.next_cursor:
        page = services.earnings.timeline(ALICE, "alice", cursor=page.next_cursor, limit=10)
        seen += page.events
    # Then she sees each event once, newest first
    assert sorted(seen, key=lambda e: (e.recorded_at, e.id), reverse=True) == seen
    assert {event.id for event in seen} == {event.id for event in written}
    assert len(seen) == 25


def test_timeline_filters_by_kind_type_and_dates(services: Services, clock: ManualClock) -> None:
    start = clock.now()
    tip = sale(services, key="tip", kind="tip")
    clock.advance(timedelta(hours=1))
    sub = sale(services, key="sub", kind="subscription")
    capture = services.earnings.capture(SHOP, tip.id, currency="USD", amount=5, idempotency_key="cap")
    clock.advance(timedelta(hours=1))
    sale(services, key="sale")

    def ids(where: TimelineFilter) -> list[str]:
        return [event.id for event in services.earnings.timeline(ALICE, "alice", where).events]

    # The tip's capture carries its kind and came an hour later
    assert ids(TimelineFilter(kinds=frozenset({EarningKind.TIP}))) == [capture.id, tip.id]
    assert ids(TimelineFilter(types=frozenset({EventType.CAPTURE}))) == [capture.id]
    window = TimelineFilter(since=start + timedelta(minutes=30), until=start + timedelta(minutes=90))
    assert sorted(ids(window)) == sorted([sub.id, capture.id])
    assert ids(TimelineFilter(since=start + timedelta(hours=3))) == []


def test_bad_timeline_requests_are_refused(services: Services, clock: ManualClock) -> None:
    for n in range(3):
        sale(services, key=f"s{n}")
    page = services.earnings.timeline(ALICE, "alice", limit=1)
    assert page.next_cursor
    # A cursor is bound to its filters and its creator
    with pytest.raises(InvalidCursor):
        services.earnings.timeline(
            ALICE, "alice", TimelineFilter(kinds=frozenset({EarningKind.TIP})), cursor=page.next_cursor
        )
    with pytest.raises(InvalidCursor):
        services.earnings.timeline(ADMIN, "bob", cursor=page.next_cursor)
    with pytest.raises(InvalidCursor):
        services.earnings.timeline(ALICE, "alice", cursor=page.next_cursor[:-2] + "xx")
    for limit in (0, 101):
        with pytest.raises(InvalidInput):
            services.earnings.timeline(ALICE, "alice", limit=limit)
    with pytest.raises(InvalidInput, match="before"):
        TimelineFilter(since=clock.now(), until=clock.now())
    with pytest.raises(InvalidInput, match="UTC offset"):
        TimelineFilter(since=clock.now().replace(tzinfo=None))


def test_tier_progress_uses_captured_net_earnings(services: Services) -> None:
    # Given $1,250 captured and $50 refunded, plus $5,000 still pending
    big = sale(services, amount=125_000, key="big")
    sale(services, amount=500_000, key="pending")
    services.earnings.capture(SHOP, big.id, currency="USD", amount=125_000, idempotency_key="cap")
    services.earnings.refund(ALICE, big.id, currency="USD", amount=5_000, reason="late", idempotency_key="r")
    # When alice looks at her tier
    status = services.earnings.tier(ALICE, "alice")
    # Then she is Silver ($1,200 net), 2.22% of the way to Gold, and sees what Gold unlocks
    assert (status.net, status.current.name, status.next and status.next.name) == (120_000, "Silver", "Gold")
    assert status.remaining == 1_000_000 - 120_000
    assert status.progress_basis_points == (120_000 - 100_000) * 10_000 // 900_000
    assert status.next is not None and status.next.unlocks


def test_recompute_of_a_creator_without_events_reports_nothing(services: Services) -> None:
    report = services.earnings.recompute(ADMIN, "nobody")
    assert (report.events, report.corrected) == (0, False)


def test_a_failing_transaction_leaves_no_event_behind(services: Services) -> None:
    # Given a sale recorded inside a transaction that then fails
    with pytest.raises(RuntimeError), services.uow.transaction():
        sale(services)
        raise RuntimeError("boom")
    # Then neither the event nor its totals exist
    assert services.earnings.summary(ALICE, "alice") == []
    assert services.earnings.timeline(ALICE, "alice").events == ()


def test_the_recompute_job_rebuilds_totals_through_the_worker(services: Services) -> None:
    # Given a sale and a queued recompute job
    sale(services)
    job_id = services.jobs.enqueue(RECOMPUTE_JOB, {"creator_id": "alice"})
    # When the worker runs it
    JobRunner(services.jobs, services.job_handlers).run_due()
    # Then it completed, and a job without a creator fails loudly instead of doing nothing
    assert services.jobs.get(OPERATOR, job_id).status is JobStatus.COMPLETED
    broken = services.jobs.enqueue(RECOMPUTE_JOB, {}, max_attempts=1)
    JobRunner(services.jobs, services.job_handlers).run_due()
    assert services.jobs.get(OPERATOR, broken).status is JobStatus.DEAD
    assert RECONCILE_ALL_JOB in {schedule.job_type for schedule in services.job_handlers.schedules}


def test_the_demo_ledger_is_deterministic_and_seeding_twice_adds_nothing(services: Services) -> None:
    from townsquare.demo import DEMO_USERS
    from townsquare.demo.earnings import seed

    alice = Actor(DEMO_USERS["alice"])
    seed(services)
    first = services.earnings.summary(alice, alice.user_id)
    seed(services)
    assert services.earnings.summary(alice, alice.user_id) == first
    assert services.earnings.tier(alice, alice.user_id).current.name == "Silver"
    assert not services.earnings.recompute(alice, alice.user_id).corrected


@pytest.mark.parametrize(
    ("net", "tier", "following", "remaining", "progress"),
    [
        (0, "Bronze", "Silver", 100_000, 0),
        (99_999, "Bronze", "Silver", 1, 9_999),
        (100_000, "Silver", "Gold", 900_000, 0),
        (5_000_000, "Platinum", None, 0, 10_000),
        (9_000_000, "Platinum", None, 0, 10_000),
    ],
)
def test_the_default_ladder(net: int, tier: str, following: str | None, remaining: int, progress: int) -> None:
    status = default_tier_ladder().status("alice", net)
    assert (status.current.name, status.next and status.next.name) == (tier, following)
    assert (status.remaining, status.progress_basis_points) == (remaining, progress)


@pytest.mark.parametrize(
    "tiers",
    [
        [],
        [Tier("A", 100)],
        [Tier("A", 0), Tier("B", 0)],
        [Tier("A", 0), Tier("A", 10)],
    ],
    ids=["empty", "not-from-zero", "not-increasing", "duplicate-names"],
)
def test_a_bad_ladder_is_refused_when_configured(tiers: list[Tier]) -> None:
    with pytest.raises(ValueError, match="tier"):
        TierLadder(currency="USD", tiers=tiers)


def test_a_configured_ladder_drives_the_tier(services: Services) -> None:
    # Given a service configured with a two-rung EUR ladder
    ladder = TierLadder(currency="EUR", tiers=[Tier("Starter", 0), Tier("Pro", 1_000, ["payouts daily"])])
    service = EarningsService(
        services.earnings._ledger,  # the wired ledger, with another ladder
        services.uow,
        services.clock,
        services.cursors,
        tiers=ladder,
    )
    earning = sale(services, amount=1_500, currency="EUR")
    services.earnings.capture(SHOP, earning.id, currency="EUR", idempotency_key="cap")
    # Then EUR earnings count and the top is reached
    status = service.tier(ALICE, "alice")
    assert (status.current.name, status.next, status.progress_basis_points) == ("Pro", None, 10_000)


@pytest.mark.parametrize("creator", ["", "a\nb", "x" * 201], ids=["empty", "newline", "long"])
def test_a_bad_creator_id_is_refused(services: Services, creator: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        services.earnings.record(SHOP, creator_id=creator, kind="tip", amount=1, currency="USD", idempotency_key="k")
    assert refused.value.field == "creator_id"
