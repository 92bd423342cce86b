"""Real races on Postgres for the job controls: cancel against racing claimers, per-type limits
against racing claimers in separate "processes" (one Services, pool and connection each), and a
pause landing while workers claim."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import attrs
import pytest
from sqlalchemy import text

from tests.conftest import postgres_settings
from townsquare.bootstrap import Services, bootstrap
from townsquare.core.errors import Conflict
from townsquare.core.identity import Actor, system_actor
from townsquare.core.jobs import ClaimedJob, JobStatus

OPERATOR = system_actor("tests")


pytestmark = pytest.mark.postgres
ADMIN = Actor("ops-1", roles={"admin"})
WORKERS = 4


def worker_services(pg_url: str) -> Services:
    services = bootstrap(attrs.evolve(postgres_settings(pg_url), database_pool_size=4))
    for job_type in ("test.noop", "test.report", "test.mail"):
        services.job_handlers.register(job_type, lambda _context: None)
    return services


@pytest.fixture
def fleet(pg_url: str) -> Iterator[list[Services]]:
    """An admin's Services and one per worker, as separate processes would have."""
    members = [worker_services(pg_url) for _ in range(WORKERS + 1)]
    try:
        yield members
    finally:
        for services in members:
            services.close()


def run_all(targets: list[Callable[[], None]]) -> None:
    errors: list[BaseException] = []

    def guarded(target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except BaseException as exc:
                errors.append(exc)

        return run

    threads = [threading.Thread(target=guarded(target)) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def race_cancel_against_claims(admin: Services, workers: list[Services]) -> tuple[JobStatus, bool, int, int]:
    """One round: a job, four workers released at once with the admin's cancel.

    Returns the job's final status, whether the cancel succeeded, how many workers ran it and
    how many completions were recorded.
    """
    job_id = admin.jobs.enqueue("test.noop")
    barrier = threading.Barrier(len(workers) + 1)
    runs: list[int] = []
    completions: list[int] = []
    cancelled: list[bool] = []

    def work(services: Services) -> Callable[[], None]:
        def run() -> None:
            barrier.wait()
            for claimed in services.jobs.claim(1):
                # A worker runs only what start still hands it (the actor's fence).
                if claimed.id in services.jobs.start([claimed.lease]):
                    runs.append(claimed.id)
                    completions.append(services.jobs.complete([claimed.lease]))

        return run

    def cancel() -> None:
        barrier.wait()
        try:
            admin.jobs.cancel(ADMIN, job_id)
            cancelled.append(True)
        except Conflict:
            cancelled.append(False)

    run_all([work(services) for services in workers] + [cancel])
    return admin.jobs.get(OPERATOR, job_id).status, cancelled == [True], len(runs), sum(completions)


def test_a_job_cancelled_while_four_workers_race_to_claim_it_never_completes(fleet: list[Services]) -> None:
    admin, workers = fleet[0], fleet[1:]
    cancelled_before_start = cancelled_after_start = completed = 0
    for _ in range(60):
        # When a cancel races four claimers
        status, cancelled, runs, completions = race_cancel_against_claims(admin, workers)
        # Then the job ran at most once, and a cancel that succeeded left no completion behind
        assert runs <= 1
        if cancelled:
            assert status is JobStatus.CANCELLED and completions == 0
            if runs:
                cancelled_after_start += 1
            else:
                cancelled_before_start += 1
        else:
            assert status is JobStatus.COMPLETED and completions == 1
            completed += 1
    # And the race was really run: cancels landed before a start in some rounds
    assert cancelled_before_start > 0, (cancelled_before_start, cancelled_after_start, completed)


def test_a_limit_of_two_holds_against_four_racing_claimers(fleet: list[Services]) -> None:
    # Given 120 limited jobs and 40 others, the limited type capped at 2
    admin, workers = fleet[0], fleet[1:]
    for _ in range(120):
        admin.jobs.enqueue("test.report")
    for _ in range(40):
        admin.jobs.enqueue("test.mail")
    admin.jobs.set_limit(ADMIN, "test.report", 2)
    lock = threading.Lock()
    held = {"now": 0, "most": 0, "done": 0}
    observed: list[int] = []
    stop = threading.Event()

    def work(services: Services, seed: int) -> Callable[[], None]:
        def run() -> None:
            round_ = seed
            while held["done"] < 120:
                round_ += 1
                claimed = services.jobs.claim(1 + round_ % 4)
                reports = [job for job in claimed if job.job_type == "test.report"]
                with lock:
                    held["now"] += len(reports)
                    held["most"] = max(held["most"], held["now"])
                time.sleep(0.001 * (round_ % 3))
                with lock:
                    held["now"] -= len(reports)
                    held["done"] += len(reports)
                services.jobs.complete([job.lease for job in claimed])
                if not claimed:
                    time.sleep(0.002)

        return run

    def watch() -> None:
        # Every committed state, as one statement sees it, has at most two running.
        with admin.uow.engine.connect() as conn:  # type: ignore[attr-defined]
            while not stop.is_set() and held["done"] < 120:
                count = conn.execute(
                    text("SELECT count(*) FROM jobs WHERE status = 'running' AND job_type = 'test.report'")
                ).scalar_one()
                conn.commit()
                observed.append(int(count))

    # When
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        run_all([work(services, index) for index, services in enumerate(workers)])
    finally:
        stop.set()
        watcher.join()
    # Then
    assert held["most"] == 2, held
    assert observed and max(observed) <= 2
    stats = admin.jobs.stats(OPERATOR)
    assert stats.by_status[JobStatus.COMPLETED] == 160 and stats.by_status[JobStatus.PENDING] == 0


def test_no_claim_begun_after_a_pause_hands_out_the_paused_type(fleet: list[Services]) -> None:
    # Given plenty of both types and four workers claiming and completing in a loop
    admin, workers = fleet[0], fleet[1:]
    for _ in range(1500):
        admin.jobs.enqueue("test.mail")
        admin.jobs.enqueue("test.noop")
    claims: list[tuple[float, list[ClaimedJob]]] = []
    paused_at: list[float] = []
    stop = threading.Event()

    def work(services: Services) -> Callable[[], None]:
        def run() -> None:
            while not stop.is_set():
                began = time.monotonic()
                claimed = services.jobs.claim(5)
                claims.append((began, claimed))
                services.jobs.complete([job.lease for job in claimed])

        return run

    def pause() -> None:
        time.sleep(0.3)
        admin.jobs.pause(ADMIN, "test.mail")
        paused_at.append(time.monotonic())
        time.sleep(0.3)
        stop.set()

    # When
    run_all([work(services) for services in workers] + [pause])
    # Then claims before the pause took mails; none that began after it did
    before = [job for began, claimed in claims if began < paused_at[0] for job in claimed]
    after = [job for began, claimed in claims if began > paused_at[0] for job in claimed]
    assert any(job.job_type == "test.mail" for job in before)
    assert after and all(job.job_type == "test.noop" for job in after)
    # And the pause is in the database: a process started afterwards does not claim mails either
    late = workers[0]
    assert all(job.job_type == "test.noop" for job in late.jobs.claim(50))
    admin.jobs.resume(ADMIN, "test.mail")
    assert any(job.job_type == "test.mail" for job in late.jobs.claim(1000))
