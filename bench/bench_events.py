"""Events benchmark: reserve + confirm with a discount code (the ledger write included), 8 callers
on distinct events and 8 callers all on one hot event; the waitlist's promotion of 10,000 entries
after a quota raise; each beside its bare-driver floor.

Run: ``.venv/bin/python bench/bench_events.py`` (``BENCH_SCALE=0.1`` for a quick run). It drops
and recreates the database ``bench_events`` on ``BENCH_PG`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``) and prints one JSON document.

Floor: the checkout's own statements sent by psycopg alone on 8 connections: the reservation's
two autocommit calls (``app.events_checkout``, ``app.events_hold``), then the confirmation's
transaction (role switch, ``app.events_lock_for_confirm``, the ledger append with its totals
upsert, the registration's update): no unit of work, no models, no rules.
The promotion's floor: the bare INSERTs of as many holds, by psycopg in one
transaction (``executemany``, pipelined), and the same rows as one ``unnest`` statement.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from common import SCALE, database_dsn, fresh_database, percentiles, scaled
from townsquare.adapters.postgres.earnings import creator_lock_key
from townsquare.bootstrap import Services, bootstrap
from townsquare.core.clock import ManualClock
from townsquare.core.events import make_details
from townsquare.core.identity import Actor
from townsquare.core.jobs import JobRunner
from townsquare.settings import PortsMode, Settings

DATABASE = "bench_events"
CALLERS = 8
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


_WINDOW = {
    "starts_at": NOW + timedelta(days=30),
    "sales_start": NOW - timedelta(days=1),
    "sales_end": NOW + timedelta(days=29),
}


def make_event(services: Services, event_id: str, seats: int) -> None:
    producer = Actor("producer")
    services.events.create_event(
        producer,
        make_details(
            title=f"Show {event_id}",
            starts_at=_WINDOW["starts_at"],
            ends_at=NOW + timedelta(days=30, hours=2),
            time_zone="Europe/Paris",
            venue="Hall",
            sales_start=_WINDOW["sales_start"],
            sales_end=_WINDOW["sales_end"],
            capacity=seats,
            currency="EUR",
        ),
        event_id=event_id,
    )
    services.events.add_ticket_type(producer, event_id, type_id="standard", name="Standard", price=2_500, quota=seats)
    services.events.publish(producer, event_id)


def run_callers(work: Any, per_caller: int) -> tuple[float, list[float]]:
    """Run ``work(caller, n)`` ``per_caller`` times on each of 8 threads; (seconds, latencies)."""
    latencies: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(CALLERS + 1)

    def caller(number: int) -> None:
        mine: list[float] = []
        barrier.wait()
        for n in range(per_caller):
            started = time.perf_counter()
            work(number, n)
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(CALLERS)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, latencies


def bench_checkouts(services: Services, per_caller: int, *, hot: bool) -> dict[str, Any]:
    prefix = "hot" if hot else "cold"
    events = [f"{prefix}-0"] if hot else [f"{prefix}-{n}" for n in range(CALLERS)]
    for event_id in events:
        make_event(services, event_id, CALLERS * per_caller * 2)

    def checkout(caller: int, n: int) -> None:
        buyer = Actor(f"{prefix}-buyer-{caller}-{n}")
        event_id = events[0] if hot else events[caller]
        held = services.events.reserve(buyer, event_id, "standard", 1, idempotency_key="k", code="BENCH")
        services.events.confirm(buyer, held.registration_id, idempotency_key="pay")

    seconds, latencies = run_callers(checkout, per_caller)
    total = CALLERS * per_caller
    return {"checkouts": total, "per_second": round(total / seconds, 1), **percentiles(latencies)}


# The floor: the checkout's own statements (issue 17's shape), sent by psycopg alone.
# Reserve: two autocommit calls. Confirm: one transaction (role switch, the locks, the ledger
# append with its totals, the registration's update).
_FLOOR_CHECKOUT = "SELECT * FROM app.events_checkout('townsquare_system', NULL, %(e)s, 'BENCH', %(r)s)"
_FLOOR_PLACE_HOLD = (
    "SELECT app.events_hold('townsquare_system', NULL, %(r)s, %(e)s, 'standard', %(a)s, 'producer', 1, 'EUR', "
    "2500, 2500, 250, 2250, %(exp)s, 'k', 'BENCH', %(now)s, 'published', %(sales_start)s, %(sales_end)s, "
    "%(starts_at)s, %(seats)s, %(seats)s, NULL, NULL)"
)
_FLOOR_ROLE = "SELECT set_config('role', 'townsquare_system', true)"
_FLOOR_LOCK_FOR_CONFIRM = "SELECT * FROM app.events_lock_for_confirm(NULL, NULL, %(r)s, %(a)s, 'pay')"
_FLOOR_EARNING = """
    WITH gate AS MATERIALIZED (SELECT pg_advisory_xact_lock_shared(%(creator_lock)s)),
    appended AS (
        INSERT INTO earning_events (id, creator_id, type, kind, earning_id, amount, currency, idempotency_key, reason,
                                    recorded_at)
        SELECT %(id)s, 'producer', 'earning', 'ticket', NULL, 2250, 'EUR', %(key)s, NULL, %(now)s FROM gate
        ON CONFLICT (id) DO NOTHING RETURNING id
    )
    INSERT INTO earning_totals AS t (creator_id, currency, shard, total, captured, voided, refunded, events)
    SELECT 'producer', 'EUR', %(shard)s, 2250, 0, 0, 0, 1 FROM appended
    ON CONFLICT (creator_id, currency, shard) DO UPDATE SET total = t.total + excluded.total, events = t.events + 1
"""
_FLOOR_CONFIRM = (
    "UPDATE event_registrations SET status = 'confirmed', expires_at = NULL, refunded = 0, confirm_key = 'pay', "
    "earning_id = %(id)s, updated_at = %(now)s WHERE registration_id = %(r)s"
)


def bench_floor(url: str, per_caller: int, *, hot: bool) -> dict[str, Any]:
    """The checkout's statements by psycopg alone (no unit of work, no models, no rules)."""
    dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
    prefix = "hot" if hot else "cold"
    connections = [psycopg.connect(dsn, autocommit=True) for _ in range(CALLERS)]
    lock = creator_lock_key("producer")

    def checkout(caller: int, n: int) -> None:
        conn = connections[caller]
        event_id = f"{prefix}-0" if hot else f"{prefix}-{caller}"
        registration = str(uuid.uuid4())
        earning = uuid.uuid4()
        params = {
            "e": event_id,
            "now": NOW,
            "exp": NOW + timedelta(minutes=15),
            "r": registration,
            "a": f"floor-{prefix}-{caller}-{n}",
            "id": earning,
            "key": f"floor:{registration}",
            "creator_lock": lock,
            "shard": earning.int % 16,
            "seats": CALLERS * per_caller * 2,
            **_WINDOW,
        }
        conn.execute(_FLOOR_CHECKOUT, params).fetchall()
        outcome = conn.execute(_FLOOR_PLACE_HOLD, params).fetchone()
        assert outcome is not None and outcome[0] == "held", outcome
        with conn.transaction():
            conn.execute(_FLOOR_ROLE)
            conn.execute(_FLOOR_LOCK_FOR_CONFIRM, params).fetchall()
            conn.execute(_FLOOR_EARNING, params)
            conn.execute(_FLOOR_CONFIRM, {**params, "id": str(earning)})

    try:
        seconds, latencies = run_callers(checkout, per_caller)
    finally:
        for conn in connections:
            conn.close()
    total = CALLERS * per_caller
    return {"checkouts": total, "per_second": round(total / seconds, 1), **percentiles(latencies)}


def bench_promotion(services: Services, url: str, entries: int) -> dict[str, Any]:
    """Raise a sold-out type's quota by ``entries`` with as many people in line; time the promotion.

    The line is inserted directly (setup, not measured). Measured: the quota raise (which
    queues the promotion job) and the promotion itself, as the job runs it: every offer a hold
    plus its entry's update plus its announcement job, 1,000 per transaction.
    """
    producer = Actor("producer")
    make_event(services, "line", 1 + entries)
    services.events.update_ticket_type(producer, "line", "standard", quota=1)  # sold out at one ticket
    held = services.events.reserve(Actor("first"), "line", "standard", 1, idempotency_key="k")
    services.events.confirm(Actor("first"), held.registration_id, idempotency_key="pay")
    dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "INSERT INTO event_waitlist (entry_id, event_id, type_id, user_id, producer_id, seq, status, joined_at, "
            "updated_at) SELECT 'line-' || n, 'line', 'standard', 'fan-' || n, 'producer', n, 'waiting', "
            "%(now)s + n * interval '1 millisecond', %(now)s FROM generate_series(1, %(count)s) AS n",
            {"now": NOW - timedelta(hours=1), "count": entries},
        )
        conn.execute("ANALYZE event_waitlist")
    started = time.perf_counter()
    services.events.update_ticket_type(producer, "line", "standard", quota=1 + entries)
    raised = time.perf_counter()
    offers = services.waitlist.promote("line")
    finished = time.perf_counter()
    assert offers == entries, (offers, entries)
    # The announcements go out after, one job per offer (in-app and email): a sample of them.
    sample = min(entries, scaled(500))
    runner = JobRunner(services.jobs, services.job_handlers)
    sent_from = time.perf_counter()
    report = runner.run_due(max_jobs=sample, schedules=[])
    sent_seconds = time.perf_counter() - sent_from
    return {
        "entries": entries,
        "offers": offers,
        "seconds": round(finished - started, 3),
        "quota_raise_ms": round((raised - started) * 1000, 3),
        "offers_per_second": round(offers / (finished - raised), 1),
        "announcement_jobs_sampled": report.completed,
        "announcement_jobs_per_second": round(report.completed / sent_seconds, 1),
    }


_FLOOR_HOLD = (
    "INSERT INTO event_registrations (registration_id, event_id, type_id, attendee_id, producer_id, quantity, "
    "currency, unit_price, subtotal, discount, total, status, expires_at, reserve_key, created_at, updated_at) "
    "VALUES (%(r)s, 'line-floor', 'standard', %(a)s, 'producer', 1, 'EUR', 2500, 2500, 0, 2500, 'reserved', "
    "%(exp)s, %(k)s, %(now)s, %(now)s)"
)
_FLOOR_HOLDS = (
    "INSERT INTO event_registrations (registration_id, event_id, type_id, attendee_id, producer_id, quantity, "
    "currency, unit_price, subtotal, discount, total, status, expires_at, reserve_key, created_at, updated_at) "
    "SELECT 'unnest-' || n, 'line-floor', 'standard', 'unnest-fan-' || n, 'producer', 1, 'EUR', 2500, 2500, 0, "
    "2500, 'reserved', %(exp)s, 'waitlist:' || n, %(now)s, %(now)s FROM generate_series(1, %(count)s) AS n"
)


def bench_promotion_floor(services: Services, url: str, entries: int) -> dict[str, Any]:
    """The bare INSERTs of ``entries`` holds: psycopg alone, one transaction, no entries, no jobs."""
    make_event(services, "line-floor", 2 * entries)
    dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
    params = [
        {
            "r": str(uuid.uuid4()),
            "a": f"floor-fan-{n}",
            "k": f"waitlist:{n}",
            "now": NOW,
            "exp": NOW + timedelta(days=1),
        }
        for n in range(entries)
    ]
    with psycopg.connect(dsn) as conn:
        started = time.perf_counter()
        with conn.transaction(), conn.cursor() as cursor:
            cursor.executemany(_FLOOR_HOLD, params)
        many = time.perf_counter() - started
        started = time.perf_counter()
        with conn.transaction():
            conn.execute(_FLOOR_HOLDS, {"now": NOW, "exp": NOW + timedelta(days=1), "count": entries})
        one = time.perf_counter() - started
    return {"holds": entries, "executemany_seconds": round(many, 3), "one_statement_seconds": round(one, 3)}


def main() -> None:
    url = fresh_database(DATABASE)
    settings = Settings(ports_mode=PortsMode.POSTGRES, database_url=url, seed_demo_data=False, database_pool_size=10)
    clock = ManualClock(NOW)
    services = bootstrap(settings, clock=clock)
    services.events.create_code(
        Actor("producer"),
        code="BENCH",
        kind="percent",
        value=10,
        valid_from=NOW - timedelta(days=1),
        valid_until=NOW + timedelta(days=10),
    )
    per_caller = scaled(500)
    figures: dict[str, Any] = {"scale": SCALE, "callers": CALLERS, "database": database_dsn(DATABASE)}
    figures["distinct_events"] = bench_checkouts(services, per_caller, hot=False)
    figures["distinct_events_floor"] = bench_floor(url, per_caller, hot=False)
    figures["hot_event"] = bench_checkouts(services, per_caller, hot=True)
    figures["hot_event_floor"] = bench_floor(url, per_caller, hot=True)
    line = scaled(10_000)
    figures["waitlist_promotion"] = bench_promotion(services, url, line)
    figures["waitlist_promotion_floor"] = bench_promotion_floor(services, url, line)
    services.close()
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
