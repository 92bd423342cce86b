"""Worker metrics: job runs recorded per type and outcome, served on the worker's own port,
and summed over several worker processes (prometheus-client's multiprocess mode)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import attrs
import httpx
import pytest

from tests.conftest import postgres_settings
from tests.http.test_metrics import samples
from tests.integration.test_jobs_worker import ROOT, wait_for
from townsquare.bootstrap import Services, bootstrap
from townsquare.core.identity import system_actor
from townsquare.core.jobs import JobContext, JobRequest, JobStatus
from townsquare.hosts.metrics import Metrics
from townsquare.hosts.worker.host import WorkerOptions
from townsquare.hosts.worker.main import run_worker

OPERATOR = system_actor("tests")


def metered_worker(url: str, multiprocess_dir: str, port: int, ready: str) -> None:
    """Child process: the real ``run_worker`` with metrics; ``test.metered`` fails when asked."""

    def setup(services: Services) -> None:
        def metered(context: JobContext) -> None:
            time.sleep(0.002)
            if context.payload.get("fail"):
                raise RuntimeError("fails on purpose")

        services.job_handlers.register("test.metered", metered)
        with open(ready, "a") as file:
            file.write(f"{os.getpid()}\n")

    settings = attrs.evolve(
        postgres_settings(url), log_json=False, metrics_multiprocess_dir=multiprocess_dir, worker_metrics_port=port
    )
    run_worker(settings, options=WorkerOptions(threads=2, claim_batch=20, poll_interval=0.02), setup=setup)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.postgres
def test_two_worker_processes_report_their_runs_as_one_sum(pg_url: str, tmp_path: Path) -> None:
    # Given two worker processes sharing a multiprocess directory; one serves the metrics port
    services = bootstrap(postgres_settings(pg_url))
    services.job_handlers.register("test.metered", lambda _context: None)
    shared, ready, port = tmp_path / "prom", tmp_path / "ready", free_port()
    shared.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(shared)}

    def start(serve_port: int) -> subprocess.Popen[bytes]:
        code = (
            "from tests.integration.test_worker_metrics import metered_worker; "
            f"metered_worker({pg_url!r}, {str(shared)!r}, {serve_port}, {str(ready)!r})"
        )
        return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stderr=subprocess.DEVNULL)

    children = [start(port), start(0)]
    try:
        wait_for(lambda: ready.exists() and len(ready.read_text().split()) == 2, 60, "the workers to start")
        # When 200 jobs succeed and 3 fail for good
        services.jobs.enqueue_many([JobRequest(job_type="test.metered") for _ in range(200)])
        services.jobs.enqueue_many(
            [JobRequest(job_type="test.metered", payload={"fail": True}, max_attempts=1) for _ in range(3)]
        )

        def settled() -> bool:
            counts = {entry.job_type: entry.counts for entry in services.jobs.stats(OPERATOR).by_type}["test.metered"]
            return counts[JobStatus.COMPLETED] == 200 and counts[JobStatus.DEAD] == 3

        wait_for(settled, 60, "the jobs to run")
        found = samples(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text)
    finally:
        for child in children:
            child.send_signal(signal.SIGTERM)
        for child in children:
            child.wait(timeout=30)
        services.close()
    # Then the one port reports both processes' runs, by outcome, and the queue gauges
    runs = "townsquare_job_run_duration_seconds_count"
    assert found[(runs, (("job_type", "test.metered"), ("outcome", "succeeded")))] == 200
    assert found[(runs, (("job_type", "test.metered"), ("outcome", "failed")))] == 3
    assert found[("townsquare_jobs", (("job_type", "test.metered"), ("status", "dead")))] == 3
    assert found[("townsquare_jobs_dead_letters", ())] == 3


def test_a_multiprocess_directory_sums_every_process(tmp_path: Path) -> None:
    # Given three processes that each record two runs into one directory
    code = (
        f"from townsquare.hosts.metrics import Metrics; m = Metrics(multiprocess_dir={str(tmp_path)!r}); "
        "m.job_ran('mail', succeeded=True, seconds=0.01); m.job_ran('mail', succeeded=True, seconds=0.02)"
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for _ in range(3):
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, timeout=60)
    # When a scrape reads the directory
    found = samples(Metrics(multiprocess_dir=str(tmp_path)).exposition().decode())
    # Then
    assert found[("townsquare_job_run_duration_seconds_count", (("job_type", "mail"), ("outcome", "succeeded")))] == 6
    assert found[("townsquare_job_run_duration_seconds_sum", (("job_type", "mail"), ("outcome", "succeeded")))] == (
        pytest.approx(0.09)
    )
