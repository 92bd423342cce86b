"""The worker host's pace (Postgres, stub broker): jobs begun in chunks sized by their run times, and a
consumer that waits less while jobs are on their way."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Sequence

import pytest

from tests.conftest import postgres_settings
from townsquare.bootstrap import Services, bootstrap
from townsquare.core.identity import system_actor
from townsquare.core.jobs import JobContext, JobRequest, JobService, JobStatus, Lease
from townsquare.hosts.worker.broker import setup_broker
from townsquare.hosts.worker.host import WorkerHost, WorkerOptions

OPERATOR = system_actor("tests")


class CountingStarts:
    """The host's job service, with the size of every start recorded (of the watched jobs only:
    the scheduler's periodic jobs run too)."""

    def __init__(self, jobs: JobService, watched: Sequence[int]) -> None:
        self._jobs = jobs
        self._watched = set(watched)
        self.sizes: list[int] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self._jobs, name)

    def start(self, leases: Sequence[Lease]) -> set[int]:
        watched = sum(1 for lease in leases if lease.job_id in self._watched)
        if watched:
            self.sizes.append(watched)
        return self._jobs.start(leases)


@pytest.fixture
def services(pg_url: str) -> Iterator[Services]:
    services = bootstrap(postgres_settings(pg_url))
    services.job_handlers.register("test.quick", lambda _context: None)

    def slow(_context: JobContext) -> None:
        time.sleep(0.02)

    services.job_handlers.register("test.slow", slow)
    try:
        yield services
    finally:
        services.close()


def run_all(services: Services, job_type: str, count: int) -> list[int]:
    """Run ``count`` jobs of ``job_type`` through a one-thread worker host; the sizes of its starts."""
    ids = services.jobs.enqueue_many([JobRequest(job_type=job_type) for _ in range(count)])
    broker = setup_broker(services.settings, namespace=f"test-{uuid.uuid4().hex[:8]}")
    options = WorkerOptions(threads=1, poll_interval=0.02, start_window=0.05, queue_name=f"jobs-{uuid.uuid4().hex[:8]}")
    host = WorkerHost(services, broker, options)
    counting = CountingStarts(host.jobs, ids)
    host.jobs = counting  # type: ignore[assignment]
    host.start()
    try:
        done: Callable[[], bool] = lambda: all(  # noqa: E731
            services.jobs.get(OPERATOR, job_id).status is JobStatus.COMPLETED for job_id in ids
        )
        deadline = time.monotonic() + 30
        while not done():
            assert time.monotonic() < deadline, "the jobs did not complete"
            time.sleep(0.05)
    finally:
        host.stop()
        broker.close()
    assert sum(counting.sizes) == count  # every job was begun exactly once
    return counting.sizes


@pytest.mark.postgres
def test_quick_jobs_are_begun_many_at_once(services: Services) -> None:
    sizes = run_all(services, "test.quick", 300)
    # The first is begun alone (its type's run time is not known yet); then whole messages.
    assert sizes[0] == 1
    assert max(sizes) > 10


@pytest.mark.postgres
def test_slow_jobs_are_begun_a_window_at_a_time(services: Services) -> None:
    sizes = run_all(services, "test.slow", 40)
    # 20 ms each in a 50 ms window: jobs expected to start at 0, 20 and 40 ms at most.
    assert sizes[0] == 1
    assert max(sizes) <= 3
    assert len(sizes) < 40


@pytest.mark.postgres
def test_the_consumer_waits_less_while_the_process_holds_jobs(services: Services) -> None:
    # Given an idle worker host on a polling broker
    broker = setup_broker(services.settings, namespace=f"test-{uuid.uuid4().hex[:8]}")
    options = WorkerOptions(
        threads=1,
        poll_interval=0.02,
        consumer_timeout=0.05,
        busy_consumer_timeout=0.005,
        queue_name=f"jobs-{uuid.uuid4().hex[:8]}",
    )
    host = WorkerHost(services, broker, options)
    host.start()
    try:
        assert wait_until(lambda: host.consumer_timeout_now() == 0.05)
        consumer = host._worker.consumers[host.queue_name].consumer  # type: ignore[union-attr]
        assert consumer.timeout == 50
        # When it holds jobs (slow ones: 40 x 20 ms), the consumer's cap is the busy one
        ids = services.jobs.enqueue_many([JobRequest(job_type="test.slow") for _ in range(40)])
        assert wait_until(lambda: len(host.in_flight) > 0 and consumer.timeout == 5)
        # And once they are done, the idle one again
        assert wait_until(
            lambda: all(services.jobs.get(OPERATOR, job_id).status is JobStatus.COMPLETED for job_id in ids)
        )
        assert wait_until(lambda: consumer.timeout == 50)
    finally:
        host.stop()
        broker.close()


def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True
