"""Jobs benchmark: enqueue (batch and single), drain, end to end through the Dramatiq worker host, claim latency,
and how long after the last enqueue of a burst its last job is done (the wake-up on enqueue).

Run: ``.venv/bin/python bench/bench_jobs.py [--explain]`` (``BENCH_SCALE=0.1`` for a quick run;
``--trace-parent``: only the enqueue figures before and after jobs carried their enqueuer's trace
context, migration 0031). It
drops and recreates the database ``bench_jobs`` on ``BENCH_PG`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``), uses the Redis broker at ``BENCH_REDIS``
(default ``redis://127.0.0.1:6379/14``) for the end-to-end figure, and prints one JSON document.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import attrs
import psycopg
from sqlalchemy import text

from common import SCALE, fresh_database, percentiles, scaled
from townsquare.adapters.postgres.job_wakeups import CHANNEL
from townsquare.adapters.postgres.jobs import _RESERVE_IDS, PgJobStore
from townsquare.adapters.postgres.migrations import downgrade
from townsquare.adapters.trace_context import current_trace_parent
from townsquare.bootstrap import Services, bootstrap
from townsquare.core.jobs import JobRequest, NewJob, Outcome
from townsquare.hosts.worker.broker import setup_broker
from townsquare.hosts.worker.host import WorkerHost, WorkerOptions
from townsquare.settings import PortsMode, Settings

REDIS_URL = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/14")
DATABASE = "bench_jobs"
NOOP = "bench.noop"

_FINISHED_JOBS = """
INSERT INTO jobs (job_type, payload, status, priority, attempts, max_attempts, run_at, created_at, finished_at)
SELECT 'bench.noop', jsonb_build_object('n', n), 'completed', 0, 1, 3,
       now() - interval '1 day', now() - interval '1 day', now() - interval '1 day' + n * interval '1 ms'
FROM generate_series(1, :count) AS n
"""
_CLAIM_EXPLAIN = """
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
WITH due AS MATERIALIZED (
    SELECT id FROM jobs WHERE status = 'pending' AND NOT parked AND run_at <= now()
    ORDER BY priority, run_at, id LIMIT 100 FOR UPDATE SKIP LOCKED
)
UPDATE jobs SET status = 'running', attempts = jobs.attempts + 1,
    lease_token = gen_random_uuid(), lease_expires_at = now() + interval '5 minutes'
FROM due WHERE jobs.id = due.id
"""


def execute(services: Services, statement: str, **params: Any) -> Any:
    with services.uow.transaction():
        return services.jobs.store._db.connection().execute(text(statement), params)  # type: ignore[attr-defined]


def reset(services: Services) -> None:
    # TRUNCATE is the table owner's (the login role's), not the system role's: no transaction().
    with services.uow.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(text("TRUNCATE jobs"))


def vacuum(url: str) -> None:
    dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE jobs")


def rate(count: int, action: Callable[[], None]) -> float:
    started = time.perf_counter()
    action()
    return round(count / (time.perf_counter() - started), 1)


def bench_batch_enqueue(services: Services, count: int) -> float:
    batch = [JobRequest(job_type=NOOP, payload={"to": "someone", "n": 1}) for _ in range(1000)]

    def enqueue() -> None:
        for _ in range(count // len(batch)):
            services.jobs.enqueue_many(batch)

    return rate(count // len(batch) * len(batch), enqueue)


def bench_single_enqueue(services: Services, count: int, threads: int, *, in_transaction: bool = False) -> float:
    """Each enqueue is its own transaction; ``threads`` callers at once, as request handlers would.

    ``in_transaction``: each inside a ``transaction()`` of its own, the path before the
    one-statement enqueue (BEGIN, the role switch, the INSERT, COMMIT).
    """

    def caller() -> None:
        for n in range(count // threads):
            if in_transaction:
                with services.uow.transaction():
                    services.jobs.enqueue(NOOP, {"n": n})
            else:
                services.jobs.enqueue(NOOP, {"n": n})

    return rate(count // threads * threads, lambda: in_threads(caller, threads))


def in_threads(caller: Callable[[], None], threads: int) -> None:
    """Run ``caller`` in ``threads`` threads at once; a failure in any fails the figure."""
    with ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(caller) for _ in range(threads)]:
            future.result()


class SilentWakeups:
    """Before the wake-ups: nothing announced, workers find jobs by polling."""

    def announce(self) -> None:
        pass

    def wait(self, timeout: float) -> bool:
        time.sleep(timeout)
        return False

    def close(self) -> None:
        pass


class NotifyInTransaction(SilentWakeups):
    """The naive announcement: NOTIFY inside each enqueue's transaction (serialises commits)."""

    def __init__(self, services: Services) -> None:
        self._db = services.jobs.store._db  # type: ignore[attr-defined]

    def announce(self) -> None:
        self._db.connection().execute(text(f"SELECT pg_notify('{CHANNEL}', '')"))


def with_wakeups(services: Services, wakeups: Any) -> Services:
    return attrs.evolve(services, jobs=attrs.evolve(services.jobs, wakeups=wakeups))


def bench_drain(services: Services, count: int) -> float:
    def drain() -> None:
        done = 0
        while done < count:
            claimed = services.jobs.claim(1000)
            if not claimed:
                break
            report = services.jobs.record([Outcome(job=job) for job in claimed])
            done += report.completed

    return rate(count, drain)


def bench_end_to_end(services: Services, count: int) -> dict[str, Any]:
    remaining = "SELECT count(*) FROM jobs WHERE status IN ('pending', 'running')"
    settings = attrs.evolve(services.settings, broker_url=REDIS_URL)
    broker = setup_broker(settings, namespace=f"bench-{uuid.uuid4().hex[:8]}")
    host = WorkerHost(services, broker, WorkerOptions(threads=8, queue_name="bench_jobs"))
    started = time.perf_counter()
    host.start()
    try:
        while execute(services, remaining).scalar() > 0:
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
    finally:
        host.stop()
        broker.close()
    return {"jobs": count, "jobs_per_s": round(count / elapsed, 1), "broker": "redis", "threads": 8}


def burst_tail(services: Services, *, bursts: int, per_burst: int, options: WorkerOptions) -> dict[str, Any]:
    """An idle worker host; ``bursts`` single enqueues of ``per_burst`` jobs 0.3 s apart: seconds from each
    burst's last enqueue to its last job's completion (median and worst)."""
    settings = attrs.evolve(services.settings, broker_url=REDIS_URL)
    broker = setup_broker(settings, namespace=f"bench-{uuid.uuid4().hex[:8]}")
    host = WorkerHost(services, broker, options)
    tails = []
    host.start()
    try:
        time.sleep(1.0)  # idle: the dispatcher and the consumers have found nothing
        for _ in range(bursts):
            ids = [services.jobs.enqueue(NOOP) for _ in range(per_burst)]
            enqueued = time.time()
            last = (
                "SELECT max(finished_at), count(*) FILTER (WHERE status <> 'completed') FROM jobs WHERE id = ANY(:ids)"
            )
            while True:
                finished, unfinished = execute(services, last, ids=ids).one()
                if not unfinished:
                    break
                time.sleep(0.005)
            tails.append(finished.timestamp() - enqueued)
            time.sleep(0.3)
    finally:
        host.stop()
        broker.close()
    tails.sort()
    return {"median_s": round(tails[len(tails) // 2], 4), "max_s": round(tails[-1], 4), "bursts": bursts}


def interleaved(
    variants: dict[str, Callable[[], float]], *, rounds: int, between: Callable[[], None], rotate: bool = False
) -> dict[str, float]:
    """Each variant's median rate over ``rounds`` interleaved runs (``rotate``: each round
    starts one variant later, so none always runs first after the reset)."""
    runs: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for round_ in range(rounds):
        start = round_ % len(names) if rotate else 0
        for name in names[start:] + names[:start]:
            runs[name].append(variants[name]())
            between()
    return {name: sorted(rates)[len(rates) // 2] for name, rates in runs.items()}


def bare_insert_rate(url: str, count: int, threads: int) -> float:
    """The floor of a single enqueue: a bare autocommit INSERT of the same row on plain psycopg."""
    dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
    statement = (
        "INSERT INTO jobs (job_type, payload, status, priority, max_attempts, run_at, created_at)"
        " VALUES (%(job_type)s, %(payload)s::jsonb, 'pending', 0, 3, now(), now()) RETURNING id"
    )

    def caller() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            for n in range(count // threads):
                conn.execute(statement, {"job_type": NOOP, "payload": json.dumps({"n": n})}).fetchone()

    return rate(count // threads * threads, lambda: in_threads(caller, threads))


def claim_latency(services: Services, samples: int) -> dict[str, float]:
    services.jobs.enqueue_many([JobRequest(job_type=NOOP) for _ in range(samples)])
    timings = []
    for _ in range(samples):
        started = time.perf_counter()
        claimed = services.jobs.claim(1)
        timings.append(time.perf_counter() - started)
        services.jobs.record([Outcome(job=job) for job in claimed])
    return percentiles(timings)


BEFORE_PARKING = "0027_composer_save"
"""The schema before parked jobs (bench_jobs_before is migrated back to it)."""
_CLAIM_CALL = "SELECT id FROM app.jobs_claim(now(), 1, gen_random_uuid(), now() + interval '5 minutes', NULL, NULL)"
# The floor: the bare SKIP LOCKED claim of one job, no function, no role switch, no controls.
_BARE_CLAIM = """
WITH due AS MATERIALIZED (
    SELECT id FROM jobs WHERE status = 'pending' AND run_at <= now()
    ORDER BY priority, run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED
)
UPDATE jobs SET status = 'running', attempts = jobs.attempts + 1,
    lease_token = gen_random_uuid(), lease_expires_at = now() + interval '5 minutes'
FROM due WHERE jobs.id = due.id RETURNING jobs.id
"""
# The claim's statement as app.jobs_claim runs it (no limits), prepared with the function's
# settings so that EXPLAIN shows the generic plan the function uses.
_CLAIM_SETTINGS = (
    "SET plan_cache_mode = force_generic_plan",
    "SET enable_bitmapscan = off",
    "SET enable_sort = off",
    "SET jit = off",
)
_PARKED_CLAIM_PREPARE = """
PREPARE parked_claim(timestamptz) AS
WITH due AS MATERIALIZED (
    SELECT j.id FROM jobs j
    WHERE j.status = 'pending' AND NOT j.parked AND j.run_at <= $1
      AND j.job_type <> ALL (ARRAY(SELECT c.job_type FROM job_type_controls c))
    ORDER BY j.priority, j.run_at, j.id LIMIT 1 FOR UPDATE SKIP LOCKED
)
UPDATE jobs SET status = 'running', attempts = jobs.attempts + 1,
    lease_token = gen_random_uuid(), lease_expires_at = now() + interval '5 minutes'
FROM due WHERE jobs.id = due.id
"""


def fill(dsn: str, *, due_later: int, due_now: int, priorities: str, parked: bool) -> None:
    """An emptied table with ``due_later`` jobs due tomorrow (priority by the SQL ``priorities``)
    and ``due_now`` due jobs at priority 0; parked as enqueue parks them where the schema has it."""
    column, value = (", parked", ", true") if parked else ("", "")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE jobs")
        conn.execute(
            f"INSERT INTO jobs (job_type, payload, status, priority, max_attempts, run_at, created_at{column})"
            f" SELECT 'bench.noop', '{{}}', 'pending', {priorities}, 3, now() + interval '1 day' + n * interval '1 ms',"
            f" now(){value} FROM generate_series(1, %(count)s) AS n",
            {"count": due_later},
        )
        conn.execute(
            "INSERT INTO jobs (job_type, payload, status, priority, max_attempts, run_at, created_at)"
            " SELECT 'bench.noop', '{}', 'pending', 0, 3, now() - interval '1 minute', now()"
            " FROM generate_series(1, %(count)s)",
            {"count": due_now},
        )
        conn.execute("VACUUM ANALYZE jobs")


def claim_timings(conn: psycopg.Connection[Any], statement: str, count: int) -> list[float]:
    timings = []
    for _ in range(count):
        started = time.perf_counter()
        claimed = conn.execute(statement).fetchall()
        timings.append(time.perf_counter() - started)
        assert len(claimed) == 1, "the bench ran out of due jobs"
    return timings


def claim_with_jobs_due_later(after_url: str, before_url: str, *, due_later: int, samples: int) -> dict[str, Any]:
    """claim(1) latency with ``due_later`` pending jobs due tomorrow, interleaved in 4 rounds:
    before (the schema before 0028: one due index of every pending job) and after parking;
    the floor is the bare SKIP LOCKED claim on the old schema with no job due later."""
    after, before = (url.replace("postgresql+psycopg://", "postgresql://", 1) for url in (after_url, before_url))
    figures: dict[str, Any] = {"jobs_due_later": due_later}
    fill(before, due_later=0, due_now=samples, priorities="0", parked=False)
    with psycopg.connect(before, autocommit=True) as conn:
        figures["floor_bare_claim_no_jobs_due_later"] = percentiles(claim_timings(conn, _BARE_CLAIM, samples))
    scenarios = {
        "spread_priorities": "(random() * 2000 - 1000)::int",  # any priority, -1000..1000
        "one_better_priority": "-5",  # all ahead of the due ones (the case)
    }
    for name, priorities in scenarios.items():
        fill(before, due_later=due_later, due_now=samples, priorities=priorities, parked=False)
        fill(after, due_later=due_later, due_now=samples, priorities=priorities, parked=True)
        runs: dict[str, list[float]] = {"before": [], "after": []}
        with psycopg.connect(before, autocommit=True) as old, psycopg.connect(after, autocommit=True) as new:
            if name == "spread_priorities" and "--explain" in sys.argv:
                # Claims one job (EXPLAIN ANALYZE runs it): the plan with the due jobs in place.
                for setting in _CLAIM_SETTINGS:
                    new.execute(setting)
                new.execute(_PARKED_CLAIM_PREPARE)
                explain = "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE parked_claim(now())"
                figures["claim_plan"] = [row[0] for row in new.execute(explain)]
                new.execute("DEALLOCATE parked_claim")
                new.execute("RESET ALL")
            for _ in range(4):
                runs["before"] += claim_timings(old, _CLAIM_CALL, samples // 4)
                runs["after"] += claim_timings(new, _CLAIM_CALL, (samples - 1) // 4)
        figures[name] = {variant: percentiles(timings) for variant, timings in runs.items()}
    return figures


BEFORE_TRACE_PARENT = "0030_composer_due"
"""The schema before jobs carried their enqueuer's trace context (migration 0031)."""
# 0028's statements, as the store sent them before 0031 (the one-statement enqueue, the batch insert).
_ADD_ONE_0028 = (
    "SELECT app.jobs_add(%(role)s, %(actor)s, %(job_type)s, %(payload)s::jsonb, %(priority)s::smallint,"
    " %(max_attempts)s::integer, %(run_at)s::timestamptz, %(key)s::text, %(now)s::timestamptz)"
)
_INSERT_MANY_0028 = text(
    """
    INSERT INTO jobs (
        id, job_type, payload, status, priority, max_attempts, run_at, idempotency_key, created_at, parked
    )
    SELECT r.id, r.job_type, r.payload, 'pending', r.priority, r.max_attempts, r.run_at, r.key, :now, r.run_at > :now
    FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(
        id bigint, job_type text, payload jsonb, priority smallint, max_attempts integer, run_at timestamptz, key text
    )
    """
)


class StoreBefore0031(PgJobStore):
    """The enqueue paths as they were before 0031, on a database migrated back to 0030 (keyless
    batches only: the bench's)."""

    def add_one(self, job: NewJob, now: datetime) -> int:
        params = {
            "job_type": job.job_type,
            "payload": json.dumps(job.payload, separators=(",", ":"), ensure_ascii=False),
            "priority": job.priority,
            "max_attempts": job.max_attempts,
            "run_at": job.run_at,
            "key": job.idempotency_key,
            "now": now,
        }
        ((job_id,),) = self._db.call(_ADD_ONE_0028, params)
        return int(job_id)

    def add(self, jobs: Sequence[NewJob], now: datetime) -> list[int]:
        assert all(job.idempotency_key is None for job in jobs)
        conn = self._db.connection()
        reserved: list[int] = conn.execute(_RESERVE_IDS, {"count": len(jobs)}).scalar_one()
        rows = [
            {
                "id": job_id,
                "job_type": job.job_type,
                "payload": job.payload,
                "priority": job.priority,
                "max_attempts": job.max_attempts,
                "run_at": job.run_at.isoformat(),
                "key": None,
            }
            for job_id, job in zip(reserved, jobs, strict=True)
        ]
        conn.execute(
            _INSERT_MANY_0028, {"rows": json.dumps(rows, separators=(",", ":"), ensure_ascii=False), "now": now}
        )
        return reserved


def in_span(services: Services, tracer: Any, *, stored: bool = True) -> Services:
    """Each enqueue under a recording span (as in a traced request), its context stored with the
    job (``stored``) or not (the span's own cost, which a traced request pays anyway)."""
    jobs = attrs.evolve(services.jobs, trace_parent=current_trace_parent if stored else None)

    class Traced:
        def __getattr__(self, name: str) -> Any:
            return getattr(jobs, name)

        def enqueue(self, *args: Any, **kwargs: Any) -> int:
            with tracer.start_as_current_span("request"):
                return jobs.enqueue(*args, **kwargs)

        def enqueue_many(self, *args: Any, **kwargs: Any) -> list[int]:
            with tracer.start_as_current_span("request"):
                return jobs.enqueue_many(*args, **kwargs)

    return attrs.evolve(services, jobs=Traced())


def enqueue_with_trace_parent(url: str, services: Services) -> dict[str, Any]:
    """Enqueue before 0031 (a database migrated back, 0028's statements) beside after: tracing
    off (no trace parent), tracing on (each enqueue in a recording span that is not exported:
    the cost of reading and storing its context, not of exporting; beside it the same spans with
    nothing stored), and the bare INSERT floor.
    Interleaved rounds, each starting one variant later, the median of each."""
    from opentelemetry.sdk.trace import TracerProvider

    before_url = fresh_database("bench_jobs_before")
    downgrade(before_url, BEFORE_TRACE_PARENT)
    before = bootstrap(attrs.evolve(services.settings, database_url=before_url))
    before.job_handlers.register(NOOP, lambda _context: None)
    before = attrs.evolve(before, jobs=attrs.evolve(before.jobs, store=StoreBefore0031(before.jobs.store._db)))  # type: ignore[attr-defined]
    tracer = TracerProvider().get_tracer("bench")
    traced, spans_only = in_span(services, tracer), in_span(services, tracer, stored=False)

    def both() -> None:
        reset(services)
        reset(before)

    figures: dict[str, Any] = {}
    for callers, count in ((1, scaled(2_000)), (8, scaled(8_000))):
        figures[f"single_enqueue_{callers}_caller{'s' if callers > 1 else ''}"] = interleaved(
            {
                "before_0031": lambda n=count, k=callers: bench_single_enqueue(before, n, k),
                "after_tracing_off": lambda n=count, k=callers: bench_single_enqueue(services, n, k),
                "after_span_not_stored": lambda n=count, k=callers: bench_single_enqueue(spans_only, n, k),
                "after_tracing_on": lambda n=count, k=callers: bench_single_enqueue(traced, n, k),
                "floor_bare_insert": lambda n=count, k=callers: bare_insert_rate(url, n, k),
            },
            rounds=4,
            between=both,
            rotate=True,
        )
    figures["batch_enqueue"] = interleaved(
        {
            "before_0031": lambda: bench_batch_enqueue(before, scaled(50_000)),
            "after_tracing_off": lambda: bench_batch_enqueue(services, scaled(50_000)),
            "after_span_not_stored": lambda: bench_batch_enqueue(spans_only, scaled(50_000)),
            "after_tracing_on": lambda: bench_batch_enqueue(traced, scaled(50_000)),
        },
        rounds=4,
        between=both,
        rotate=True,
    )
    before.close()
    return figures


def main() -> None:
    url = fresh_database(DATABASE)
    services = bootstrap(Settings(ports_mode=PortsMode.POSTGRES, database_url=url, seed_demo_data=False))
    services.job_handlers.register(NOOP, lambda _context: None)
    figures: dict[str, Any] = {"scale": SCALE}
    if "--trace-parent" in sys.argv:
        figures["enqueue_with_trace_parent"] = enqueue_with_trace_parent(url, services)
        services.close()
        print(json.dumps(figures, indent=2))
        return

    figures["batch_enqueue_jobs_per_s"] = bench_batch_enqueue(services, scaled(100_000))
    vacuum(url)
    figures["drain_jobs_per_s"] = bench_drain(services, scaled(100_000) // 1000 * 1000)
    reset(services)
    figures["single_enqueue_jobs_per_s"] = {
        "8_callers": bench_single_enqueue(services, scaled(8_000), threads=8),
        "1_caller": bench_single_enqueue(services, scaled(2_000), threads=1),
    }
    reset(services)
    # One statement against the old transaction, beside the bare INSERT, for 1 and 8 callers.
    for callers, count in ((1, scaled(2_000)), (8, scaled(8_000))):
        figures[f"single_enqueue_{callers}_caller{'s' if callers > 1 else ''}"] = interleaved(
            {
                "in_transaction_before": lambda n=count, k=callers: bench_single_enqueue(
                    services, n, k, in_transaction=True
                ),
                "one_statement": lambda n=count, k=callers: bench_single_enqueue(services, n, k),
                "floor_bare_insert": lambda n=count, k=callers: bare_insert_rate(url, n, k),
            },
            rounds=3,
            between=lambda: reset(services),
        )
    # The wake-ups' cost on enqueue, side by side: none announced (before), a NOTIFY in every
    # enqueue's transaction (the naive way), the notifier thread (as landed), the bare floor.
    # Interleaved rounds (A, B, C, D, A, ...), the median of each: the machine's load drifts.
    silent, naive = with_wakeups(services, SilentWakeups()), with_wakeups(services, NotifyInTransaction(services))
    # All three enqueue inside a transaction of their own: the only way a NOTIFY can share it.
    variants: dict[str, Callable[[], float]] = {
        "silent": lambda: bench_single_enqueue(silent, scaled(8_000), threads=8, in_transaction=True),
        "notify_in_transaction": lambda: bench_single_enqueue(naive, scaled(8_000), threads=8, in_transaction=True),
        "notifier_thread": lambda: bench_single_enqueue(services, scaled(8_000), threads=8, in_transaction=True),
        "floor_bare_insert": lambda: bare_insert_rate(url, scaled(8_000), threads=8),
    }
    figures["single_enqueue_8_callers_wakeups"] = interleaved(variants, rounds=3, between=lambda: reset(services))
    bursts = max(3, scaled(20))
    figures["burst_tail"] = {
        "before": burst_tail(
            silent, bursts=bursts, per_burst=20, options=WorkerOptions(queue_name="bench_tail", consumer_timeout=1.0)
        ),
        "after": burst_tail(services, bursts=bursts, per_burst=20, options=WorkerOptions(queue_name="bench_tail")),
        "jobs_per_burst": 20,
        "broker": "redis",
    }
    reset(services)

    end_to_end = scaled(50_000)
    bench_batch_enqueue(services, end_to_end)
    vacuum(url)
    figures["end_to_end"] = bench_end_to_end(services, end_to_end // 1000 * 1000)
    reset(services)
    vacuum(url)

    samples = scaled(2_000)
    figures["claim_latency_empty_table"] = claim_latency(services, samples)
    finished = scaled(1_000_000)
    execute(services, _FINISHED_JOBS, count=finished)
    vacuum(url)
    figures["claim_latency_with_finished_jobs"] = {"finished_jobs": finished, **claim_latency(services, samples)}
    before_url = fresh_database("bench_jobs_before")
    downgrade(before_url, BEFORE_PARKING)
    figures["claim_latency_with_jobs_due_later"] = claim_with_jobs_due_later(
        url, before_url, due_later=scaled(100_000), samples=samples
    )
    if "--explain" in sys.argv:
        services.jobs.enqueue_many([JobRequest(job_type=NOOP) for _ in range(1000)])
        plan = execute(services, _CLAIM_EXPLAIN).all()
        figures["claim_plan"] = [row[0] for row in plan]
    services.close()
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
