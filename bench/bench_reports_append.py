"""What the reports' ledger trigger (migration 0035) costs an earnings append: ``record()`` latency
with the trigger and with it disabled, interleaved four times on a scratch database.

Run: ``cd bench && ../.venv/bin/python bench_reports_append.py``; prints the median microseconds
of 400 records per batch as JSON.
"""

from __future__ import annotations

import json
import statistics
import time

import psycopg

from common import ADMIN_DSN, database_dsn, fresh_database, machine
from townsquare.bootstrap import Services, bootstrap
from townsquare.core.clock import SystemClock
from townsquare.core.identity import Actor
from townsquare.settings import PortsMode, Settings

DATABASE = "bench_reports_append"
SHOP = Actor("shop", roles=["service"])
RECORDS = 400


def median_record_us(services: Services, tag: str) -> float:
    latencies = []
    for n in range(RECORDS):
        started = time.perf_counter()
        services.earnings.record(
            SHOP, creator_id="creator", kind="sale", amount=100, currency="USD", idempotency_key=f"{tag}-{n}"
        )
        latencies.append(time.perf_counter() - started)
    return round(statistics.median(latencies) * 1e6, 1)


def set_trigger(dsn: str, enabled: bool) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"ALTER TABLE earning_events {'ENABLE' if enabled else 'DISABLE'} TRIGGER report_hours_ledger")


def main() -> None:
    url = fresh_database(DATABASE)
    dsn = database_dsn(DATABASE)
    settings = Settings(ports_mode=PortsMode.POSTGRES, database_url=url, seed_demo_data=False, database_pool_size=2)
    services = bootstrap(settings, clock=SystemClock())
    figures: dict[str, object] = {"machine_before": machine()}
    with_trigger, without = [], []
    try:
        for round_ in range(4):
            with_trigger.append(median_record_us(services, f"with-{round_}"))
            set_trigger(dsn, enabled=False)
            without.append(median_record_us(services, f"without-{round_}"))
            set_trigger(dsn, enabled=True)
    finally:
        services.close()
        with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    figures.update(
        record_median_us_with_trigger=with_trigger, record_median_us_without=without, machine_after=machine()
    )
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
