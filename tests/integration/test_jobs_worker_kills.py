"""Worker processes SIGKILLed mid-queue: their jobs run again within seconds, none is lost.

The fault run of issue 14 at a test's size (bench/bench_jobs_kill.py is the full one).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import attrs
import pytest
from sqlalchemy import text

from tests.conftest import postgres_settings
from tests.integration.test_jobs_worker import wait_for
from townsquare.bootstrap import Services, bootstrap
from townsquare.core.identity import system_actor
from townsquare.core.jobs import JobContext, JobRequest, JobStatus
from townsquare.hosts.worker.host import WorkerOptions
from townsquare.hosts.worker.main import run_worker

OPERATOR = system_actor("tests")


pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[2]
WORKER_TIMEOUT_S = 3


def sleepy_worker(url: str, runs: str) -> None:
    """Child process: the real ``run_worker`` (in-process broker); ``test.sleepy`` takes 20 ms."""

    def setup(services: Services) -> None:
        def sleepy(context: JobContext) -> None:
            time.sleep(0.02)
            with open(runs, "a") as file:  # one short append per line: atomic between processes
                file.write(f"{os.getpid()} {context.job_id} {context.attempt}\n")

        services.job_handlers.register("test.sleepy", sleepy)

    settings = attrs.evolve(postgres_settings(url), log_json=False, job_worker_timeout_seconds=WORKER_TIMEOUT_S)
    options = WorkerOptions(
        threads=4, claim_batch=50, max_in_flight=100, poll_interval=0.05, schedule_interval=0.2, heartbeat_interval=0.5
    )
    run_worker(settings, options=options, setup=setup)


def test_a_killed_workers_jobs_run_again_within_seconds_and_none_is_lost(pg_url: str, tmp_path: Path) -> None:
    services = bootstrap(postgres_settings(pg_url))
    services.job_handlers.register("test.sleepy", lambda _context: None)
    runs = tmp_path / "runs"
    code = (
        f"from tests.integration.test_jobs_worker_kills import sleepy_worker; sleepy_worker({pg_url!r}, {str(runs)!r})"
    )

    def start_worker() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stderr=subprocess.DEVNULL)

    def held_by(pid: int) -> dict[int, uuid.UUID]:
        with services.uow.transaction():
            rows = services.uow.connection().execute(  # type: ignore[attr-defined]
                text(
                    "SELECT j.id, j.worker_id FROM jobs j JOIN job_workers w ON w.id = j.worker_id"
                    " WHERE j.status = 'running' AND w.name LIKE :pid"
                ),
                {"pid": f"%:{pid}"},
            )
            return {row.id: row.worker_id for row in rows}

    def still_held(ids: set[int], worker: uuid.UUID) -> bool:
        with services.uow.transaction():
            return bool(
                services.uow.connection()  # type: ignore[attr-defined]
                .execute(
                    text("SELECT count(*) FROM jobs WHERE id = ANY(:ids) AND worker_id = :w"),
                    {"ids": list(ids), "w": worker},
                )
                .scalar()
            )

    def completed() -> int:
        counts = {entry.job_type: entry.counts for entry in services.jobs.stats(OPERATOR).by_type}
        return counts["test.sleepy"][JobStatus.COMPLETED]

    # Given 1,500 queued jobs and three worker processes
    job_ids = services.jobs.enqueue_many([JobRequest(job_type="test.sleepy") for _ in range(1500)])
    workers = [start_worker() for _ in range(3)]
    try:
        victims = []
        for kill in range(2):
            # When one of them is SIGKILLed while it holds jobs (a fresh one takes its place)
            victim = workers[kill]
            wait_for(lambda victim=victim: len(held_by(victim.pid)) >= 20, 60, "the victim to hold jobs")
            held = held_by(victim.pid)
            stranded, worker = set(held), next(iter(held.values()))
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait(timeout=10)
            killed_at = time.monotonic()
            victims.append(victim.pid)
            workers.append(start_worker())
            # Then every job it held is re-offered within the worker timeout and a little more
            wait_for(lambda: not still_held(stranded, worker), 30, "the stranded jobs to be rescued")  # noqa: B023
            # (generous: the machine running the suite is busy; the lease is 5 minutes)
            assert time.monotonic() - killed_at < WORKER_TIMEOUT_S + 15
        # And the whole queue completes, no job dead, every job run by a survivor at last
        wait_for(lambda: completed() == 1500, 120, "every job to complete")
    finally:
        for child in workers:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in workers:
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
    stats = services.jobs.stats(OPERATOR)
    services.close()
    assert stats.by_status[JobStatus.DEAD] == 0 and stats.by_status[JobStatus.RUNNING] == 0, stats
    lines = [line.split() for line in runs.read_text().splitlines()]
    assert {int(job_id) for _pid, job_id, _attempt in lines} == set(job_ids)
    # A job the victims never began kept its first attempt.
    assert max(int(attempt) for _pid, _job_id, attempt in lines) <= 3
