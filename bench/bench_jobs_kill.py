"""Fault run: worker processes SIGKILLed mid-queue (issue 14 item 4).

5,000 jobs of 50 ms, 3 worker processes (``run_worker`` with the default settings: 10 s
worker timeout, 1,000 jobs in flight at most) on the Redis broker; every ~2.5 s one worker
is SIGKILLed (4 kills) and a fresh one started in its place. For each kill it reports how
many jobs the victim held, how long until none of them was still held by it (re-offered),
and how long until every one of them had started again (or finished) under a live worker.
At the end: completed, dead and lost (never completed) jobs.

Run: ``.venv/bin/python bench/bench_jobs_kill.py`` (``BENCH_SCALE=0.2`` for a quick run);
``BENCH_PG`` and ``BENCH_REDIS`` as for bench_jobs.py. Prints one JSON document.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from typing import Any

import attrs
import psycopg

from common import SCALE, database_dsn, fresh_database, scaled
from running import Child
from townsquare.bootstrap import Services, bootstrap
from townsquare.core.jobs import JobRequest
from townsquare.settings import PortsMode, Settings

REDIS_URL = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/14")
DATABASE = "bench_jobs_kill"
JOB = "bench.sleep"
KILLS = 4
WORKERS = 3


def settings(url: str) -> Settings:
    return Settings(ports_mode=PortsMode.POSTGRES, database_url=url, seed_demo_data=False, broker_url=REDIS_URL)


def child(url: str) -> None:
    """A worker process: the real ``run_worker``; ``bench.sleep`` takes 50 ms."""
    from townsquare.hosts.worker.main import run_worker

    def setup(services: Services) -> None:
        services.job_handlers.register(JOB, lambda _context: time.sleep(0.05))

    run_worker(attrs.evolve(settings(url), log_json=False, log_level="WARNING"), setup=setup)


def held_by(conn: psycopg.Connection[Any], pid: int) -> set[int]:
    rows = conn.execute(
        "SELECT j.id FROM jobs j JOIN job_workers w ON w.id = j.worker_id"
        " WHERE j.status = 'running' AND w.name LIKE %s",
        (f"%:{pid}",),
    )
    return {row[0] for row in rows}


def still_held(conn: psycopg.Connection[Any], ids: set[int], worker: uuid.UUID) -> set[int]:
    rows = conn.execute("SELECT id FROM jobs WHERE id = ANY(%s) AND worker_id = %s", (list(ids), worker))
    return {row[0] for row in rows}


def not_yet_rerun(conn: psycopg.Connection[Any], ids: set[int]) -> set[int]:
    """Among ``ids`` (re-offered), those neither finished nor begun again by a live worker."""
    rows = conn.execute(
        "SELECT id FROM jobs WHERE id = ANY(%s) AND status NOT IN ('completed', 'dead')"
        " AND NOT (status = 'running' AND started_at IS NOT NULL)",
        (list(ids),),
    )
    return {row[0] for row in rows}


def worker_of(conn: psycopg.Connection[Any], pid: int) -> uuid.UUID | None:
    row = conn.execute("SELECT id FROM job_workers WHERE name LIKE %s", (f"%:{pid}",)).fetchone()
    return row[0] if row else None


def main() -> None:
    url = fresh_database(DATABASE)
    services = bootstrap(settings(url))
    services.job_handlers.register(JOB, lambda _context: None)
    total = scaled(5000)
    services.jobs.enqueue_many([JobRequest(job_type=JOB) for _ in range(total)])
    argv = [sys.executable, __file__, "--child", url]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    workers = [Child(f"kill-worker-{n}", argv, env) for n in range(WORKERS)]
    kills: list[dict[str, Any]] = []
    started = time.monotonic()
    with psycopg.connect(database_dsn(DATABASE), autocommit=True) as conn:
        try:
            pending: list[dict[str, Any]] = []  # kills still watched: ids, time, worker, what is left
            for kill in range(KILLS + 1):
                pause = 4.0 if kill == 0 else 2.5
                watch_until = time.monotonic() + pause if kill < KILLS else time.monotonic() + 120
                while time.monotonic() < watch_until and (kill < KILLS or pending):
                    for entry in list(pending):
                        now = time.monotonic()
                        if entry["held"]:
                            entry["held"] = still_held(conn, entry["held"], entry["worker"])
                            if not entry["held"]:
                                entry["figures"]["reoffered_after_s"] = round(now - entry["at"], 2)
                        entry["waiting"] = not_yet_rerun(conn, entry["waiting"] - entry["held"]) | entry["held"]
                        if not entry["waiting"]:
                            entry["figures"]["all_running_again_after_s"] = round(now - entry["at"], 2)
                            pending.remove(entry)
                    time.sleep(0.05)
                if kill == KILLS:
                    break
                # The live worker holding the most jobs is the victim.
                alive = [worker for worker in workers if worker.alive()]
                victim = max(alive, key=lambda worker: len(held_by(conn, worker.process.pid)))
                worker_id = worker_of(conn, victim.process.pid)
                stranded = held_by(conn, victim.process.pid)
                victim.kill()
                workers.remove(victim)
                workers.append(Child(f"kill-worker-{WORKERS + kill}", argv, env))
                figures = {"kill": kill + 1, "stranded": len(stranded)}
                kills.append(figures)
                if stranded and worker_id is not None:
                    pending.append(
                        {
                            "held": set(stranded),
                            "waiting": set(stranded),
                            "worker": worker_id,
                            "at": time.monotonic(),
                            "figures": figures,
                        }
                    )
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                row = conn.execute(
                    "SELECT count(*) FROM jobs WHERE job_type = %s AND status IN ('pending', 'running')", (JOB,)
                ).fetchone()
                if row is not None and row[0] == 0:
                    break
                time.sleep(0.1)
            elapsed = time.monotonic() - started
            counts = dict(
                conn.execute("SELECT status, count(*) FROM jobs WHERE job_type = %s GROUP BY status", (JOB,)).fetchall()
            )
            attempts = dict(
                conn.execute(
                    "SELECT attempts, count(*) FROM jobs WHERE job_type = %s GROUP BY attempts", (JOB,)
                ).fetchall()
            )
        finally:
            for worker in workers:
                worker.stop()
    services.close()
    figures = {
        "scale": SCALE,
        "jobs": total,
        "workers": WORKERS,
        "kills": kills,
        "completed": counts.get("completed", 0),
        "dead": counts.get("dead", 0),
        "lost": total - counts.get("completed", 0),
        "jobs_by_attempts": {str(key): value for key, value in sorted(attempts.items())},
        "all_done_after_s": round(elapsed, 1),
        "settings": {"job_worker_timeout_seconds": 10, "job_max_in_flight": 1000, "threads": 8, "broker": "redis"},
    }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2])
    else:
        main()
