"""Wake-ups on enqueue across processes (Postgres LISTEN/NOTIFY) and through the worker host."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from tests.conftest import postgres_settings
from tests.integration.test_jobs_worker import wait_for
from townsquare.adapters.postgres.database import PgDatabase
from townsquare.bootstrap import Services, bootstrap
from townsquare.core.identity import system_actor
from townsquare.core.jobs import JobStatus
from townsquare.hosts.worker.broker import setup_broker
from townsquare.hosts.worker.host import WorkerHost, WorkerOptions

pytestmark = pytest.mark.postgres
OPERATOR = system_actor("tests")


def wire(url: str, **overrides: object) -> Services:
    services = bootstrap(postgres_settings(url, **overrides))
    services.job_handlers.register("test.noop", lambda _context: None)
    return services


@pytest.fixture
def two_processes(pg_url: str) -> Iterator[tuple[Services, Services]]:
    """An enqueuing process (an HTTP host) and a listening one (a worker), as two wirings."""
    web, worker = wire(pg_url), wire(pg_url)
    while worker.jobs.wait_for_due_jobs(0.3):  # the listener's first report when it connects
        pass
    try:
        yield web, worker
    finally:
        web.close()
        worker.close()


def test_an_enqueue_in_one_process_wakes_the_worker_of_another(two_processes: tuple[Services, Services]) -> None:
    web, worker = two_processes
    # When
    web.jobs.enqueue("test.noop")
    # Then
    assert worker.jobs.wait_for_due_jobs(5.0)


def test_a_rolled_back_enqueue_wakes_nobody(two_processes: tuple[Services, Services]) -> None:
    web, worker = two_processes
    # When
    with pytest.raises(RuntimeError), web.uow.transaction():
        web.jobs.enqueue("test.noop")
        raise RuntimeError("the caller's write failed")
    # Then
    assert not worker.jobs.wait_for_due_jobs(0.5)


def test_an_enqueue_in_a_callers_own_transaction_wakes_on_its_commit(
    two_processes: tuple[Services, Services],
) -> None:
    web, worker = two_processes
    db = web.uow
    assert isinstance(db, PgDatabase)
    # Given the caller's own connection and transaction (PgDatabase.bind)
    with db.engine.connect() as conn:
        conn.execute(text("SELECT set_config('role', 'townsquare_system', true)"))
        with db.bind(conn):
            web.jobs.enqueue("test.noop")
        # Then nothing is heard before the caller commits
        assert not worker.jobs.wait_for_due_jobs(0.5)
        conn.commit()
    # And it is heard after
    assert worker.jobs.wait_for_due_jobs(5.0)


def test_an_idle_worker_host_runs_a_new_job_without_waiting_for_its_poll(pg_url: str, redis_url: str) -> None:
    # Given an idle worker host on Redis that would poll only every 30 s
    services = wire(pg_url, broker_url=redis_url)
    broker = setup_broker(services.settings, namespace=f"test-{uuid.uuid4().hex[:8]}")
    host = WorkerHost(
        services,
        broker,
        WorkerOptions(threads=2, poll_interval=30.0, schedule_interval=30.0, queue_name=f"jobs-{uuid.uuid4().hex[:8]}"),
    )
    host.start()
    web = wire(pg_url)
    try:
        time.sleep(1.0)  # the dispatcher's first rounds have found nothing: it waits now
        # When another process enqueues
        job_id = web.jobs.enqueue("test.noop")
        # Then the job runs within a few seconds (a loaded machine), far inside the poll
        wait_for(lambda: web.jobs.get(OPERATOR, job_id).status is JobStatus.COMPLETED, 5.0, "the woken worker")
    finally:
        host.stop()
        broker.close()
        web.close()
        services.close()
