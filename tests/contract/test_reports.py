"""The reports contract, on both adapters: producer stats from the ledger (daily in the producer's
zone, DST days included), the reconciliation list with filters and a cursor, and the refusals of
bad input (naming the field)."""

from __future__ import annotations

import itertools
import os
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import EPOCH

from townsquare.bootstrap import Services
from townsquare.core.clock import ManualClock
from townsquare.core.errors import Conflict, Forbidden, InvalidCursor, InvalidInput, NotFound
from townsquare.core.events import Registration, RegistrationStatus, make_details
from townsquare.core.identity import Actor
from townsquare.core.reports import MoneyTotals, ProducerStats

EXAMPLES = int(os.environ.get("HYPOTHESIS_EXAMPLES", "25"))
PRODUCER = Actor("pat")
OTHER = Actor("olga")
ALICE = Actor("alice")
BOB = Actor("bob")
ADMIN = Actor("root", roles=["admin"])
LEDGER = Actor("shop", roles=["service"])
_producers = itertools.count()


def make_event(
    services: Services,
    producer: Actor = PRODUCER,
    *,
    event_id: str = "jazz",
    sales_start: datetime = EPOCH - timedelta(days=1),
    starts_at: datetime = EPOCH + timedelta(days=300),
    time_zone: str = "Europe/Berlin",
    price: int = 2_500,
) -> str:
    details = make_details(
        title="Jazz night",
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=3),
        time_zone=time_zone,
        venue="Keller, Berlin",
        sales_start=sales_start,
        sales_end=starts_at - timedelta(days=1),
        capacity=1_000,
        currency="EUR",
    )
    services.events.create_event(producer, details, event_id=event_id)
    services.events.add_ticket_type(producer, event_id, type_id="standard", name="Standard", price=price, quota=500)
    services.events.add_ticket_type(producer, event_id, type_id="vip", name="VIP", price=9_000, quota=10)
    services.events.publish(producer, event_id)
    return event_id


def bought(
    services: Services,
    attendee: Actor,
    key: str,
    *,
    event_id: str = "jazz",
    type_id: str = "standard",
    quantity: int = 1,
    code: str | None = None,
) -> Registration:
    held = services.events.reserve(attendee, event_id, type_id, quantity, idempotency_key=key, code=code)
    return services.events.confirm(attendee, held.registration_id, idempotency_key=f"pay-{key}")


def capture(services: Services, registration: Registration, amount: int | None = None, key: str = "c") -> None:
    assert registration.earning_id is not None
    services.earnings.capture(
        LEDGER,
        registration.earning_id,
        currency="EUR",
        amount=amount,
        idempotency_key=f"{key}-{registration.earning_id}",
    )


def money(stats: ProducerStats) -> MoneyTotals:
    (only,) = stats.money
    return only


# -- stats -------------------------------------------------------------------------------


def test_event_stats_are_the_ledger_sums_of_its_registrations(services: Services, clock: ManualClock) -> None:
    # Given an event with a code, paid, captured, refunded, cancelled, held and lapsed registrations
    make_event(services)
    services.events.create_code(
        PRODUCER,
        code="TEN",
        kind="percent",
        value=10,
        valid_from=EPOCH - timedelta(days=1),
        valid_until=EPOCH + timedelta(days=30),
    )
    bought(services, ALICE, "a1", quantity=2)  # 5,000 pending
    captured = bought(services, BOB, "b1", code="TEN")  # 2,250 (250 off), captured then refunded 1,000
    capture(services, captured)
    services.events.refund(PRODUCER, captured.registration_id, reason="late", idempotency_key="r1", amount=1_000)
    voided = bought(services, Actor("carl"), "c1", type_id="vip")  # 9,000 voided by the cancellation
    services.events.cancel(PRODUCER, voided.registration_id)
    lapsing = services.events.reserve(Actor("eve"), "jazz", "standard", 1, idempotency_key="e1")
    clock.advance(timedelta(minutes=10))
    services.events.reserve(Actor("dora"), "jazz", "standard", 3, idempotency_key="d1")  # live holds
    services.events.reserve(Actor("finn"), "jazz", "standard", 1, idempotency_key="f1")
    clock.advance(timedelta(minutes=6))  # eve's hold has lapsed, finn's has not

    # When the producer asks for the event's stats
    stats = services.reports.event_stats(PRODUCER, "jazz")

    # Then counts come from the registrations and money from the ledger
    assert stats.registrations == {
        "reserved": 2,
        "confirmed": 2,
        "cancelled": 1,
        "refunded": 0,
        "expired": 1,
    }
    assert lapsing.status is RegistrationStatus.RESERVED
    assert stats.tickets == 2 + 1 + 1
    figures = money(stats)
    assert (figures.gross, figures.discounts, figures.captured, figures.voided, figures.refunded) == (
        5_000 + 2_250 + 9_000,
        250,
        2_250,
        9_000,
        1_000,
    )
    assert figures.pending == 5_000
    assert figures.net == 1_250
    # and they equal the producer's ledger summary (their only earnings are these tickets)
    (summary,) = services.earnings.summary(PRODUCER, PRODUCER.user_id)
    assert (summary.total, summary.captured, summary.voided, summary.refunded, summary.net, summary.pending) == (
        figures.gross,
        figures.captured,
        figures.voided,
        figures.refunded,
        figures.net,
        figures.pending,
    )
    # and capacity is the seats held now per ticket type
    assert [(each.type_id, each.quota, each.held, each.left) for each in stats.capacity] == [
        ("standard", 500, 2 + 1 + 3 + 1, 500 - 7),
        ("vip", 10, 0, 10),
    ]
    # and the daily series (the event's zone, one day so far) adds up to the totals
    assert [(day.day, day.registrations, day.money) for day in stats.days] == [(date(2026, 1, 15), 6, (figures,))]
    assert stats.range.time_zone == "Europe/Berlin"
    assert stats.waitlist_demand == {"standard": 0, "vip": 0}


def test_event_stats_count_the_waitlist_demand_per_type(services: Services) -> None:
    # Given a sold-out VIP type and two people in its line
    make_event(services)
    bought(services, ALICE, "a1", type_id="vip", quantity=10)
    services.waitlist.join(BOB, "jazz", "vip")
    services.waitlist.join(Actor("carl"), "jazz", "vip")
    # Then the stats show the demand left waiting
    assert services.reports.event_stats(PRODUCER, "jazz").waitlist_demand == {"standard": 0, "vip": 2}


def _reserve_at(services: Services, clock: ManualClock, when: datetime, key: str) -> None:
    clock.set(when)
    bought(services, ALICE, key)


@pytest.mark.parametrize(
    "case",
    [
        # Spring forward in Berlin: 2026-03-29 has 23 hours (CET+1 until 01:00 UTC, then CEST+2).
        (
            (date(2026, 3, 28), date(2026, 3, 30)),
            [24, 23, 24],
            ["2026-03-28T22:59:00", "2026-03-28T23:30:00", "2026-03-29T21:30:00", "2026-03-29T22:30:00"],
            [1, 2, 1],
        ),
        # Fall back: 2026-10-25 has 25 hours (CEST+2 until 01:00 UTC, then CET+1).
        (
            (date(2026, 10, 24), date(2026, 10, 26)),
            [24, 25, 24],
            ["2026-10-24T21:30:00", "2026-10-24T22:30:00", "2026-10-25T22:30:00", "2026-10-25T23:30:00"],
            [1, 2, 1],
        ),
    ],
)
def test_days_are_the_producers_days_on_dst_changes(
    services: Services, clock: ManualClock, case: tuple[tuple[date, date], list[int], list[str], list[int]]
) -> None:
    days, hours, instants, expected = case
    # Given registrations made around a DST change
    make_event(services, sales_start=EPOCH, starts_at=datetime(2026, 12, 1, 18, tzinfo=UTC))
    for n, instant in enumerate(instants):
        _reserve_at(services, clock, datetime.fromisoformat(instant).replace(tzinfo=UTC), f"k{n}")
    # When the stats are bucketed in Berlin time
    stats = services.reports.producer_stats(PRODUCER, first_day=days[0], last_day=days[1], time_zone="Europe/Berlin")
    # Then the DST day has 23 or 25 hours and each registration is on its local day
    assert [day.hours for day in stats.days] == hours
    assert [day.registrations for day in stats.days] == expected
    assert [day.day for day in stats.days] == [days[0] + timedelta(days=i) for i in range(3)]
    assert sum(day.money[0].gross for day in stats.days if day.money) == money(stats).gross == 2_500 * 4
    # and in UTC the same instants fall on other days
    utc = services.reports.producer_stats(PRODUCER, first_day=days[0], last_day=days[1], time_zone="UTC")
    assert [day.hours for day in utc.days] == [24, 24, 24]
    assert [day.registrations for day in utc.days] != expected


def test_producer_stats_default_to_the_last_30_days_in_the_preferred_zone(services: Services) -> None:
    make_event(services)
    bought(services, ALICE, "a1")
    services.notifications.update_preferences(PRODUCER, {"timezone": "America/New_York"})
    stats = services.reports.producer_stats(PRODUCER)
    assert stats.range.time_zone == "America/New_York"
    assert (stats.range.first_day, stats.range.last_day) == (date(2025, 12, 17), date(2026, 1, 15))
    assert len(stats.days) == 30
    assert money(stats).gross == 2_500


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"first_day": date(2026, 1, 10), "last_day": date(2026, 1, 9)}, "to"),
        ({"first_day": date(2025, 1, 1), "last_day": date(2026, 1, 2)}, "to"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"time_zone": ""}, "time_zone"),
    ],
)
def test_bad_ranges_and_zones_are_refused_naming_the_field(
    services: Services, arguments: dict[str, object], field: str
) -> None:
    make_event(services)
    with pytest.raises(InvalidInput) as refused:
        services.reports.producer_stats(PRODUCER, **arguments)  # type: ignore[arg-type]
    assert refused.value.field == field
    with pytest.raises(InvalidInput) as refused:
        services.reports.event_stats(PRODUCER, "jazz", **arguments)  # type: ignore[arg-type]
    assert refused.value.field == field


def test_a_range_of_366_days_is_allowed(services: Services) -> None:
    stats = services.reports.producer_stats(PRODUCER, first_day=date(2025, 1, 15), last_day=date(2026, 1, 15))
    assert len(stats.days) == 366


def test_another_producers_figures_are_not_theirs(services: Services) -> None:
    make_event(services)
    bought(services, ALICE, "a1")
    with pytest.raises(NotFound) as missing:
        services.reports.event_stats(OTHER, "jazz")
    assert missing.value.field == "event_id"
    with pytest.raises(Forbidden) as forbidden:
        services.reports.producer_stats(OTHER, producer_id=PRODUCER.user_id)
    assert forbidden.value.field == "producer_id"
    # an attendee's own registration does not make it theirs either
    assert money(services.reports.producer_stats(PRODUCER)).gross == 2_500
    assert services.reports.producer_stats(ALICE).money == ()
    # an admin sees anyone's
    assert money(services.reports.event_stats(ADMIN, "jazz")).gross == 2_500
    assert money(services.reports.producer_stats(ADMIN, producer_id=PRODUCER.user_id)).gross == 2_500


# -- the property: every total is the sum over the ledger and registrations it covers --------

steps = st.lists(
    st.tuples(
        st.sampled_from(["buy", "hold", "capture", "refund", "cancel", "later"]),
        st.integers(0, 7),
        st.integers(1, 4),
    ),
    min_size=1,
    max_size=14,
)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=steps)
def test_every_total_is_the_sum_over_the_ledger_and_registrations(
    services: Services, clock: ManualClock, ops: list[tuple[str, int, int]]
) -> None:
    n = next(_producers)
    producer = Actor(f"prod-{n}")  # a fresh producer per example, without resetting the database
    began = clock.now()
    event_id = make_event(
        services,
        producer,
        event_id=f"ev-{n}",
        sales_start=began - timedelta(days=1),
        starts_at=began + timedelta(days=30),
    )
    made: list[Registration] = []
    for step, (op, which, amount) in enumerate(ops):
        key = f"{n}-{step}"
        try:
            if op == "buy" or (op not in {"hold", "later"} and not made):
                made.append(bought(services, Actor(f"a{which}"), key, event_id=event_id, quantity=amount))
            elif op == "hold":
                made.append(
                    services.events.reserve(Actor(f"a{which}"), event_id, "standard", amount, idempotency_key=key)
                )
            elif op == "capture":
                target = services.events.get_registration(producer, made[which % len(made)].registration_id)
                if target.earning_id is not None:
                    capture(services, target, amount=amount * 600, key=key)
            elif op == "refund":
                services.events.refund(
                    producer,
                    made[which % len(made)].registration_id,
                    reason="r",
                    idempotency_key=key,
                    amount=amount * 500,
                )
            elif op == "cancel":
                services.events.cancel(producer, made[which % len(made)].registration_id)
            else:
                clock.advance(timedelta(hours=amount * 5))
        except (Conflict, InvalidInput, NotFound):
            continue
    first = began.date()
    last = clock.now().date()
    stats = services.reports.event_stats(producer, event_id, first_day=first, last_day=last, time_zone="UTC")
    over_all = services.reports.producer_stats(producer, first_day=first, last_day=last, time_zone="UTC")

    # Expected: from each registration as the events service reads it, and its earning's balance
    now_seen = [services.events.get_registration(producer, each.registration_id) for each in made]
    counts = {status.value: 0 for status in RegistrationStatus}
    gross = captured = voided = refunded = discounts = tickets = 0
    for each in now_seen:
        counts[services.events.status_of(each).value] += 1
        if each.confirm_key is not None:
            tickets += each.quantity
            discounts += each.price.discount
        if each.earning_id is not None:
            balance = services.earnings.earning(producer, each.earning_id)
            gross += balance.earning.amount
            captured += balance.captured
            refunded += balance.refunded
            voided += balance.earning.amount if balance.voided else 0
    for report in (stats, over_all):
        assert report.registrations == counts
        assert report.tickets == tickets
        totals = report.money[0] if report.money else MoneyTotals(currency="EUR")
        assert (totals.gross, totals.captured, totals.voided, totals.refunded, totals.discounts) == (
            gross,
            captured,
            voided,
            refunded,
            discounts,
        )
        # the daily series adds up to the totals
        assert sum(day.registrations for day in report.days) == len(made)
        assert sum((m for day in report.days for m in day.money), MoneyTotals(currency="EUR")) == totals
    # and the ledger summary of the producer (only these tickets) is the same money
    summaries = services.earnings.summary(producer, producer.user_id)
    if summaries:
        (summary,) = summaries
        totals = stats.money[0]
        assert (summary.total, summary.captured, summary.voided, summary.refunded, summary.net) == (
            totals.gross,
            totals.captured,
            totals.voided,
            totals.refunded,
            totals.net,
        )


# -- reconciliation ----------------------------------------------------------------------


def _ids(registrations: tuple[Registration, ...] | list[Registration]) -> list[str]:
    return [each.registration_id for each in registrations]


def test_registrations_are_listed_with_filters_newest_first(services: Services, clock: ManualClock) -> None:
    # Given registrations of two types, with and without a code, on two days
    make_event(services)
    services.events.create_code(
        PRODUCER,
        code="TEN",
        kind="percent",
        value=10,
        valid_from=EPOCH - timedelta(days=1),
        valid_until=EPOCH + timedelta(days=30),
    )
    first = bought(services, ALICE, "a1")
    clock.advance(timedelta(minutes=1))
    vip = bought(services, BOB, "b1", type_id="vip")
    clock.advance(timedelta(days=1))
    coded = bought(services, Actor("carl"), "c1", code="TEN")
    clock.advance(timedelta(minutes=1))
    held = services.events.reserve(Actor("dora"), "jazz", "standard", 1, idempotency_key="d1")
    services.events.cancel(PRODUCER, first.registration_id)

    def listed(**filters: object) -> list[str]:
        where = services.reports.registration_filter(PRODUCER, **filters)  # type: ignore[arg-type]
        return _ids(services.reports.registrations(PRODUCER, where).registrations)

    # Then each filter narrows the list, newest first
    assert listed() == _ids([held, coded, vip, first])
    assert listed(event_id="jazz", type_id="vip") == _ids([vip])
    assert listed(code="ten") == _ids([coded])
    assert listed(status="cancelled") == _ids([first])
    assert listed(status="reserved") == _ids([held])
    assert listed(status="confirmed") == _ids([coded, vip])
    assert listed(first_day=date(2026, 1, 16), last_day=date(2026, 1, 16), time_zone="UTC") == _ids([held, coded])
    assert listed(first_day=date(2026, 1, 15), last_day=date(2026, 1, 15), time_zone="UTC") == _ids([vip, first])
    # and a lapsed hold is listed as expired before any job marks it
    clock.advance(timedelta(minutes=16))
    assert listed(status="expired") == _ids([held])
    assert listed(status="reserved") == []


def test_the_list_pages_by_cursor(services: Services, clock: ManualClock) -> None:
    make_event(services)
    made = []
    for n in range(5):
        made.append(bought(services, Actor(f"a{n}"), f"k{n}"))
        clock.advance(timedelta(seconds=1 if n % 2 else 0))  # ties on created_at are ordered by id
    where = services.reports.registration_filter(PRODUCER, event_id="jazz")
    seen: list[str] = []
    cursor = None
    while True:
        page = services.reports.registrations(PRODUCER, where, cursor=cursor, limit=2)
        seen.extend(_ids(page.registrations))
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    expected = sorted(made, key=lambda each: (each.created_at, each.registration_id), reverse=True)
    assert seen == _ids(expected)
    # a cursor of other filters is refused
    other = services.reports.registration_filter(PRODUCER, status="confirmed")
    first_page = services.reports.registrations(PRODUCER, where, limit=2)
    with pytest.raises(InvalidCursor):
        services.reports.registrations(PRODUCER, other, cursor=first_page.next_cursor, limit=2)


def test_the_list_is_the_producers_own_and_the_admin_sees_all(services: Services) -> None:
    make_event(services)
    make_event(services, OTHER, event_id="folk")
    mine = bought(services, ALICE, "a1")
    theirs = bought(services, ALICE, "a2", event_id="folk")
    with pytest.raises(Forbidden) as forbidden:
        services.reports.registration_filter(OTHER, producer_id=PRODUCER.user_id)
    assert forbidden.value.field == "producer_id"
    with pytest.raises(NotFound) as missing:
        services.reports.registration_filter(OTHER, event_id="jazz")
    assert missing.value.field == "event_id"
    with pytest.raises(Forbidden):
        services.reports.registration_filter(PRODUCER, every_producer=True)
    # a filter made for one producer is not another's to use
    where = services.reports.registration_filter(PRODUCER)
    with pytest.raises(Forbidden):
        services.reports.registrations(OTHER, where)
    # the attendee sees nothing of it as a producer
    assert services.reports.registrations(ALICE, services.reports.registration_filter(ALICE)).registrations == ()
    everyone = services.reports.registration_filter(ADMIN, every_producer=True)
    assert set(_ids(services.reports.registrations(ADMIN, everyone).registrations)) == {
        mine.registration_id,
        theirs.registration_id,
    }
    one = services.reports.registration_filter(ADMIN, every_producer=True, producer_id=OTHER.user_id)
    assert _ids(services.reports.registrations(ADMIN, one).registrations) == [theirs.registration_id]


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        ({"status": "paid"}, "status"),
        ({"type_id": "no spaces"}, "type_id"),
        ({"code": "!!"}, "code"),
        ({"first_day": date(2026, 1, 2)}, "to"),
        ({"last_day": date(2026, 1, 2)}, "from"),
        ({"first_day": date(2026, 1, 3), "last_day": date(2026, 1, 2)}, "to"),
        ({"first_day": date(2024, 1, 3), "last_day": date(2026, 1, 2)}, "to"),
        ({"time_zone": "Nowhere/City"}, "time_zone"),
        ({"event_id": "missing"}, "event_id"),
    ],
)
def test_bad_filters_are_refused_naming_the_field(services: Services, filters: dict[str, object], field: str) -> None:
    with pytest.raises((InvalidInput, NotFound)) as refused:
        services.reports.registration_filter(PRODUCER, **filters)  # type: ignore[arg-type]
    assert refused.value.field == field  # type: ignore[union-attr]
    where = services.reports.registration_filter(PRODUCER)
    with pytest.raises(InvalidInput) as bad_limit:
        services.reports.registrations(PRODUCER, where, limit=0)
    assert bad_limit.value.field == "limit"
