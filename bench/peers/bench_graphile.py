"""graphile-worker beside townsquare's queue, interleaved (A, B, A, B) in one run on the same Postgres.

Both sides: JOBS no-op jobs enqueued in batches of 1,000, then run by a worker with 8
concurrent slots (townsquare: the worker host on Redis, as ``bench_jobs.py``'s end to end;
graphile-worker 0.18.0 with its batched settings, ``graphile_worker/run.mjs``). Prints JSON with
the ratios of medians. Needs Node and npm (``npm install`` runs in ``graphile_worker`` on first use).

Run: ``cd bench && BENCH_SCALE=0.2 ../.venv/bin/python peers/bench_graphile.py``
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_jobs import NOOP, bench_batch_enqueue, bench_end_to_end, reset, vacuum
from common import database_dsn, fresh_database, scaled
from townsquare.bootstrap import bootstrap
from townsquare.settings import PortsMode, Settings

PEER = Path(__file__).resolve().parent / "graphile_worker"


def graphile_once(jobs: int) -> dict[str, Any]:
    dsn = database_dsn("bench_graphile")
    subprocess.run(
        [
            "psql",
            database_dsn("postgres"),
            "-q",
            "-c",
            "DROP DATABASE IF EXISTS bench_graphile WITH (FORCE)",
            "-c",
            "CREATE DATABASE bench_graphile",
        ],
        check=True,
    )
    result = subprocess.run(
        ["node", "run.mjs"],
        cwd=PEER,
        env={**os.environ, "DATABASE_URL": dsn, "JOBS": str(jobs)},
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def main() -> None:
    if not (PEER / "node_modules").exists():
        subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=PEER, check=True)
    jobs = scaled(50_000) // 1000 * 1000
    url = fresh_database("bench_jobs_peer")
    services = bootstrap(Settings(ports_mode=PortsMode.POSTGRES, database_url=url, seed_demo_data=False))
    services.job_handlers.register(NOOP, lambda _context: None)
    ours: dict[str, list[float]] = {"batch_enqueue": [], "worker_drain": []}
    theirs: dict[str, list[float]] = {"batch_enqueue": [], "worker_drain": []}
    for _ in range(2):
        ours["batch_enqueue"].append(bench_batch_enqueue(services, jobs))
        vacuum(url)
        ours["worker_drain"].append(bench_end_to_end(services, jobs)["jobs_per_s"])
        reset(services)
        peer = graphile_once(jobs)
        theirs["batch_enqueue"].append(peer["batch_enqueue_jobs_per_s"])
        theirs["worker_drain"].append(peer["drain_through_worker_jobs_per_s"])
    services.close()
    figures: dict[str, Any] = {"jobs": jobs, "concurrency": 8, "peer": peer["peer"]}
    for figure, runs in ours.items():
        mine, peer_rate = statistics.median(runs), statistics.median(theirs[figure])
        figures[figure] = {
            "townsquare_jobs_per_s": mine,
            "graphile_jobs_per_s": peer_rate,
            "ratio": round(mine / peer_rate, 2),
            "runs": {"townsquare": runs, "graphile": theirs[figure]},
        }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
