"""Notifications benchmark: policy-enforced sends, lane pages, counts and mark-all-read over
1,000,000 notifications for 100,000 users, and queuing due digests for 100,000 users.

Run: ``.venv/bin/python bench/bench_notifications.py [--explain]`` (``BENCH_SCALE=0.1`` for a quick
run). It drops and recreates the database ``bench_notifications`` on ``BENCH_PG`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``), fills it with ``INSERT ... SELECT
generate_series`` and prints one JSON document of figures.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
from sqlalchemy import create_engine, text

from common import SCALE, database_dsn, fresh_database, machine, percentiles, postgres_cpu_seconds
from townsquare.adapters.postgres.database import APP_ROLE
from townsquare.adapters.postgres.notifications import _ADD, _SEND_CONTEXT
from townsquare.bootstrap import Services, bootstrap
from townsquare.core.clock import ManualClock
from townsquare.core.identity import Actor, system_actor
from townsquare.settings import PortsMode, Settings

SENDER = Actor("test-sender", roles=["service"])
WORKER = system_actor("tests")

DATABASE = "bench_notifications"
SENDERS = 8
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
HEAVY_USERS = 100  # users with 1,000 notifications each (500 unread): the worst cases
HEAVY_EACH = 1000
ZONES = [
    "UTC",
    "Europe/Berlin",
    "Europe/London",
    "America/New_York",
    "America/Los_Angeles",
    "Asia/Tokyo",
    "Asia/Kolkata",
    "Australia/Sydney",
    "America/Sao_Paulo",
    "Africa/Lagos",
    "Pacific/Auckland",
    "Asia/Dubai",
]

# Light users get ~9 notifications each, heavy ones 1,000; lanes spread by a hash; about half read.
_GENERATE = """
INSERT INTO notifications (id, user_id, channel, category, lane, title, body, data, created_at, read_at)
SELECT gen_random_uuid(),
       CASE WHEN n <= %(heavy_total)s THEN 'heavy-' || (n %% %(heavy)s) ELSE 'user-' || (n %% %(users)s) END,
       'inapp',
       (ARRAY['follow', 'sale', 'event', 'system'])[1 + (hashint4(n) & 3)],
       (ARRAY['social', 'commerce', 'events', 'system'])[1 + (hashint4(n) & 3)],
       'Notification ' || n, 'Body of notification ' || n, '{}'::jsonb,
       %(now)s - n * interval '7 seconds',
       CASE WHEN hashint4(n + 1) & 1 = 0 THEN %(now)s - n * interval '3 seconds' END
FROM generate_series(1, %(total)s) AS n
"""
_DIGEST_PREFS = """
INSERT INTO notification_preferences (user_id, document, timezone, digest_frequency, digest_slot, updated_at)
SELECT 'user-' || n,
       jsonb_build_object('timezone', z.zones[1 + n %% z.size], 'email_address', 'user-' || n || '@example.com',
                          'mail_state', jsonb_build_object('verified_address', 'user-' || n || '@example.com'),
                          'digest', jsonb_build_object('frequency', CASE WHEN n %% 5 = 0 THEN 'weekly' ELSE 'daily' END,
                                                       'hour', n %% 24)),
       z.zones[1 + n %% z.size],
       CASE WHEN n %% 5 = 0 THEN 'weekly' ELSE 'daily' END,
       CASE WHEN n %% 5 = 0 THEN (n %% 7) * 24 + n %% 24 ELSE n %% 24 END,
       %(now)s
FROM generate_series(0, %(users)s - 1) AS n,
     (SELECT %(zones)s::text[] AS zones, cardinality(%(zones)s::text[]) AS size) AS z
ON CONFLICT (user_id) DO NOTHING
"""


def timed(calls: list[Callable[[], object]]) -> list[float]:
    samples = []
    for call in calls:
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return samples


def _prepare_recipients(dsn: str, prefix: str, recipients: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            """
            INSERT INTO notification_preferences
                (user_id, document, timezone, digest_frequency, digest_slot, updated_at)
            SELECT %(prefix)s || n, '{"timezone": "Europe/Berlin",
                                     "quiet_hours": {"enabled": true, "start": "22:00", "end": "07:00"}}'::jsonb,
                   'Europe/Berlin', 'off', 0, now()
            FROM generate_series(0, %(n)s - 1) AS n
            """,
            {"prefix": prefix, "n": recipients},
        )


def _send_batch(services: Services, prefix: str, index: int, per_sender: int, recipients: int) -> int:
    sent = 0
    for i in range(per_sender):
        # The senders take turns through the recipients: at any moment they address different
        # users (in lockstep on one user they would measure that user's row lock instead).
        number = i * SENDERS + index
        result = services.notifications.send(
            SENDER,
            f"{prefix}{number % recipients}",
            "inapp",
            "like",
            title="Someone liked your post",
            body="Open the app to see who",
            idempotency_key=f"{prefix}{number}",
        )
        sent += result.sent
    return sent


def _floor_batch(conn: psycopg.Connection[Any], prefix: str, index: int, per_sender: int, recipients: int) -> int:
    """What ``_send_batch`` makes the database do, on a bare autocommit psycopg connection: the
    adapter's own calls (the context read for a recipient this sender has not seen, then the
    count-and-insert with the version it read), and none of our Python (no policy, no pool, no
    publisher). The service remembers preferences per process, the floor per sender thread."""
    day = NOW.date()
    sent = 0
    versions: dict[str, int] = {}
    for i in range(per_sender):
        number = i * SENDERS + index
        user, key = f"{prefix}{number % recipients}", f"{prefix}{number}"
        if user not in versions:
            row = conn.execute(
                _SEND_CONTEXT, {"role": APP_ROLE, "actor": user, "recipient": user, "key": key}
            ).fetchone()
            assert row is not None
            versions[user] = row[2]
        row = conn.execute(
            _ADD,
            {
                "role": APP_ROLE, "actor": user, "id": str(uuid.uuid4()), "recipient": user, "channel": "inapp",
                "category": "like", "lane": "social", "title": "Someone liked your post",
                "body": "Open the app to see who", "data": "{}", "key": key, "created_at": NOW, "day": day,
                "cap": 5, "version": versions[user], "mail_id": None, "mail_to": None, "mail_subject": None,
                "mail_body": None, "mail_headers": None,
            },
        ).fetchone()  # fmt: skip
        sent += row is not None and row[0] == "added"
    return sent


def _trial(
    services: Services, prefix: str, per_sender: int, recipients: int, floor_dsn: str | None = None
) -> dict[str, float]:
    """One timed run of the senders: sends per second, how many were sent, and the CPU
    milliseconds per send of this process and of Postgres. With ``floor_dsn`` the senders run
    :func:`_floor_batch` on bare connections instead of calling the service."""
    barrier = threading.Barrier(SENDERS + 1)
    sent = [0] * SENDERS
    connections = [psycopg.connect(floor_dsn, autocommit=True) for _ in range(SENDERS)] if floor_dsn else []

    def sender(index: int) -> None:
        barrier.wait()
        if connections:
            sent[index] = _floor_batch(connections[index], prefix, index, per_sender, recipients)
        else:
            sent[index] = _send_batch(services, prefix, index, per_sender, recipients)

    threads = [threading.Thread(target=sender, args=(i,)) for i in range(SENDERS)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started, python_before, postgres_before = time.perf_counter(), time.process_time(), postgres_cpu_seconds()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    python_cpu, postgres_cpu = time.process_time() - python_before, postgres_cpu_seconds() - postgres_before
    for conn in connections:  # after the reading: an exited backend's CPU time is not counted
        conn.close()
    sends = SENDERS * per_sender
    return {
        "rate": sends / elapsed,
        "sent": sum(sent),
        "python_ms": python_cpu * 1000 / sends,
        "postgres_ms": postgres_cpu * 1000 / sends,
    }


def bench_sends(services: Services, dsn: str, trials: int = 3) -> dict[str, Any]:
    """8 threads of one process send in-app notifications with idempotency keys to users with
    quiet hours and a time zone stored (every send loads and applies the preferences, checks
    quiet hours, the key and the cap). Each trial sends to fresh recipients, 4 sends each, and
    is followed by a trial of the bare-driver floor (:func:`_floor_batch`)."""
    per_sender = max(50, int(1000 * SCALE))
    recipients = SENDERS * per_sender // 4  # 4 sends per recipient: under the cap of 5
    results, floors = [], []
    for trial in range(trials):
        # Each service trial is paired with a floor trial in the same minute (this machine's
        # speed drifts by half within minutes): their ratio is the figure that holds still.
        for run, dest, floor_dsn in (("trial", results, None), ("floor", floors, dsn)):
            prefix = f"{run}{trial}-"
            _prepare_recipients(dsn, prefix, recipients)
            dest.append(_trial(services, prefix, per_sender, recipients, floor_dsn))
    python_ms = statistics.median(result["python_ms"] for result in results)
    postgres_ms = statistics.median(result["postgres_ms"] for result in results)
    return {
        "senders": f"{SENDERS} threads, one process",
        "sends_per_trial": SENDERS * per_sender,
        "sent": int(sum(result["sent"] for result in results)),
        "trials_per_second": [round(result["rate"], 1) for result in results],
        "sends_per_second": round(statistics.median(result["rate"] for result in results), 1),
        "target_per_second": 2000,
        # CPU per send (median of the trials) and what the machine's cores would serve at that
        # cost if nothing else used them: the figure that a busy or throttled machine hides.
        "cpu_ms_per_send": {"python": round(python_ms, 3), "postgres": round(postgres_ms, 3)},
        "sends_per_second_if_cpu_bound": round((os.cpu_count() or 1) * 1000 / (python_ms + postgres_ms), 1),
        # The same calls on bare psycopg connections from 8 threads, right after each trial:
        # what the adapter's statements cost this machine with none of our Python.
        "bare_driver_floor": {
            "trials_per_second": [round(floor["rate"], 1) for floor in floors],
            "sends_per_second": round(statistics.median(floor["rate"] for floor in floors), 1),
            "cpu_ms_per_send": {
                "python": round(statistics.median(floor["python_ms"] for floor in floors), 3),
                "postgres": round(statistics.median(floor["postgres_ms"] for floor in floors), 3),
            },
        },
        "service_share_of_floor": round(
            statistics.median(result["rate"] / floor["rate"] for result, floor in zip(results, floors, strict=True)),
            3,
        ),
    }


def fill(dsn: str) -> dict[str, Any]:
    users = max(1000, int(100_000 * SCALE))
    total = max(20_000, int(1_000_000 * SCALE))
    heavy_total = HEAVY_USERS * HEAVY_EACH
    started = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            _GENERATE, {"heavy_total": heavy_total, "heavy": HEAVY_USERS, "users": users, "now": NOW, "total": total}
        )
        conn.execute("VACUUM ANALYZE notifications")
        # Write the bulk load out now, or its checkpoint runs under the measurements.
        conn.execute("CHECKPOINT")
    return {
        "notifications": total,
        "users": users + HEAVY_USERS,
        "fill_seconds": round(time.perf_counter() - started, 1),
    }


def bench_reads(services: Services, users: int) -> dict[str, Any]:
    rng = random.Random(7)
    notifications = services.notifications
    light = [f"user-{rng.randrange(users)}" for _ in range(1000)]
    heavy = [f"heavy-{rng.randrange(HEAVY_USERS)}" for _ in range(1000)]
    lanes = ["social", "commerce", "events", "system"]
    for user in light[:100]:  # warm the pool and the caches
        notifications.inbox(Actor(user), "social", limit=50)
    cursors = []
    for user in heavy[:200]:
        page = notifications.inbox(Actor(user), "social", limit=50)
        cursors.append((user, page.next_cursor))
    return {
        "lane_page_50_light_user": percentiles(
            timed([lambda u=u: notifications.inbox(Actor(u), rng.choice(lanes), limit=50) for u in light])
        ),
        "lane_page_50_heavy_user": percentiles(
            timed([lambda u=u: notifications.inbox(Actor(u), rng.choice(lanes), limit=50) for u in heavy])
        ),
        "lane_next_page_50_heavy_user": percentiles(
            timed([lambda u=u, c=c: notifications.inbox(Actor(u), "social", c, limit=50) for u, c in cursors])
        ),
        "counts_light_user": percentiles(timed([lambda u=u: notifications.counts(Actor(u)) for u in light])),
        "counts_heavy_user_500_unread": percentiles(timed([lambda u=u: notifications.counts(Actor(u)) for u in heavy])),
        "targets": {"lane_page_p99_ms": 10, "counts_p99_ms": 5},
    }


def bench_mark_all_read(services: Services) -> dict[str, Any]:
    marked: list[int] = []

    def mark(user: str) -> None:
        marked.append(services.notifications.mark_all_read(Actor(user)))

    samples = timed([lambda u=f"heavy-{i}": mark(u) for i in range(HEAVY_USERS)])
    return {"users": HEAVY_USERS, "marked_each": sorted(set(marked)), **percentiles(samples), "target_ms": 20}


def bench_digests(services: Services, dsn: str, users: int) -> dict[str, Any]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(_DIGEST_PREFS, {"users": users, "zones": ZONES, "now": NOW})
        conn.execute("ANALYZE notification_preferences")
    clock = services.clock
    assert isinstance(clock, ManualClock)
    clock.set(NOW.replace(hour=23, minute=30))
    started = time.perf_counter()
    queued = services.notifications.enqueue_due_digests(WORKER)
    first = time.perf_counter() - started
    started = time.perf_counter()
    again = services.notifications.enqueue_due_digests(WORKER)
    second = time.perf_counter() - started
    clock.set(NOW)
    return {
        "users_with_digests": users,
        "queued": queued,
        "seconds": round(first, 3),
        "queued_again": again,
        "again_seconds": round(second, 3),
        "target_seconds": 10,
    }


def explain(dsn: str) -> dict[str, str]:
    """The plans of the hot queries, as the Postgres adapter runs them, for a heavy user."""
    from townsquare.adapters.postgres import notifications as adapter

    params = {
        "user_id": "heavy-1",
        "lane": "social",
        "lanes": ["social", "commerce", "events", "system"],
        "limit": 51,
        "now": NOW,
    }
    queries = {
        "lane_page": adapter._PAGE_LANE,
        "all_lanes_page": adapter._PAGE_ALL,
        "counts": adapter._COUNTS,
        "mark_all_read": adapter._MARK_ALL_READ,
    }
    plans = {}
    engine = create_engine(dsn.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            for name, query in queries.items():
                statement = text(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {query.text}")
                plans[name] = "\n".join(row[0] for row in conn.execute(statement, params))
                conn.rollback()
    finally:
        engine.dispose()
    return plans


def main() -> None:
    dsn = database_dsn(DATABASE)
    fresh_database(DATABASE)
    settings = Settings(
        ports_mode=PortsMode.POSTGRES,
        database_url=dsn.replace("postgresql://", "postgresql+psycopg://", 1),
        database_pool_size=SENDERS + 2,
        seed_demo_data=False,
    )
    services = bootstrap(settings, clock=ManualClock(NOW))
    try:
        report: dict[str, Any] = {"benchmark": "notifications", "scale": SCALE}
        # The 1,000,000 rows (analyzed) go in first: sends are measured against tables of a
        # realistic size with statistics, not against empty ones the planner knows nothing of.
        report["data"] = fill(dsn)
        report["machine"] = machine()  # right before the sends, the most machine-bound figure
        report["send"] = bench_sends(services, dsn)
        users = report["data"]["users"] - HEAVY_USERS
        report["reads"] = bench_reads(services, users)
        if "--explain" in sys.argv:
            report["explain"] = explain(dsn)
        report["mark_all_read_500"] = bench_mark_all_read(services)
        report["enqueue_due_digests"] = bench_digests(services, dsn, users)
    finally:
        services.close()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
