"""The Dramatiq worker host end to end: real brokers, a raising handler, and a worker killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import attrs
import pytest

from tests.conftest import memory_settings, postgres_settings
from townsquare.bootstrap import Services, bootstrap
from townsquare.core.clock import ManualClock
from townsquare.core.identity import system_actor
from townsquare.core.jobs import JobContext, JobRequest, JobStatus
from townsquare.hosts.worker.broker import setup_broker
from townsquare.hosts.worker.host import WorkerHost, WorkerOptions
from townsquare.hosts.worker.main import run_worker

OPERATOR = system_actor("tests")


ROOT = Path(__file__).resolve().parents[2]


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def register_test_jobs(services: Services) -> None:
    def flaky(context: JobContext) -> None:
        if context.payload.get("fail"):
            raise RuntimeError(f"job {context.job_id} fails on purpose")

    async def async_ok(context: JobContext) -> None:
        context.heartbeat()

    services.job_handlers.register("test.flaky", flaky)
    services.job_handlers.register("test.async", async_ok)


@pytest.fixture(
    params=["stub", pytest.param("redis", marks=pytest.mark.broker), pytest.param("rabbitmq", marks=pytest.mark.broker)]
)
def broker_url(request: pytest.FixtureRequest) -> str:
    if request.param == "stub":
        return ""
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
def pg_services(pg_url: str, broker_url: str) -> Iterator[Services]:
    services = bootstrap(attrs.evolve(postgres_settings(pg_url), broker_url=broker_url))
    register_test_jobs(services)
    try:
        yield services
    finally:
        services.close()


@pytest.mark.postgres
def test_the_worker_host_runs_jobs_and_records_failures(pg_services: Services) -> None:
    # Given good, async and raising jobs
    jobs = pg_services.jobs
    good = jobs.enqueue_many([JobRequest(job_type="test.flaky", payload={"fail": False}) for _ in range(200)])
    coroutine = jobs.enqueue("test.async")
    bad = jobs.enqueue("test.flaky", {"fail": True}, max_attempts=1)
    retried = jobs.enqueue("test.flaky", {"fail": True}, max_attempts=2)
    broker = setup_broker(pg_services.settings, namespace=f"test-{uuid.uuid4().hex[:8]}")
    host = WorkerHost(
        pg_services,
        broker,
        WorkerOptions(threads=4, poll_interval=0.05, queue_name=f"jobs-{uuid.uuid4().hex[:8]}"),
    )
    # When the worker host runs
    host.start()
    try:
        wait_for(
            lambda: (
                jobs.get(OPERATOR, retried).attempts == 1 and jobs.get(OPERATOR, retried).status is JobStatus.PENDING
            ),
            30,
            "retry",
        )
        wait_for(lambda: jobs.stats(OPERATOR).by_status[JobStatus.COMPLETED] >= 201, 30, "completions")
        wait_for(lambda: jobs.get(OPERATOR, bad).status is JobStatus.DEAD, 30, "the dead letter")
        # Then good jobs completed; the raising one was recorded (the worker lived on)
        assert {jobs.get(OPERATOR, job_id).status for job_id in [*good, coroutine]} == {JobStatus.COMPLETED}
        dead = jobs.get(OPERATOR, bad)
        assert dead.last_error == f"RuntimeError: job {bad} fails on purpose"
        retry = jobs.get(OPERATOR, retried)
        assert retry.run_at - retry.errors[0].at == timedelta(seconds=60)
        follow_up = jobs.enqueue("test.flaky", {"fail": False})
        host.wake()
        wait_for(lambda: jobs.get(OPERATOR, follow_up).status is JobStatus.COMPLETED, 30, "a job after the failures")
    finally:
        host.stop()
        broker.close()


def slow_worker(url: str, marker: str) -> None:
    """Child process: the real ``run_worker`` with a 2 s lease; ``test.slow`` hangs on attempt 1."""

    def setup(services: Services) -> None:
        def slow(context: JobContext) -> None:
            Path(marker).write_text(f"started attempt {context.attempt}")
            if context.attempt == 1:
                time.sleep(60)

        services.job_handlers.register("test.slow", slow)

    options = WorkerOptions(threads=2, lease=timedelta(seconds=2), poll_interval=0.05, schedule_interval=0.2)
    run_worker(attrs.evolve(postgres_settings(url), log_json=False), options=options, setup=setup)


@pytest.mark.postgres
def test_a_job_whose_worker_is_killed_completes_later(pg_url: str, tmp_path: Path) -> None:
    # Given a queued slow job
    services = bootstrap(postgres_settings(pg_url))
    services.job_handlers.register("test.slow", lambda _context: None)
    job_id = services.jobs.enqueue("test.slow", {"step": "payout"})
    marker = tmp_path / "marker"
    code = f"from tests.integration.test_jobs_worker import slow_worker; slow_worker({pg_url!r}, {str(marker)!r})"

    def start_worker() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stderr=subprocess.DEVNULL)

    first = start_worker()
    second = None
    try:
        wait_for(lambda: marker.exists() and marker.read_text() == "started attempt 1", 30, "the first run")
        # When the worker is killed mid-job
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        assert services.jobs.get(OPERATOR, job_id).status is JobStatus.RUNNING
        second = start_worker()
        # Then another worker runs it after the lease, and nothing is lost
        wait_for(lambda: services.jobs.get(OPERATOR, job_id).status is JobStatus.COMPLETED, 30, "the job to complete")
        job = services.jobs.get(OPERATOR, job_id)
        assert job.attempts == 2 and marker.read_text() == "started attempt 2"
        assert job.errors[0].message.startswith("lease expired")
        # And the survivor shuts down cleanly on SIGTERM
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=20) == 0
    finally:
        for child in (first, second):
            if child is not None and child.poll() is None:
                child.kill()
        services.close()


def test_memory_mode_runs_jobs_on_the_in_process_broker(clock: ManualClock) -> None:
    # Given memory mode (no broker URL: Dramatiq's StubBroker) and a failing and a good job
    services = bootstrap(memory_settings(), clock=clock)
    register_test_jobs(services)
    good = services.jobs.enqueue("test.flaky", {"fail": False})
    bad = services.jobs.enqueue("test.flaky", {"fail": True}, max_attempts=2)
    broker = setup_broker(services.settings)
    host = WorkerHost(services, broker, WorkerOptions(threads=2, poll_interval=0.02, schedule_interval=0.05))
    host.start()
    try:
        # When the worker runs, and the clock moves past the backoff
        wait_for(lambda: services.jobs.get(OPERATOR, good).status is JobStatus.COMPLETED, 10, "the good job")
        wait_for(
            lambda: (
                services.jobs.get(OPERATOR, bad).attempts == 1
                and services.jobs.get(OPERATOR, bad).status is JobStatus.PENDING
            ),
            10,
            "a retry",
        )
        clock.advance(timedelta(seconds=60))
        # Then the retry runs on the moved clock and the job dies after its second failure
        wait_for(lambda: services.jobs.get(OPERATOR, bad).status is JobStatus.DEAD, 10, "the dead letter")
        assert [error.at for error in services.jobs.get(OPERATOR, bad).errors] == [
            clock.now() - timedelta(seconds=60),
            clock.now(),
        ]
    finally:
        host.stop()
        broker.close()
        services.close()


def counting_worker(url: str, broker_url: str, queue_name: str, runs: str) -> None:
    """Child process: the real ``run_worker``; ``test.count`` appends "pid job attempt" to ``runs``."""

    def setup(services: Services) -> None:
        def count(context: JobContext) -> None:
            with open(runs, "a") as file:  # one short append per line: atomic between processes
                file.write(f"{os.getpid()} {context.job_id} {context.attempt}\n")
            # A job that takes a moment, as real ones do: one fast process can't drain the
            # whole queue before the others have claimed anything.
            time.sleep(0.002)

        services.job_handlers.register("test.count", count)
        with open(runs + ".ready", "a") as file:
            file.write(f"{os.getpid()}\n")

    settings = attrs.evolve(postgres_settings(url), broker_url=broker_url, log_json=False)
    options = WorkerOptions(threads=4, claim_batch=50, poll_interval=0.02, queue_name=queue_name)
    run_worker(settings, options=options, setup=setup)


@pytest.mark.postgres
@pytest.mark.broker
def test_worker_processes_on_one_broker_run_each_job_once(pg_url: str, redis_url: str, tmp_path: Path) -> None:
    services = bootstrap(postgres_settings(pg_url))
    services.job_handlers.register("test.count", lambda _context: None)
    runs = tmp_path / "runs"
    ready = tmp_path / "runs.ready"
    queue_name = f"jobs-{uuid.uuid4().hex[:8]}"
    code = (
        "from tests.integration.test_jobs_worker import counting_worker; "
        f"counting_worker({pg_url!r}, {redis_url!r}, {queue_name!r}, {str(runs)!r})"
    )

    def completed(job_type: str) -> int:
        counts = {entry.job_type: entry.counts for entry in services.jobs.stats(OPERATOR).by_type}
        return counts[job_type][JobStatus.COMPLETED]

    # Given three worker processes sharing the database and the Redis queue
    children = [subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stderr=subprocess.DEVNULL) for _ in range(3)]
    try:
        wait_for(lambda: ready.exists() and len(ready.read_text().split()) == 3, 60, "the workers to start")
        # When 2,000 jobs are queued
        job_ids = services.jobs.enqueue_many([JobRequest(job_type="test.count") for _ in range(2000)])
        wait_for(lambda: completed("test.count") == 2000, 60, "all jobs to complete")
    finally:
        for child in children:
            child.send_signal(signal.SIGTERM)
        exit_codes = [child.wait(timeout=30) for child in children]
        services.close()
    # Then every job ran exactly once (attempt 1), and more than one process ran jobs
    lines = [line.split() for line in runs.read_text().splitlines()]
    assert sorted(int(job_id) for _pid, job_id, _attempt in lines) == sorted(job_ids)
    assert {attempt for _pid, _job_id, attempt in lines} == {"1"}
    workers = {int(pid) for pid, _job_id, _attempt in lines}
    assert len(workers) >= 2
    # And every process that ran jobs shut down cleanly on SIGTERM (one that was still
    # starting when the queue emptied may have had no handler installed yet).
    assert {
        child.pid: code for child, code in zip(children, exit_codes, strict=True) if child.pid in workers
    } == dict.fromkeys(workers, 0)


def test_jobs_the_broker_refuses_or_delivers_too_late_are_given_back(
    clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a worker host whose broker is down
    services = bootstrap(memory_settings(), clock=clock)
    register_test_jobs(services)
    broker = setup_broker(services.settings)
    host = WorkerHost(services, broker)
    refused = services.jobs.enqueue("test.flaky", {"fail": True}, max_attempts=1)

    def broker_down(*_args: object, **_kwargs: object) -> None:
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(broker, "enqueue", broker_down)
    # When the dispatcher claims and cannot send
    with pytest.raises(ConnectionError):
        host.dispatch_once()
    # Then the job is pending again with its one attempt unspent
    job = services.jobs.get(OPERATOR, refused)
    assert (job.status, job.attempts) == (JobStatus.PENDING, 0)
    # When a message arrives for a job this process no longer holds
    host.actor([refused])
    # Then the handler did not run (it would have failed): nothing changed
    job = services.jobs.get(OPERATOR, refused)
    assert (job.status, job.attempts, job.errors) == (JobStatus.PENDING, 0, ())
    services.close()
