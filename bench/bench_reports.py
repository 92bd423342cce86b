"""Reports benchmark (issue 18): stats over an event with 100,000 registrations (p99), the CSV export
of 100,000 registrations (rows/s, peak RSS), a bulk refund of 1,000 registrations through a real
worker process, and the point-in-time earnings summary over 1,000,000 ledger events (p99); each
beside its bare-driver floor.

Run: ``.venv/bin/python bench/bench_reports.py`` (``BENCH_SCALE=0.1`` for a quick run,
``BENCH_ONLY=stats,csv,bulk,as_of`` to pick sections). It drops
and recreates the database ``bench_reports`` on ``BENCH_PG`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``), starts ``townsquare worker`` for the bulk
refund, and prints one JSON document.

Data is inserted with SQL (setup, not measured): registrations spread over the last 30 days,
each with its ledger earning, half of them captured, a tenth partly refunded.

Floors: the same reads by psycopg alone as the superuser (no unit of work, no role switch, no
row-level security, no models): the figures' and held seats' statements over the hourly sums
(and the aggregate over the registrations and their ledger events, the statement before
them); a server-side cursor over the same columns written with ``csv.writer``; the refunds'
statements (lock the event, the registration and the earning, sum its follow-ups, insert the
refund, update the registration and the item), one transaction per registration on one
connection; the as-of statement over the checkpoints (and the scan of every event up to the
instant, the statement before them).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import resource
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg

from common import SCALE, database_dsn, fresh_database, machine, percentiles, scaled
from running import Worker, base_env, wait_until
from townsquare.bootstrap import Services, bootstrap
from townsquare.core.clock import SystemClock
from townsquare.core.events import make_details
from townsquare.core.identity import Actor
from townsquare.core.reports import bulk
from townsquare.core.reports.bulk import MAX_PARTS
from townsquare.settings import PortsMode, Settings

DATABASE = "bench_reports"
PRODUCER = Actor("producer")
WHALE = "whale"
SAMPLES = 50
STATS_SAMPLES = 200  # a p99 of 50 samples is their maximum
SECTIONS = ("stats", "csv", "bulk", "as_of")
# BENCH_ONLY=stats,csv runs only those sections (default: all four).
ONLY = frozenset(os.environ.get("BENCH_ONLY", ",".join(SECTIONS)).split(","))


def make_event(services: Services, event_id: str, seats: int, now: datetime) -> None:
    services.events.create_event(
        PRODUCER,
        make_details(
            title=f"Show {event_id}",
            starts_at=now + timedelta(days=30),
            ends_at=now + timedelta(days=30, hours=2),
            time_zone="Europe/Paris",
            venue="Hall",
            sales_start=now - timedelta(days=40),
            sales_end=now + timedelta(days=29),
            capacity=seats,
            currency="EUR",
        ),
        event_id=event_id,
    )
    services.events.add_ticket_type(PRODUCER, event_id, type_id="standard", name="Standard", price=2_500, quota=seats)
    services.events.publish(PRODUCER, event_id)


_REGISTRATIONS = """
INSERT INTO event_registrations (registration_id, event_id, type_id, attendee_id, producer_id, quantity, currency,
    unit_price, subtotal, discount, total, status, expires_at, refunded, reserve_key, confirm_key, earning_id,
    created_at, updated_at)
SELECT %(event)s || '-' || n, %(event)s, 'standard', 'fan-' || n, 'producer', 1, 'EUR', 2500, 2500, 0, 2500,
    'confirmed', NULL, CASE WHEN %(refunds)s AND n %% 10 = 0 THEN 1000 ELSE 0 END, 'k', 'pay-' || %(event)s,
    md5(%(event)s || '-' || n)::uuid::text, %(now)s - (n %% 43200) * interval '1 minute', %(now)s
FROM generate_series(1, %(count)s) AS n
"""
_EARNINGS = """
INSERT INTO earning_events (id, creator_id, type, kind, amount, currency, idempotency_key, recorded_at)
SELECT md5(%(event)s || '-' || n)::uuid, 'producer', 'earning', 'ticket', 2500, 'EUR',
    'events.registration:' || %(event)s || '-' || n, %(now)s - (n %% 43200) * interval '1 minute'
FROM generate_series(1, %(count)s) AS n
"""
_FOLLOW_UPS = """
INSERT INTO earning_events (id, creator_id, type, kind, earning_id, amount, currency, idempotency_key, reason,
    recorded_at)
SELECT gen_random_uuid(), 'producer', %(type)s, 'ticket', md5(%(event)s || '-' || n)::uuid, %(amount)s, 'EUR',
    %(type)s || ':' || %(event)s || '-' || n, %(reason)s, %(now)s
FROM generate_series(1, %(count)s) AS n WHERE n %% %(every)s = 0
"""


def insert_registrations(dsn: str, event: str, count: int, now: datetime, *, refunds: bool = True) -> None:
    params = {"event": event, "count": count, "now": now, "refunds": refunds}
    with psycopg.connect(dsn) as conn:
        conn.execute(_REGISTRATIONS, params)
        conn.execute(_EARNINGS, params)
        conn.execute(
            _FOLLOW_UPS, {**params, "type": "capture", "amount": 2500, "reason": None, "every": 2 if refunds else 1}
        )
        if refunds:
            conn.execute(_FOLLOW_UPS, {**params, "type": "refund", "amount": 1000, "reason": "r", "every": 10})
    vacuum(dsn)


def vacuum(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE event_registrations")
        conn.execute("VACUUM ANALYZE earning_events")
        conn.execute("VACUUM ANALYZE earning_days")


# -- stats -------------------------------------------------------------------------------

_FLOOR_FIGURES = """
SELECT width_bucket(r.created_at, %(bounds)s::timestamptz[]) - 1 AS day, r.status, r.currency, count(*),
       sum(r.quantity), sum(r.discount), sum(e.amount), sum(f.captured), sum(f.voided), sum(f.refunded)
FROM event_registrations r
LEFT JOIN earning_events e ON e.id = r.earning_id::uuid AND e.type = 'earning'
LEFT JOIN LATERAL (
    SELECT sum(x.amount) FILTER (WHERE x.type = 'capture') AS captured,
           sum(x.amount) FILTER (WHERE x.type = 'void') AS voided,
           sum(x.amount) FILTER (WHERE x.type = 'refund') AS refunded
    FROM earning_events x WHERE x.earning_id = e.id AND x.type <> 'earning') f ON e.id IS NOT NULL
WHERE r.producer_id = 'producer' AND r.event_id = 'big' AND r.created_at >= %(start)s AND r.created_at < %(end)s
GROUP BY 1, 2, 3
"""


# The statements the hourly sums answer with (the adapter's), by the driver alone.
_FLOOR_FIGURES_HOURS = """
SELECT width_bucket(hour, %(bounds)s::timestamptz[]) - 1 AS day, status, currency, sum(registrations), sum(tickets),
       sum(discounts), sum(gross), sum(captured), sum(voided), sum(refunded)
FROM (
    SELECT hour, status, currency, registrations, tickets, discounts, 0 AS gross, 0 AS captured, 0 AS voided,
           0 AS refunded
    FROM report_hour_counts
    WHERE producer_id = 'producer' AND event_id = 'big' AND hour >= %(start)s AND hour < %(end)s
    UNION ALL
    SELECT date_trunc('hour', r.created_at, 'UTC'), s.status, r.currency, s.sign, s.sign * r.quantity,
           s.sign * r.discount, 0, 0, 0, 0
    FROM event_registrations r CROSS JOIN (VALUES ('reserved', -1), ('expired', 1)) AS s (status, sign)
    WHERE r.status = 'reserved' AND r.expires_at <= now() AND r.producer_id = 'producer' AND r.event_id = 'big'
      AND r.created_at >= %(start)s AND r.created_at < %(end)s
    UNION ALL
    SELECT hour, NULL, currency, 0, 0, 0, gross, captured, voided, refunded FROM report_hour_money
    WHERE producer_id = 'producer' AND event_id = 'big' AND hour >= %(start)s AND hour < %(end)s
) AS sums
GROUP BY 1, 2, 3
"""
# The seats held (the events store's counters less the lapsed holds), as the stats read them.
_FLOOR_HELD = """
SELECT t.type_id, t.held - coalesce(l.lapsed, 0) FROM event_ticket_types t
LEFT JOIN (
    SELECT r.type_id, sum(r.quantity) AS lapsed FROM event_registrations r
    WHERE r.event_id = 'big' AND r.status = 'reserved' AND r.expires_at <= now() GROUP BY r.type_id
) l ON l.type_id = t.type_id
WHERE t.event_id = 'big' AND t.held - coalesce(l.lapsed, 0) > 0
"""


def bench_stats(services: Services, dsn: str, today: date) -> dict[str, Any]:
    first = today - timedelta(days=31)
    services.reports.event_stats(PRODUCER, "big", first_day=first, last_day=today)  # warm
    latencies = []
    for _ in range(STATS_SAMPLES):
        started = time.perf_counter()
        stats = services.reports.event_stats(PRODUCER, "big", first_day=first, last_day=today)
        latencies.append(time.perf_counter() - started)
    counted = sum(stats.registrations.values())
    bounds = list(stats.range.boundaries)
    floor, floor_hours = [], []
    params = {"bounds": bounds, "start": bounds[0], "end": bounds[-1]}
    with psycopg.connect(dsn) as conn:
        for n in range(len(latencies)):
            if n < SAMPLES // 2:  # the old statement takes a second: fewer samples
                started = time.perf_counter()
                conn.execute(_FLOOR_FIGURES, params).fetchall()
                floor.append(time.perf_counter() - started)
                conn.rollback()
            started = time.perf_counter()
            conn.execute(_FLOOR_FIGURES_HOURS, params).fetchall()
            conn.execute(_FLOOR_HELD).fetchall()
            floor_hours.append(time.perf_counter() - started)
            conn.rollback()
    return {
        "registrations": counted,
        "days": len(stats.days),
        "target_p99_ms": 50,
        **percentiles(latencies),
        "floor": percentiles(floor_hours),
        "floor_sums_over_the_registrations": percentiles(floor),
    }


# -- CSV export --------------------------------------------------------------------------


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def bench_export(services: Services, dsn: str) -> dict[str, Any]:
    where = services.reports.registration_filter(PRODUCER, event_id="big")
    rss_before = peak_rss_mb()
    started = time.perf_counter()
    rows = size = 0
    for chunk in services.reports.export_registrations(PRODUCER, where):
        data = chunk.encode("utf-8")
        size += len(data)
        rows += chunk.count("\r\n")
    seconds = time.perf_counter() - started
    rss_after = peak_rss_mb()
    rows -= 1  # the header
    with psycopg.connect(dsn) as conn:
        started = time.perf_counter()
        floor_rows = 0
        with conn.cursor(name="export") as cursor:
            cursor.itersize = 1_000
            cursor.execute(
                "SELECT registration_id, event_id, type_id, attendee_id, status, quantity, currency, unit_price, "
                "subtotal, discount, total, refunded, discount_code, created_at FROM event_registrations "
                "WHERE producer_id = 'producer' AND event_id = 'big' ORDER BY created_at DESC, registration_id DESC"
            )
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            for row in cursor:
                writer.writerow(row)
                floor_rows += 1
                if floor_rows % 1_000 == 0:
                    buffer.seek(0)
                    buffer.truncate()
        floor_seconds = time.perf_counter() - started
    return {
        "rows": rows,
        "megabytes": round(size / 1e6, 2),
        "seconds": round(seconds, 3),
        "rows_per_second": round(rows / seconds),
        "target_rows_per_second": 50_000,
        "peak_rss_mb_before": rss_before,
        "peak_rss_mb_after": rss_after,
        "floor": {
            "rows": floor_rows,
            "seconds": round(floor_seconds, 3),
            "rows_per_second": round(floor_rows / floor_seconds),
        },
    }


# -- bulk refund through the worker ------------------------------------------------------

_FLOOR_REFUND = [
    "SELECT 1 FROM events WHERE event_id = %(ev)s FOR UPDATE",
    "SELECT refunded, total FROM event_registrations WHERE registration_id = %(r)s FOR UPDATE",
    "SELECT 1 FROM earning_events WHERE id = %(e)s::uuid AND type = 'earning' FOR UPDATE",
    "SELECT sum(amount) FROM earning_events WHERE earning_id = %(e)s::uuid AND type <> 'earning'",
    "INSERT INTO earning_events (id, creator_id, type, kind, earning_id, amount, currency, idempotency_key, reason, "
    "recorded_at) VALUES (%(id)s, 'producer', 'refund', 'ticket', %(e)s::uuid, 2500, 'EUR', %(k)s, 'r', now())",
    "UPDATE event_registrations SET refunded = 2500, status = 'refunded', updated_at = now() "
    "WHERE registration_id = %(r)s",
]


def bench_bulk(
    services: Services, url: str, dsn: str, count: int, now: datetime, *, event: str = "bulk", parts: int = MAX_PARTS
) -> dict[str, Any]:
    """The bulk refund of ``count`` registrations of ``event`` split into at most ``parts`` jobs."""
    floor_event = f"floor-{event}"
    make_event(services, event, count * 2, now)
    make_event(services, floor_event, count * 2, now)
    insert_registrations(dsn, event, count, now, refunds=False)
    insert_registrations(dsn, floor_event, count, now, refunds=False)
    bulk.MAX_PARTS = parts  # this process queues the jobs
    env = base_env(PORTS_MODE="postgres", DATABASE_URL=url, DATABASE_POOL_SIZE="5", LOG_LEVEL="WARNING")
    worker = Worker(env, threads=4)
    try:
        time.sleep(3)  # the worker connects and registers
        where = services.reports.registration_filter(PRODUCER, event_id=event)
        started = time.perf_counter()
        action = services.reports.start_bulk(PRODUCER, "refund", where, reason="bench", idempotency_key=event)
        action_id = action.action.action_id

        def finished() -> bool:
            if not worker.alive():
                raise RuntimeError(f"the worker exited:\n{worker.tail()}")
            return services.reports.bulk_report(PRODUCER, action_id).finished

        wait_until(finished, 600, "the bulk refund", interval=0.1)
        seconds = time.perf_counter() - started
    finally:
        worker.stop()
        bulk.MAX_PARTS = MAX_PARTS
    progress = services.reports.bulk_report(PRODUCER, action_id).progress
    with psycopg.connect(dsn) as conn:
        refunds = conn.execute(
            "SELECT count(*), count(DISTINCT e.earning_id) FROM earning_events e JOIN event_registrations r "
            "ON e.earning_id = r.earning_id::uuid WHERE r.event_id = %s AND e.type = 'refund'",
            [event],
        ).fetchone()
        floor_started = time.perf_counter()
        for n in range(1, count + 1):
            registration = f"{floor_event}-{n}"
            # The registration's earning id as the insert made it (md5 of the id, as a uuid).
            earning = str(uuid.UUID(hashlib.md5(registration.encode()).hexdigest()))
            params = {
                "r": registration,
                "e": earning,
                "id": str(uuid.uuid4()),
                "k": f"floor:{registration}",
                "ev": floor_event,
            }
            for statement in _FLOOR_REFUND:
                conn.execute(statement, params)
            conn.commit()
        floor_seconds = time.perf_counter() - floor_started
    assert refunds is not None
    return {
        "registrations": count,
        "done": progress.done,
        "failed": progress.failed,
        "ledger_refunds": refunds[0],
        "refunded_earnings": refunds[1],
        "seconds": round(seconds, 3),
        "per_second": round(count / seconds, 1),
        "target_seconds": 10,
        "worker_threads": 4,
        "jobs": len(bulk.parts(count)) if parts == MAX_PARTS else 1,
        "floor": {"seconds": round(floor_seconds, 3), "per_second": round(count / floor_seconds, 1)},
    }


# -- point-in-time summary ---------------------------------------------------------------

_LEDGER = """
INSERT INTO earning_events (id, creator_id, type, kind, amount, currency, idempotency_key, recorded_at)
SELECT gen_random_uuid(), 'whale', 'earning', 'sale', 100 + n %% 900, CASE WHEN n %% 5 = 0 THEN 'USD' ELSE 'EUR' END,
    'whale-' || n, %(now)s - (n %% 525600) * interval '1 minute'
FROM generate_series(1, %(count)s) AS n
"""
_FLOOR_AS_OF = """
SELECT currency, sum(amount) FILTER (WHERE type = 'earning'), sum(amount) FILTER (WHERE type = 'capture'),
       sum(amount) FILTER (WHERE type = 'void'), sum(amount) FILTER (WHERE type = 'refund'), count(*)
FROM earning_events WHERE creator_id = 'whale' AND recorded_at <= %(as_of)s GROUP BY currency
"""
# The checkpoints' statement (the adapter's, by the driver alone): the days before, then the day's events.
_FLOOR_AS_OF_DAYS = """
SELECT currency, sum(total), sum(captured), sum(voided), sum(refunded), sum(events) FROM (
    SELECT currency, total, captured, voided, refunded, events FROM earning_days
    WHERE creator_id = 'whale' AND day < %(day)s
    UNION ALL
    SELECT currency, CASE WHEN type = 'earning' THEN amount ELSE 0 END,
           CASE WHEN type = 'capture' THEN amount ELSE 0 END, CASE WHEN type = 'void' THEN amount ELSE 0 END,
           CASE WHEN type = 'refund' THEN amount ELSE 0 END, 1
    FROM earning_events WHERE creator_id = 'whale' AND recorded_at >= %(day_start)s AND recorded_at <= %(as_of)s
) AS sums GROUP BY currency
"""


def bench_as_of(services: Services, dsn: str, count: int, now: datetime) -> dict[str, Any]:
    with psycopg.connect(dsn) as conn:
        conn.execute(_LEDGER, {"count": count, "now": now})
    whale = Actor(WHALE)
    # The SQL load bypassed the ledger's append: a recompute writes its checkpoints (setup).
    services.earnings.recompute(whale, WHALE)
    vacuum(dsn)
    instants = [now - timedelta(days=365 * i / SAMPLES) for i in range(SAMPLES)]
    services.earnings.summary(whale, WHALE, as_of=instants[0])  # warm
    latencies = []
    for as_of in instants:
        started = time.perf_counter()
        services.earnings.summary(whale, WHALE, as_of=as_of)
        latencies.append(time.perf_counter() - started)
    floor, floor_days = [], []
    with psycopg.connect(dsn) as conn:
        for as_of in instants:
            started = time.perf_counter()
            conn.execute(_FLOOR_AS_OF, {"as_of": as_of}).fetchall()
            floor.append(time.perf_counter() - started)
            conn.rollback()
            day = as_of.astimezone(UTC).date()
            params = {"as_of": as_of, "day": day, "day_start": datetime.combine(day, datetime.min.time(), tzinfo=UTC)}
            started = time.perf_counter()
            conn.execute(_FLOOR_AS_OF_DAYS, params).fetchall()
            floor_days.append(time.perf_counter() - started)
            conn.rollback()
    latest = percentiles(latencies[:5])
    return {
        "ledger_events": count,
        "as_of_spread": "now back to a year ago, evenly",
        "target_p99_ms": 20,
        **percentiles(latencies),
        "as_of_near_now": latest,
        "floor": percentiles(floor_days),
        "floor_scan_of_every_event": percentiles(floor),
    }


def main() -> None:
    url = fresh_database(DATABASE)
    dsn = database_dsn(DATABASE)
    settings = Settings(ports_mode=PortsMode.POSTGRES, database_url=url, seed_demo_data=False, database_pool_size=5)
    services = bootstrap(settings, clock=SystemClock())
    now = datetime.now(UTC)
    figures: dict[str, Any] = {
        "scale": SCALE,
        "sections": sorted(ONLY),
        "database": dsn,
        "loadavg": os.getloadavg(),
        "machine_before": machine(),
    }
    try:
        if {"stats", "csv"} & ONLY:
            make_event(services, "big", 1_000_000, now)
            insert_registrations(dsn, "big", scaled(100_000), now)
        if "stats" in ONLY:
            figures["event_stats"] = bench_stats(services, dsn, now.date())
        if "csv" in ONLY:
            figures["csv_export"] = bench_export(services, dsn)
        if "bulk" in ONLY:
            # One job per action (as before ranges) beside the ranges, back to back.
            figures["bulk_refund_worker_one_job"] = bench_bulk(
                services, url, dsn, scaled(1_000), now, event="bulk1", parts=1
            )
            figures["bulk_refund_worker"] = bench_bulk(services, url, dsn, scaled(1_000), now, event="bulk")
        if "as_of" in ONLY:
            figures["summary_as_of"] = bench_as_of(services, dsn, scaled(1_000_000), now)
    finally:
        services.close()
    figures["machine_after"] = machine()
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
