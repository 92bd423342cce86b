"""The ledger's per-day checkpoints on Postgres equal a rebuild from the events, also after racing writers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from tests.conftest import EPOCH
from townsquare.bootstrap import Services, bootstrap
from townsquare.core.clock import ManualClock
from townsquare.core.errors import Conflict
from townsquare.core.identity import Actor
from townsquare.settings import PortsMode, Settings

pytestmark = pytest.mark.postgres

SHOP = Actor("commerce-backend", roles=["service"])
ADMIN = Actor("root", roles=["admin"])


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


def days(pg_dsn: str, creator: str) -> list[tuple[Any, ...]]:
    """The creator's checkpoints, shards summed (the shard is a storage detail of contention)."""
    with psycopg.connect(pg_dsn) as conn:
        return conn.execute(
            "SELECT day, currency, sum(total), sum(captured), sum(voided), sum(refunded), sum(events) "
            "FROM earning_days WHERE creator_id = %s GROUP BY 1, 2 ORDER BY 1, 2",
            [creator],
        ).fetchall()


def test_checkpoints_written_by_racing_writers_over_several_days_equal_a_rebuild(
    pg_services: Services, pg_dsn: str, clock: ManualClock
) -> None:
    # Given 8 threads writing sales, captures, refunds and voids for one creator, racing, while
    # the clock crosses three UTC midnights
    start = threading.Barrier(8)

    def writer(n: int) -> None:
        start.wait()
        for i in range(12):
            key = f"w{n}-{i}"
            sale = pg_services.earnings.record(
                SHOP,
                creator_id="alice",
                kind="sale",
                amount=1_000 + i,
                currency="USD" if n % 2 else "EUR",
                idempotency_key=key,
            )
            try:
                if i % 3 == 0:
                    pg_services.earnings.void(SHOP, sale.id, idempotency_key=f"{key}-v")
                else:
                    pg_services.earnings.capture(SHOP, sale.id, currency=sale.currency, idempotency_key=f"{key}-c")
                    if i % 3 == 1:
                        pg_services.earnings.refund(
                            ADMIN, sale.id, currency=sale.currency, amount=100, reason="r", idempotency_key=f"{key}-r"
                        )
            except Conflict:
                pass
            if n == 0:
                clock.advance(timedelta(hours=7))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    written = days(pg_dsn, "alice")
    assert len({row[0] for row in written}) >= 3  # the writes did span days
    # When the checkpoints are rebuilt from the events (recompute)
    report = pg_services.earnings.recompute(ADMIN, "alice")
    # Then nothing changed: the totals agreed and the checkpoints are the rebuilt ones
    assert not report.corrected
    assert days(pg_dsn, "alice") == written
    # And every checkpoint is the sum of that UTC day's events
    with psycopg.connect(pg_dsn) as conn:
        summed = conn.execute(
            "SELECT (recorded_at AT TIME ZONE 'UTC')::date, currency, "
            "coalesce(sum(amount) FILTER (WHERE type = 'earning'), 0), "
            "coalesce(sum(amount) FILTER (WHERE type = 'capture'), 0), "
            "coalesce(sum(amount) FILTER (WHERE type = 'void'), 0), "
            "coalesce(sum(amount) FILTER (WHERE type = 'refund'), 0), count(*) "
            "FROM earning_events WHERE creator_id = 'alice' GROUP BY 1, 2 ORDER BY 1, 2"
        ).fetchall()
    assert written == summed


def test_a_recompute_rebuilds_checkpoints_a_bulk_load_bypassed(pg_services: Services, pg_dsn: str) -> None:
    # Given events loaded with SQL (no checkpoint written), as a benchmark or an import would
    with psycopg.connect(pg_dsn) as conn:
        conn.execute(
            "INSERT INTO earning_events (id, creator_id, type, kind, amount, currency, idempotency_key, recorded_at) "
            "SELECT gen_random_uuid(), 'bulk', 'earning', 'sale', 100, 'USD', 'k' || n, "
            "%s - n * interval '1 hour' FROM generate_series(1, 100) AS n",
            [EPOCH],
        )
    as_of = EPOCH - timedelta(hours=30)
    # When the creator's ledger is recomputed
    pg_services.earnings.recompute(ADMIN, "bulk")
    # Then the as-of summary counts every event up to the instant (71 of them: hours 30..100)
    [summary] = pg_services.earnings.summary(ADMIN, "bulk", as_of=as_of)
    assert (summary.total, summary.events) == (7_100, 71)


def test_a_recompute_repairs_a_wrong_checkpoint_and_drops_a_stray_one(pg_services: Services, pg_dsn: str) -> None:
    # Given a creator's sales over two days, then one checkpoint changed and a stray one added
    for n in range(6):
        pg_services.earnings.record(
            SHOP, creator_id="carl", kind="sale", amount=100 + n, currency="USD", idempotency_key=f"s{n}"
        )
    right = days(pg_dsn, "carl")
    with psycopg.connect(pg_dsn) as conn:
        conn.execute("UPDATE earning_days SET total = total + 5 WHERE creator_id = 'carl'")
        conn.execute(
            "INSERT INTO earning_days (creator_id, day, currency, shard, total, events) "
            "VALUES ('carl', '2020-01-01', 'EUR', 0, 9, 1)"
        )
    assert days(pg_dsn, "carl") != right
    # When the creator's ledger is recomputed
    pg_services.earnings.recompute(ADMIN, "carl")
    # Then the checkpoints are the events' sums again
    assert days(pg_dsn, "carl") == right
