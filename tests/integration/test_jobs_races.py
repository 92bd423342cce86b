"""Real races on Postgres: racing idempotent enqueues, and worker processes claiming the same queue."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from tests.conftest import postgres_settings
from townsquare.bootstrap import Services, bootstrap
from townsquare.core.identity import system_actor
from townsquare.core.jobs import JobRequest, JobStatus, Outcome

OPERATOR = system_actor("tests")


pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def pg_services(pg_url: str) -> Iterator[Services]:
    services = bootstrap(attrs.evolve(postgres_settings(pg_url), database_pool_size=24))
    services.job_handlers.register("test.noop", lambda _context: None)
    try:
        yield services
    finally:
        services.close()


def test_racing_enqueues_with_one_key_make_one_job(pg_services: Services) -> None:
    # Given 20 threads released at once
    barrier = threading.Barrier(20)
    ids: list[int] = []
    errors: list[BaseException] = []

    def enqueue() -> None:
        try:
            barrier.wait()
            ids.append(pg_services.jobs.enqueue("test.noop", {"n": 1}, idempotency_key="welcome-mail:alice"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=enqueue) for _ in range(20)]
    # When
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then
    assert errors == []
    assert len(ids) == 20 and len(set(ids)) == 1
    assert pg_services.jobs.stats(OPERATOR).by_status[JobStatus.PENDING] == 1


def test_racing_batches_sharing_keys_agree_on_ids(pg_services: Services) -> None:
    # Given 8 threads enqueueing overlapping batches of keys
    barrier = threading.Barrier(8)
    results: list[dict[str, int]] = []

    def enqueue() -> None:
        barrier.wait()
        keys = [f"k{i}" for i in range(100)]
        random.shuffle(keys)  # each thread takes the keys in its own order
        requests = [JobRequest(job_type="test.noop", idempotency_key=key) for key in keys]
        results.append(dict(zip(keys, pg_services.jobs.enqueue_many(requests), strict=True)))

    threads = [threading.Thread(target=enqueue) for _ in range(8)]
    # When
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then every thread got the same id for each key and 100 jobs exist
    assert len(results) == 8 and all(result == results[0] for result in results)
    assert pg_services.jobs.stats(OPERATOR).by_status[JobStatus.PENDING] == 100


def claim_until_empty(url: str) -> None:
    """Child process: claim in small batches and complete until the queue is empty; print claims."""
    services = bootstrap(postgres_settings(url))
    services.job_handlers.register("test.noop", lambda _context: None)
    claims: list[tuple[int, int]] = []
    empty_rounds = 0
    while empty_rounds < 3:
        claimed = services.jobs.claim(20)
        empty_rounds = 0 if claimed else empty_rounds + 1
        claims += [(job.id, job.attempt) for job in claimed]
        services.jobs.record([Outcome(job=job) for job in claimed])
    services.close()
    print(json.dumps(claims))


def test_worker_processes_claim_each_job_once(pg_services: Services, pg_url: str) -> None:
    # Given 3,000 due jobs
    pg_services.jobs.enqueue_many([JobRequest(job_type="test.noop") for _ in range(3000)])
    code = f"from tests.integration.test_jobs_races import claim_until_empty; claim_until_empty({pg_url!r})"
    # When 4 processes drain the queue at once
    children = [
        subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True) for _ in range(4)
    ]
    outputs = [child.communicate(timeout=120)[0] for child in children]
    # Then each job was claimed exactly once, by one process, and all completed
    assert all(child.returncode == 0 for child in children)
    per_child = [json.loads(output.strip().splitlines()[-1]) for output in outputs]
    claims = Counter(job_id for claims in per_child for job_id, _attempt in claims)
    assert len(claims) == 3000 and set(claims.values()) == {1}
    assert sum(1 for claims in per_child if claims) >= 2, "the race needs at least two processes claiming"
    stats = pg_services.jobs.stats(OPERATOR)
    assert stats.by_status[JobStatus.COMPLETED] == 3000 and stats.by_status[JobStatus.RUNNING] == 0
