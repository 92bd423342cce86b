"""Load test of the HTTP host with wrk: feed page, unread counts and notification send, memory and postgres mode.

Run: ``.venv/bin/python bench/load.py [--mode memory|postgres|both] [--duration 10] [--connections 32]``
(``nox -s load``). Needs ``wrk`` (``apt-get install -y wrk``); without it the script says so
and exits 0. The host runs as the README says: memory mode is ``townsquare serve`` (one
process, demo data); postgres mode is ``townsquare serve --workers 2`` (one process per core
here, logged in as ``townsquare_host`` so row-level security applies) with ``REDIS_URL``
sharing the rate-limit counters, on the database ``bench_load``
(dropped and recreated on ``BENCH_PG``, migrated, demo data plus ``BENCH_SCALE`` x 100,000
feed items over 1,000 creators and 100,000 notifications of the load users). Requests rotate
over 200 users' tokens (the per-user rate limit stays on and is not hit) and every send has
its own idempotency key (bench/load.lua). Everything is on loopback; wrk shares the machine's
cores with the host and Postgres, so the figures are a floor. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import create_engine

from common import SCALE, database_dsn, fresh_database, scaled
from feed_data import FeedData, generate_feed_data
from running import Host, as_role, base_env, townsquare
from townsquare.adapters.postgres.database import HOST_ROLE
from townsquare.hosts.http.auth import mint_token
from townsquare.settings import Settings

HERE = Path(__file__).resolve().parent
DATABASE = "bench_load"
REDIS_URL = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/11")
USERS = 200
ENDPOINTS: dict[str, tuple[str, str]] = {
    "feed_page": ("/api/v1/feed/home?limit=50", "get"),
    "notification_send": ("/api/v1/notifications/send", "send"),
    "notification_counts": ("/api/v1/notifications/counts", "get"),
}

_NOTIFICATIONS = """
INSERT INTO notifications (id, user_id, channel, category, lane, title, body, data, created_at, read_at)
SELECT gen_random_uuid(), 'load-user-' || (n %% %(users)s), 'inapp',
       (ARRAY['follow', 'sale', 'event', 'system'])[1 + (hashint4(n) & 3)],
       (ARRAY['social', 'commerce', 'events', 'system'])[1 + (hashint4(n) & 3)],
       'Notification ' || n, '', '{}'::jsonb, %(now)s - n * interval '7 seconds',
       CASE WHEN hashint4(n + 1) & 1 = 0 THEN %(now)s END
FROM generate_series(1, %(total)s) AS n
"""


def tokens_file(directory: Path, *, admin: bool) -> Path:
    """One token per line for ``USERS`` users (admins for the send, which is an admin route)."""
    settings = Settings.from_env(os.environ)
    prefix = "load-admin" if admin else "load-user"
    now = datetime.now(UTC)
    lines = [
        mint_token(
            settings.jwt_secret,
            f"{prefix}-{number}",
            now=now,
            roles=["admin"] if admin else [],
            ttl=timedelta(hours=1),
            audience=settings.jwt_audience,
        )
        for number in range(USERS)
    ]
    path = directory / f"{prefix}.tokens"
    path.write_text("\n".join(lines) + "\n")
    return path


def prepare_database() -> tuple[str, dict[str, Any]]:
    """The bench database with demo data and the generated feed and notifications; returns its DSN."""
    url = fresh_database(DATABASE)
    dsn = database_dsn(DATABASE)
    townsquare(["seed"], base_env(PORTS_MODE="postgres", DATABASE_URL=dsn))
    data = FeedData(
        items=scaled(100_000), creators=scaled(1_000), follows=50, cart=10, hidden=20, other_follows=scaled(20_000)
    )
    now = datetime.now(UTC)
    engine = create_engine(url)
    with engine.begin() as conn:
        generate_feed_data(conn, data, now - timedelta(minutes=1))
    engine.dispose()
    notifications = scaled(100_000)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(_NOTIFICATIONS, {"users": USERS, "total": notifications, "now": now})  # type: ignore[arg-type]
        conn.execute("VACUUM ANALYZE")
    return dsn, {"feed_items": data.items, "creators": data.creators, "notifications": notifications}


def run_wrk(base_url: str, name: str, tokens: Path, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    path, kind = ENDPOINTS[name]
    result = work / f"{name}.json"
    env = {
        **os.environ,
        "LOAD_TOKENS": str(tokens),
        "LOAD_PATH": path,
        "LOAD_KIND": kind,
        "LOAD_RUN": uuid.uuid4().hex[:10],
        "LOAD_RESULT": str(result),
    }
    argv = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{args.duration}s",
        "--timeout",
        "10s",
        "-s",
        str(HERE / "load.lua"),
        base_url,
    ]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=args.duration + 60, check=False)
    if done.returncode != 0 or not result.exists():
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    figures: dict[str, Any] = json.loads(result.read_text())
    return figures


def probe(base_url: str, name: str, tokens: Path) -> None:
    """One request shaped like the load's, which must succeed (a broken setup is not measured)."""
    path, kind = ENDPOINTS[name]
    token = tokens.read_text().split("\n", 1)[0]
    headers = {"Authorization": f"Bearer {token}"}
    if kind == "send":
        body = {
            "user_id": "load-probe",
            "channel": "inapp",
            "category": "follow",
            "title": "probe",
            "idempotency_key": uuid.uuid4().hex,
        }
        response = httpx.post(base_url + path, headers=headers, json=body, timeout=10)
        ok = response.is_success and response.json()["sent"]
    else:
        response = httpx.get(base_url + path, headers=headers, timeout=10)
        ok = response.is_success
    if not ok:
        raise RuntimeError(f"{name}: the probe request got {response.status_code} {response.text[:300]}")


def run_mode(mode: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    report: dict[str, Any] = {"mode": mode}
    if mode == "memory":
        env = base_env(PORTS_MODE="memory", LOG_LEVEL="WARNING")
        workers = 1
    else:
        dsn, report["data"] = prepare_database()
        # Logged in as the role that owns nothing, as in production: row-level security applies.
        host_dsn = as_role(dsn, HOST_ROLE)
        env = base_env(PORTS_MODE="postgres", DATABASE_URL=host_dsn, REDIS_URL=REDIS_URL, LOG_LEVEL="WARNING")
        workers = args.workers
    report["host"] = f"townsquare serve --workers {workers}"
    user_tokens = tokens_file(work, admin=False)
    admin_tokens = tokens_file(work, admin=True)
    host = Host(env, workers=workers)
    try:
        host.wait_healthy()
        for name in ENDPOINTS:
            tokens = admin_tokens if name == "notification_send" else user_tokens
            probe(host.base_url, name, tokens)
            report[name] = run_wrk(host.base_url, name, tokens, args, work)
        if not host.alive():
            raise RuntimeError(f"the host exited:\n{host.tail()}")
    finally:
        host.stop()
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["memory", "postgres", "both"], default="both")
    parser.add_argument("--duration", type=int, default=10, help="seconds per endpoint")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="host processes, postgres mode")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print(json.dumps({"skipped": "wrk is not installed; apt-get install -y wrk"}))
        return 0
    modes = ["memory", "postgres"] if args.mode == "both" else [args.mode]
    with tempfile.TemporaryDirectory(prefix="ts-load-") as directory:
        runs = [run_mode(mode, args, Path(directory)) for mode in modes]
    settings = {
        "duration_s": args.duration,
        "connections": args.connections,
        "wrk_threads": args.threads,
        "cpus": os.cpu_count(),
        "scale": SCALE,
    }
    print(json.dumps({"load": settings, "runs": runs}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
