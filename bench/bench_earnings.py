"""Earnings benchmark: summary and timeline with 1,000,000 events for one creator, recompute, concurrent writes.

Run: ``.venv/bin/python bench/bench_earnings.py [--explain]`` (``BENCH_SCALE=0.1`` for a quick run). It
drops and recreates the database ``bench_earnings`` on ``BENCH_PG`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``), fills it with ``INSERT ... SELECT
generate_series`` and prints one JSON document of figures.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from common import SCALE, fresh_database, percentiles
from townsquare.bootstrap import Services, bootstrap
from townsquare.core.clock import ManualClock
from townsquare.core.identity import Actor
from townsquare.settings import PortsMode, Settings

DATABASE = "bench_earnings"
CREATOR = "bench-creator"
WRITERS = 8
ADMIN = Actor("bench-admin", roles=["admin"])
SHOP = Actor("bench-shop", roles=["service"])
START = datetime(2025, 1, 1, tzinfo=UTC)

# Half the events are earnings, 80% of those are captured in full, a quarter of the captured
# ones are half refunded, and every 50th one is voided: 0.5 + 0.4 + 0.1 = 1.0 per 1,000,000.
_GENERATE = """
INSERT INTO earning_events (id, creator_id, type, kind, earning_id, amount, currency, idempotency_key,
                            reason, recorded_at)
SELECT md5('e' || n)::uuid, :creator, 'earning', (ARRAY['sale', 'tip', 'subscription'])[1 + n % 3],
       NULL, 1000 + n % 5000, 'USD', 'e' || n, NULL, :start + n * interval '1 second'
FROM generate_series(1, :earnings) AS n;

INSERT INTO earning_events (id, creator_id, type, kind, earning_id, amount, currency, idempotency_key,
                            reason, recorded_at)
SELECT md5('c' || n)::uuid, :creator, 'capture', (ARRAY['sale', 'tip', 'subscription'])[1 + n % 3],
       md5('e' || n)::uuid, 1000 + n % 5000, 'USD', 'c' || n, NULL, :start + n * interval '1 second' + interval '1 hour'
FROM generate_series(1, :earnings) AS n WHERE n % 5 <> 0;

INSERT INTO earning_events (id, creator_id, type, kind, earning_id, amount, currency, idempotency_key,
                            reason, recorded_at)
SELECT md5('r' || n)::uuid, :creator, 'refund', (ARRAY['sale', 'tip', 'subscription'])[1 + n % 3],
       md5('e' || n)::uuid, (1000 + n % 5000) / 2, 'USD', 'r' || n, 'bench refund',
       :start + n * interval '1 second' + interval '2 hours'
FROM generate_series(1, :earnings) AS n WHERE n % 5 <> 0 AND n % 4 = 0;

INSERT INTO earning_events (id, creator_id, type, kind, earning_id, amount, currency, idempotency_key,
                            reason, recorded_at)
SELECT md5('v' || n)::uuid, :creator, 'void', (ARRAY['sale', 'tip', 'subscription'])[1 + n % 3],
       md5('e' || n)::uuid, 1000 + n % 5000, 'USD', 'v' || n, NULL,
       :start + n * interval '1 second' + interval '3 hours'
FROM generate_series(1, :earnings) AS n WHERE n % 5 = 0 AND n % 10 = 0;

-- Other creators' events, so the index holds more than the one creator.
INSERT INTO earning_events (id, creator_id, type, kind, earning_id, amount, currency, idempotency_key,
                            reason, recorded_at)
SELECT md5('o' || n)::uuid, 'other-' || n % 1000, 'earning', 'sale', NULL, 500 + n % 700, 'EUR',
       'o' || n, NULL, :start + n * interval '1 second'
FROM generate_series(1, :others) AS n;
"""


def timed(call: Callable[[], object], repeat: int) -> list[float]:
    """Seconds per call."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return samples


def load(services: Services, earnings: int, others: int) -> dict[str, Any]:
    started = time.perf_counter()
    engine = services.uow.engine  # type: ignore[attr-defined]
    with engine.begin() as conn:
        for statement in _GENERATE.split(";\n"):
            if statement.strip():
                conn.execute(
                    text(statement),
                    {"creator": CREATOR, "start": START, "earnings": earnings, "others": others},
                )
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE earning_events"))
        count = conn.execute(
            text("SELECT count(*) FROM earning_events WHERE creator_id = :c"), {"c": CREATOR}
        ).scalar_one()
    return {"creator_events": count, "other_events": others, "load_seconds": round(time.perf_counter() - started, 1)}


def bench_writes(services: Services, per_writer: int, creators_per_writer: int) -> dict[str, Any]:
    """``WRITERS`` threads each record ``per_writer`` sales, round-robin over their own creators."""
    start = threading.Barrier(WRITERS + 1)
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        start.wait()
        try:
            for i in range(per_writer):
                services.earnings.record(
                    SHOP,
                    creator_id=f"writer-{w}-{i % creators_per_writer}",
                    kind="sale",
                    amount=100 + i,
                    currency="USD",
                    idempotency_key=f"w{w}-{creators_per_writer}-{i}",
                )
        except BaseException as exc:
            errors.append(exc)
            raise

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
    for thread in threads:
        thread.start()
    start.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    total = WRITERS * per_writer
    return {"writers": WRITERS, "events": total, "seconds": round(elapsed, 2), "per_second": round(total / elapsed)}


def bench_one_creator_writes(services: Services, per_writer: int) -> dict[str, Any]:
    """``WRITERS`` threads recording for the same creator: the case the sharded totals are for."""
    start = threading.Barrier(WRITERS + 1)

    def writer(w: int) -> None:
        start.wait()
        for i in range(per_writer):
            services.earnings.record(
                SHOP, creator_id="hot-creator", kind="tip", amount=50, currency="USD", idempotency_key=f"hot-{w}-{i}"
            )

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
    for thread in threads:
        thread.start()
    start.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    total = WRITERS * per_writer
    return {"writers": WRITERS, "events": total, "seconds": round(elapsed, 2), "per_second": round(total / elapsed)}


def explain(services: Services) -> dict[str, list[str]]:
    """EXPLAIN ANALYZE of the hot queries, as the adapter issues them (``--explain``)."""
    from townsquare.adapters.postgres import earnings as adapter

    page = services.earnings.timeline(ADMIN, CREATOR, limit=50)
    last = page.events[-1]
    one = page.events[0].earning_id
    queries: dict[str, tuple[Any, dict[str, Any]]] = {
        "summary": (adapter._STORED_TOTALS, {"creator_id": CREATOR}),
        "timeline_first_page": (
            text(
                f"SELECT {adapter._COLUMNS} FROM earning_events WHERE creator_id = :c "
                "ORDER BY recorded_at DESC, id DESC LIMIT 51"
            ),
            {"c": CREATOR},
        ),
        "timeline_next_page": (
            text(
                f"SELECT {adapter._COLUMNS} FROM earning_events WHERE creator_id = :c "
                "AND (recorded_at, id) < (:at, CAST(:id AS uuid)) ORDER BY recorded_at DESC, id DESC LIMIT 51"
            ),
            {"c": CREATOR, "at": last.recorded_at, "id": last.id},
        ),
        "timeline_kind_tip": (
            text(
                f"SELECT {adapter._COLUMNS} FROM earning_events WHERE creator_id = :c AND kind = ANY(:kinds) "
                "ORDER BY recorded_at DESC, id DESC LIMIT 51"
            ),
            {"c": CREATOR, "kinds": ["tip"]},
        ),
        "recompute_sum_events": (adapter._SUM_EVENTS, {"creator_id": CREATOR}),
        "earning_follow_up_sums": (adapter._FOLLOW_UP_SUMS, {"id": one}),
    }
    plans = {}
    with services.uow.engine.connect() as conn:  # type: ignore[attr-defined]
        for name, (statement, params) in queries.items():
            rows = conn.execute(text("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + statement.text), params)
            plans[name] = [row[0] for row in rows]
    return plans


def main() -> None:
    earnings = int(500_000 * SCALE)
    url = fresh_database(DATABASE)
    settings = Settings(
        ports_mode=PortsMode.POSTGRES, database_url=url, database_pool_size=WRITERS, seed_demo_data=False
    )
    services = bootstrap(settings, clock=ManualClock(START + timedelta(days=400)))
    try:
        data = load(services, earnings, others=int(100_000 * SCALE))
        # The bulk load bypassed the totals: the first recompute builds them (and says so).
        first = timed(lambda: services.earnings.recompute(ADMIN, CREATOR), 1)
        report = services.earnings.recompute(ADMIN, CREATOR)
        assert not report.corrected and report.events == data["creator_events"]
        recompute = timed(lambda: services.earnings.recompute(ADMIN, CREATOR), 5)
        summary = timed(lambda: services.earnings.summary(ADMIN, CREATOR), 300)
        [usd] = services.earnings.summary(ADMIN, CREATOR)
        timeline = timed(lambda: services.earnings.timeline(ADMIN, CREATOR, limit=50), 100)
        page = services.earnings.timeline(ADMIN, CREATOR, limit=50)
        cursor = page.next_cursor
        second_page = timed(lambda: services.earnings.timeline(ADMIN, CREATOR, cursor=cursor, limit=50), 100)
        per_writer = max(50, int(1_000 * min(SCALE, 1.0)))
        writes = bench_writes(services, per_writer, creators_per_writer=50)
        hot = bench_one_creator_writes(services, max(25, per_writer // 2))
        result = {
            "scale": SCALE,
            "data": data,
            "summary": {**percentiles(summary), "target_ms": 5, "net": usd.net, "events": usd.events},
            "recompute": {
                **percentiles(recompute),
                "first_build_ms": round(first[0] * 1000, 1),
                "events": report.events,
                "target_ms": 1000,
            },
            "timeline_first_page": percentiles(timeline),
            "timeline_second_page": percentiles(second_page),
            "writes_across_creators": {**writes, "target_per_second": 2000},
            "writes_one_creator": hot,
        }
        if "--explain" in sys.argv:
            result["plans"] = explain(services)
        print(json.dumps(result, indent=2))
    finally:
        services.close()


if __name__ == "__main__":
    main()
