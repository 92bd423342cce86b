"""Console benchmark: the jobs page and its live counts with 1,000,000 jobs in the table.

Run: ``.venv/bin/python bench/bench_console.py`` (``BENCH_SCALE=0.1`` for 100,000 jobs). It drops
and recreates the database ``bench_console`` on ``BENCH_PG``, fills it (98.9% completed, the rest
pending, running and dead, over six types), analyzes it, and prints one JSON document: the page
through the app (the test client: routing, auth, render), the live-count read, and beside them
the exact count they replace and the bare-driver floor of the estimate's statements.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from datetime import UTC, datetime
from typing import Any

import psycopg
from litestar.testing import TestClient

from common import database_dsn, database_url, fresh_database, percentiles, scaled
from townsquare.bootstrap import bootstrap
from townsquare.core.identity import system_actor
from townsquare.hosts.http.app import create_app
from townsquare.hosts.http.auth import mint_token
from townsquare.settings import PortsMode, Settings

OPERATOR = system_actor("tests")


DATABASE = "bench_console"
TYPES = ["mail.deliver", "digest.build", "earnings.reconcile", "feed.fanout", "notify.push", "poison_test"]
_FILL = """
INSERT INTO jobs (job_type, status, attempts, max_attempts, run_at, created_at, finished_at,
                  lease_token, lease_expires_at, last_error)
SELECT (%(types)s::text[])[1 + n %% 6],
       s.status, 1, 3, now() - interval '1 hour', now() - interval '1 hour',
       CASE WHEN s.status IN ('completed', 'dead') THEN now() END,
       CASE WHEN s.status = 'running' THEN gen_random_uuid() END,
       CASE WHEN s.status = 'running' THEN now() + interval '5 minutes' END,
       CASE WHEN s.status = 'dead' THEN 'RuntimeError: bench' END
FROM generate_series(1, %(count)s) AS n,
LATERAL (SELECT CASE WHEN n %% 1000 < 989 THEN 'completed' WHEN n %% 1000 < 997 THEN 'pending'
                     WHEN n %% 1000 < 999 THEN 'running' ELSE 'dead' END AS status) AS s
"""


def timed(call: Any, rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-generate", action="store_true", help="reuse the existing bench_console database")
    args = parser.parse_args()
    count = scaled(1_000_000)
    dsn = database_dsn(DATABASE)
    started = time.perf_counter()
    if args.skip_generate:
        url = database_url(DATABASE)
    else:
        url = fresh_database(DATABASE)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(_FILL, {"types": TYPES, "count": count})
            conn.execute("VACUUM ANALYZE jobs")
    fill_seconds = time.perf_counter() - started
    settings = Settings(ports_mode=PortsMode.POSTGRES, database_url=url, seed_demo_data=False, log_level="WARNING")
    services = bootstrap(settings)
    token = mint_token(settings.jwt_secret, "root", now=datetime.now(UTC), roles=["admin"])
    report: dict[str, Any] = {"jobs": count, "fill_seconds": round(fill_seconds, 1)}
    with TestClient(create_app(settings, services)) as client:
        client.cookies.set("townsquare_console", token, path="/console")

        def page() -> None:
            response = client.get("/console/jobs")
            assert response.status_code == 200, response.text[:300]

        page()  # warm: pools, templates
        report["jobs_page"] = percentiles(timed(page, 30))
        report["jobs_page_body_bytes"] = len(client.get("/console/jobs").content)
    report["live_counts_read (stats_estimate, uncached)"] = percentiles(timed(services.jobs.stats_estimate, 30))
    report["exact_counts_replaced (stats)"] = percentiles(timed(services.jobs.stats, 5))
    estimate = services.jobs.stats_estimate(OPERATOR)
    exact = services.jobs.stats(OPERATOR)
    report["estimate_vs_exact_completed"] = {
        "estimated": estimate.by_status[next(s for s in estimate.by_status if s.value == "completed")],
        "exact": exact.by_status[next(s for s in exact.by_status if s.value == "completed")],
    }
    services.close()
    # The floor: the estimate's statements straight through psycopg, no pool, no service.
    with psycopg.connect(dsn, autocommit=True) as conn:
        from townsquare.adapters.postgres import jobs as pg_jobs

        statements = [
            (pg_jobs._ROW_ESTIMATE.text, {}),
            (pg_jobs._ACTIVE_COUNTS.text, {"statuses": ["pending", "running", "dead"]}),
            (pg_jobs._COMPLETED_SAMPLE.text, {"percent": 100.0 * pg_jobs.SAMPLE_ROWS / count}),
            (pg_jobs._OLDEST_DUE.text, {"now": datetime.now(UTC)}),
        ]

        def floor() -> None:
            for statement, params in statements:
                # SQLAlchemy's :name placeholders as psycopg's %(name)s ('::regclass' stays a cast)
                conn.execute(re.sub(r"(?<!:):(\w+)", r"%(\1)s", statement), params)

        floor()
        report["floor_estimate_statements_psycopg"] = percentiles(timed(floor, 30))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
