"""The reports' hourly sums on Postgres (migration 0035): kept by the ledger's and the registrations'
own writes, they equal a recomputation over the ledger and the registrations after any sequence of
sales, holds, captures, voids, refunds, cancellations and expiries, also when writers race; and the
figures read from them equal the figures summed from the registrations themselves."""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import EPOCH
from townsquare.adapters.postgres.reports import PgReportStore
from townsquare.bootstrap import Services, bootstrap
from townsquare.core.clock import ManualClock
from townsquare.core.errors import Conflict, InvalidInput, NotFound
from townsquare.core.events import Registration, make_details
from townsquare.core.identity import Actor
from townsquare.core.reports import RegistrationFilter
from townsquare.core.reports.models import fold, make_range
from townsquare.settings import PortsMode, Settings

pytestmark = pytest.mark.postgres

EXAMPLES = int(os.environ.get("HYPOTHESIS_EXAMPLES", "25"))
LEDGER = Actor("shop", roles=["service"])
_producers = itertools.count()

# The sums recomputed from scratch: what the triggers must have kept.
_RECOUNT = """
SELECT producer_id, event_id, date_trunc('hour', created_at, 'UTC') AS hour, status, currency, count(*),
       coalesce(sum(quantity) FILTER (WHERE confirm_key IS NOT NULL), 0),
       coalesce(sum(discount) FILTER (WHERE confirm_key IS NOT NULL), 0)
FROM event_registrations WHERE producer_id = %(producer)s GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
"""
_KEPT_COUNTS = """
SELECT producer_id, event_id, hour, status, currency, registrations, tickets, discounts FROM report_hour_counts
WHERE producer_id = %(producer)s AND (registrations, tickets, discounts) <> (0, 0, 0) ORDER BY 1, 2, 3, 4, 5
"""
_REMONEY = """
SELECT r.producer_id, r.event_id, date_trunc('hour', r.created_at, 'UTC') AS hour, r.currency,
       coalesce(sum(l.amount) FILTER (WHERE l.type = 'earning'), 0),
       coalesce(sum(l.amount) FILTER (WHERE l.type = 'capture'), 0),
       coalesce(sum(l.amount) FILTER (WHERE l.type = 'void'), 0),
       coalesce(sum(l.amount) FILTER (WHERE l.type = 'refund'), 0)
FROM event_registrations r JOIN earning_events l ON coalesce(l.earning_id, l.id)::text = r.earning_id
WHERE r.producer_id = %(producer)s GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
"""
_KEPT_MONEY = """
SELECT producer_id, event_id, hour, currency, gross, captured, voided, refunded FROM report_hour_money
WHERE producer_id = %(producer)s AND (gross, captured, voided, refunded) <> (0, 0, 0, 0) ORDER BY 1, 2, 3, 4
"""


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(EPOCH)


@pytest.fixture
def pg_services(pg_url: str, clock: ManualClock) -> Iterator[Services]:
    settings = Settings(ports_mode=PortsMode.POSTGRES, database_url=pg_url, database_pool_size=12, seed_demo_data=False)
    wired = bootstrap(settings, clock=clock)
    try:
        yield wired
    finally:
        wired.close()


def make_event(services: Services, producer: Actor, event_id: str) -> str:
    began = services.clock.now() if hasattr(services, "clock") else EPOCH
    details = make_details(
        title="Show",
        starts_at=began + timedelta(days=60),
        ends_at=began + timedelta(days=60, hours=2),
        time_zone="Europe/Berlin",
        venue="Hall",
        sales_start=began - timedelta(days=1),
        sales_end=began + timedelta(days=59),
        capacity=1_000,
        currency="EUR",
    )
    services.events.create_event(producer, details, event_id=event_id)
    services.events.add_ticket_type(producer, event_id, type_id="standard", name="Standard", price=2_500, quota=900)
    services.events.publish(producer, event_id)
    return event_id


def assert_kept_equal_recomputed(pg_dsn: str, producer: str) -> None:
    with psycopg.connect(pg_dsn) as conn:
        params = {"producer": producer}
        assert conn.execute(_KEPT_COUNTS, params).fetchall() == conn.execute(_RECOUNT, params).fetchall()
        assert conn.execute(_KEPT_MONEY, params).fetchall() == conn.execute(_REMONEY, params).fetchall()


def figures_both_ways(pg_services: Services, pg_url: str, producer: str, event_id: str | None, zone: str) -> Any:
    """The stats' fold of the figures read from the hourly sums and from the registrations."""
    now = pg_services.events._clock.now()  # type: ignore[attr-defined]
    days = make_range(time_zone=zone, first_day=(EPOCH - timedelta(days=2)).date(), last_day=now.date())
    where = RegistrationFilter(producer_id=producer, event_id=event_id, since=days.start, until=days.end)
    store: PgReportStore = pg_services.reports._reports  # type: ignore[attr-defined]
    uow = pg_services.reports._uow  # type: ignore[attr-defined]
    with uow.transaction(actor=None):
        fast = store.figures_from_hours(where, days.boundaries, now)
        slow = store.figures_from_registrations(where, days.boundaries, now)
    return fold(days, fast), fold(days, slow)


steps = st.lists(
    st.tuples(
        st.sampled_from(["buy", "hold", "capture", "void", "refund", "cancel", "later", "expire"]),
        st.integers(0, 7),
        st.integers(1, 4),
    ),
    min_size=1,
    max_size=16,
)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=steps)
def test_the_hourly_sums_equal_a_recomputation_after_any_sequence(
    pg_services: Services, pg_url: str, pg_dsn: str, clock: ManualClock, ops: list[tuple[str, int, int]]
) -> None:
    n = next(_producers)
    producer = Actor(f"hp-{n}")
    clock.set(EPOCH)
    event_id = make_event(pg_services, producer, f"hev-{n}")
    made: list[Registration] = []
    for step, (op, which, amount) in enumerate(ops):
        key = f"{n}-{step}"
        attendee = Actor(f"a{which}")
        try:
            if op == "buy" or (op in {"capture", "void", "refund", "cancel"} and not made):
                held = pg_services.events.reserve(attendee, event_id, "standard", amount, idempotency_key=key)
                made.append(pg_services.events.confirm(attendee, held.registration_id, idempotency_key=f"p-{key}"))
            elif op == "hold":
                made.append(pg_services.events.reserve(attendee, event_id, "standard", amount, idempotency_key=key))
            elif op in {"capture", "void"}:
                target = pg_services.events.get_registration(producer, made[which % len(made)].registration_id)
                if target.earning_id is not None and op == "capture":
                    pg_services.earnings.capture(
                        LEDGER, target.earning_id, currency="EUR", amount=amount * 600, idempotency_key=f"c-{key}"
                    )
                elif target.earning_id is not None:
                    pg_services.earnings.void(LEDGER, target.earning_id, idempotency_key=f"v-{key}")
            elif op == "refund":
                pg_services.events.refund(
                    producer,
                    made[which % len(made)].registration_id,
                    reason="r",
                    idempotency_key=key,
                    amount=amount * 500,
                )
            elif op == "cancel":
                pg_services.events.cancel(producer, made[which % len(made)].registration_id)
            elif op == "later":
                clock.advance(timedelta(minutes=amount * 47))
            else:
                clock.advance(timedelta(hours=1))
                pg_services.events.expire_holds()
        except (Conflict, InvalidInput, NotFound):
            continue
    assert_kept_equal_recomputed(pg_dsn, producer.user_id)
    # And the figures read from them are the figures summed from the registrations, by event
    # and over every event, in UTC and in a zone with DST (lapsed holds seen as expired)
    for zone in ("UTC", "Europe/Berlin", "America/New_York"):
        for event in (event_id, None):
            fast, slow = figures_both_ways(pg_services, pg_url, producer.user_id, event, zone)
            assert fast == slow, (zone, event)


def test_racing_captures_refunds_and_cancellations_keep_the_sums_exact(
    pg_services: Services, pg_dsn: str, clock: ManualClock
) -> None:
    # Given 24 paid registrations of one event
    producer = Actor("racer")
    event_id = make_event(pg_services, producer, "race")
    made = []
    for i in range(24):
        attendee = Actor(f"fan-{i}")
        held = pg_services.events.reserve(attendee, event_id, "standard", 1, idempotency_key=f"k{i}")
        made.append(pg_services.events.confirm(attendee, held.registration_id, idempotency_key=f"p{i}"))
        if i % 5 == 0:
            clock.advance(timedelta(minutes=31))
    # When the payment backend captures each while the producer refunds and cancels them, racing
    start = threading.Barrier(3)

    def captures() -> None:
        start.wait()
        for each in made:
            assert each.earning_id is not None
            with contextlib.suppress(Conflict):
                pg_services.earnings.capture(
                    LEDGER, each.earning_id, currency="EUR", idempotency_key=f"c{each.registration_id}"
                )

    def refunds() -> None:
        start.wait()
        for each in made[::2]:
            with contextlib.suppress(Conflict, InvalidInput):
                pg_services.events.refund(
                    producer, each.registration_id, reason="r", idempotency_key=f"r{each.registration_id}"
                )

    def cancels() -> None:
        start.wait()
        for each in made[1::2]:
            with contextlib.suppress(Conflict, InvalidInput):
                pg_services.events.cancel(producer, each.registration_id)

    threads = [threading.Thread(target=work) for work in (captures, refunds, cancels)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    # Then the kept sums are the recomputed ones
    assert_kept_equal_recomputed(pg_dsn, "racer")
