"""The broker down: jobs wait in Postgres, nothing is spent or lost, and they run when it returns.

A worker SIGKILLed mid-job is covered by
``tests/integration/test_jobs_worker.py::test_a_job_whose_worker_is_killed_completes_later``
(a real ``run_worker`` process killed with SIGKILL; another runs the job after the lease).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator

import pytest
from bench.running import Redis, Worker, as_role, base_env, sqlalchemy_url, wait_until

from tests.conftest import postgres_settings
from townsquare.adapters.postgres.database import HOST_ROLE
from townsquare.bootstrap import Services, bootstrap
from townsquare.core.identity import system_actor
from townsquare.core.jobs import POISON_TEST_JOB, JobStatus

OPERATOR = system_actor("tests")


@pytest.fixture
def pg_services(pg_dsn: str) -> Iterator[Services]:
    wired = bootstrap(postgres_settings(sqlalchemy_url(pg_dsn)))
    try:
        yield wired
    finally:
        wired.close()


def enqueue(services: Services, count: int, batch: str) -> list[int]:
    return [
        services.jobs.enqueue(POISON_TEST_JOB, {"fail": False}, idempotency_key=f"{batch}-{n}") for n in range(count)
    ]


def statuses(services: Services, job_ids: list[int]) -> Counter[JobStatus]:
    return Counter(services.jobs.get(OPERATOR, job_id).status for job_id in job_ids)


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.broker
def test_jobs_wait_in_postgres_while_the_broker_is_down(
    pg_dsn: str, pg_services: Services, private_redis: Redis
) -> None:
    # Given a `townsquare worker` on a Redis broker, running jobs
    env = base_env(
        PORTS_MODE="postgres",
        DATABASE_URL=as_role(pg_dsn, HOST_ROLE),
        BROKER_URL=private_redis.url,
        DATABASE_POOL_SIZE="4",
    )
    worker = Worker(env, threads=4)
    returned: Redis | None = None
    try:
        before = enqueue(pg_services, 20, "before")
        wait_until(lambda: statuses(pg_services, before)[JobStatus.COMPLETED] == 20, 30, "the first jobs to run")
        # When the broker goes away and jobs keep being enqueued
        private_redis.kill()
        during = enqueue(pg_services, 50, "during")
        wait_until(lambda: "jobs.dispatch_failed" in worker.tail(200), 15, "the worker to find the broker down")
        # Then they wait in Postgres: none ran, none was given up on, and the worker lives
        waiting = statuses(pg_services, during)
        assert waiting[JobStatus.COMPLETED] == 0 and waiting[JobStatus.DEAD] == 0
        assert set(waiting) <= {JobStatus.PENDING, JobStatus.RUNNING}
        assert worker.alive()
        # When the broker returns on the same address
        returned = Redis(port=private_redis.port)
        # Then every job runs, once, without an attempt spent on the outage
        drained = wait_until(
            lambda: statuses(pg_services, during)[JobStatus.COMPLETED] == 50, 30, "the waiting jobs to run"
        )
        jobs = [pg_services.jobs.get(OPERATOR, job_id) for job_id in [*before, *during]]
        assert Counter(job.status for job in jobs) == {JobStatus.COMPLETED: 70}
        assert {job.attempts for job in jobs} == {1}
        assert worker.alive()
        # The figures for docs/operations.md (shown with ``pytest -s``).
        figures = {"enqueued": 70, "completed": 70, "lost": 0, "seconds_to_drain_after_return": round(drained, 2)}
        print(json.dumps({"broker_down": figures}))
    finally:
        assert worker.stop() == 0, worker.tail()
        if returned is not None:
            returned.kill()
