"""Admin endpoints of the job queue: stats, lists by status, dead letters, replay, test jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from attrs import frozen
from litestar import get, post
from litestar.params import JSONBody, PathParameter, QueryParameter
from litestar.status_codes import HTTP_200_OK

from townsquare.core.errors import Conflict
from townsquare.core.jobs import POISON_TEST_JOB, Job, JobPage, JobRunner, JobStats, JobStatus, RunReport
from townsquare.hosts.http.auth import admin_guard
from townsquare.hosts.http.convert import project
from townsquare.hosts.http.deps import ServicesDep
from townsquare.hosts.http.openapi import one_of

TAGS = ["jobs", "admin"]
# Every endpoint here is admin-only and synchronous (store calls block).
ADMIN: dict[str, Any] = {"guards": [admin_guard], "tags": TAGS, "sync_to_thread": True}


# -- bodies ------------------------------------------------------------------------------


@frozen
class TestJobRequest:
    """A ``poison_test`` job: ``fail: true`` fails every attempt (60 s, 120 s ... then dead).

    Attributes:
        fail: whether every attempt fails.
        max_attempts: failures allowed before the job is dead (1-100).
        idempotency_key: the same key queues one job and answers its id.
    """

    fail: bool = True
    max_attempts: int = 3
    idempotency_key: str | None = None


@frozen
class JobErrorOut:
    """One failed attempt of a job.

    Attributes:
        attempt: the attempt's number (1 for the first run).
        at: when it failed (UTC).
        message: the error (type and message), cut at 4,000 characters.
    """

    attempt: int
    at: datetime
    message: str


@frozen
class JobOut:
    """A job in the durable queue.

    Attributes:
        id: the job's id, counting from 1.
        job_type: the registered type that runs it.
        payload: the handler's input, a JSON object.
        status: pending (waiting or retrying), running (under a lease), completed, or dead.
        priority: lower runs first among due jobs (-1000..1000).
        attempts: runs so far.
        max_attempts: failures allowed before it is dead.
        run_at: when it is (or was) due (UTC); a retry moves it 60 s, 120 s, 240 s ... ahead.
        idempotency_key: the key it was queued with, if any.
        created_at: when it was queued (UTC).
        finished_at: when it completed or died (UTC); null otherwise.
        lease_expires_at: while running: when its lease runs out (UTC).
        last_error: the last failed attempt's error, if any.
        errors: every failed attempt, oldest first.
    """

    id: int
    job_type: str
    payload: dict[str, Any]
    status: Annotated[str, one_of(JobStatus)]
    priority: int
    attempts: int
    max_attempts: int
    run_at: datetime
    idempotency_key: str | None
    created_at: datetime
    finished_at: datetime | None
    lease_expires_at: datetime | None
    last_error: str | None
    errors: list[JobErrorOut]

    @classmethod
    def from_job(cls, job: Job) -> JobOut:
        return project(
            job, cls, payload=dict(job.payload), errors=[project(error, JobErrorOut) for error in job.errors]
        )


@frozen
class JobPageOut:
    """A page of jobs, newest first.

    Attributes:
        items: the page's jobs.
        next_cursor: pass as ``cursor`` for the next page; null on the last page.
    """

    items: list[JobOut]
    next_cursor: str | None

    @classmethod
    def from_page(cls, page: JobPage) -> JobPageOut:
        return cls(items=[JobOut.from_job(job) for job in page.jobs], next_cursor=page.next_cursor)


@frozen
class TypeCountsOut:
    """One job type's counts.

    Attributes:
        job_type: the type.
        counts: jobs of this type by status (every status listed).
    """

    job_type: str
    counts: dict[str, int]


@frozen
class JobStatsOut:
    """The queue at a glance.

    Attributes:
        by_status: jobs by status (pending, running, completed, dead), every status listed.
        by_type: the same counts per job type, by type name.
        oldest_due_age_seconds: how long the oldest due pending job has waited (0 when none).
        dead_letters: jobs in the dead-letter queue.
    """

    by_status: dict[str, int]
    by_type: list[TypeCountsOut]
    oldest_due_age_seconds: float
    dead_letters: int

    @classmethod
    def from_stats(cls, stats: JobStats) -> JobStatsOut:
        return cls(
            by_status={status.value: count for status, count in stats.by_status.items()},
            by_type=[
                TypeCountsOut(job_type=entry.job_type, counts={s.value: n for s, n in entry.counts.items()})
                for entry in stats.by_type
            ],
            oldest_due_age_seconds=stats.oldest_due_age.total_seconds(),
            dead_letters=stats.dead_letters,
        )


@frozen
class EnqueuedOut:
    """A queued job.

    Attributes:
        job_id: its id (the first job's id again for a repeated idempotency key).
    """

    job_id: int


@frozen
class JobTypeOut:
    """A registered job type.

    Attributes:
        job_type: its name.
        description: what its handler does.
        every_seconds: for periodic work: its period (due at each multiple since the Unix epoch);
            null for jobs queued on demand.
    """

    job_type: str
    description: str
    every_seconds: float | None


@frozen
class RunReportOut:
    """What one run of the due work did.

    Attributes:
        completed: jobs that ran and succeeded.
        failed: jobs that failed (retried later, or dead after their last attempt).
        stale: runs that had lost their job to an expired lease (their outcome was dropped).
        rescued: running jobs whose lease had expired, offered again.
        scheduled: periodic schedules enqueued for their current period (an already queued
            period counts too: it is queued once).
    """

    completed: int
    failed: int
    stale: int
    rescued: int
    scheduled: int

    @classmethod
    def from_report(cls, report: RunReport) -> RunReportOut:
        return project(report, cls)


Limit = Annotated[int, QueryParameter(name="limit", ge=1, le=200, description="page size (1-200)")]
Cursor = Annotated[str | None, QueryParameter(name="cursor", description="the previous page's next_cursor")]
JobTypeFilter = Annotated[str | None, QueryParameter(name="job_type", description="only jobs of this type")]


# -- handlers ----------------------------------------------------------------------------


JobId = Annotated[int, PathParameter(description="the job's id")]


@get(
    "/api/v1/admin/jobs/stats", summary="Queue stats: counts by status and type, oldest due age, dead letters", **ADMIN
)
def job_stats(services: ServicesDep) -> JobStatsOut:
    """Counts of jobs by status and by type, how long the oldest due job has waited, and the dead-letter count."""
    return JobStatsOut.from_stats(services.jobs.stats())


@get("/api/v1/admin/jobs/types", summary="Registered job types and their schedules", **ADMIN)
def job_types(services: ServicesDep) -> list[JobTypeOut]:
    """Every registered job type with what it does, and the period of the periodic ones."""
    every = {schedule.job_type: schedule.every.total_seconds() for schedule in services.job_handlers.schedules}
    return [
        JobTypeOut(job_type=entry.job_type, description=entry.description, every_seconds=every.get(entry.job_type))
        for entry in services.job_handlers.entries
    ]


@get("/api/v1/admin/jobs", summary="Jobs in one status, newest first (cursor paged)", **ADMIN)
def list_jobs(
    services: ServicesDep,
    status: Annotated[JobStatus, QueryParameter(name="status", description="pending, running, completed or dead")],
    job_type: JobTypeFilter = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> JobPageOut:
    """Jobs in one status, newest first, cursor paged (`limit` 1-200), optionally of one job type. A cursor
    belongs to one status and type filter; another list's cursor is a 400.
    """
    return JobPageOut.from_page(services.jobs.list_jobs(status, limit=limit, cursor=cursor, job_type=job_type))


@get("/api/v1/admin/jobs/{job_id:int}", summary="One job with its error history", **ADMIN, problems=[404])
def get_job(services: ServicesDep, job_id: JobId) -> JobOut:
    """One job by id with its status, attempts, lease and error history; an unknown (or pruned) id is a 404."""
    return JobOut.from_job(services.jobs.get(job_id))


@get("/api/v1/admin/jobs/dead-letters", summary="The dead-letter queue, newest first (cursor paged)", **ADMIN)
def dead_letters(
    services: ServicesDep, job_type: JobTypeFilter = None, limit: Limit = 50, cursor: Cursor = None
) -> JobPageOut:
    """Jobs that used all their attempts, newest first, cursor paged, optionally of one job type; each with its
    error history.
    """
    return JobPageOut.from_page(services.jobs.dead_letters(limit=limit, cursor=cursor, job_type=job_type))


@get(
    "/api/v1/admin/jobs/dead-letters/{job_id:int}",
    summary="Inspect one dead job and its errors",
    **ADMIN,
    problems=[404],
)
def dead_letter(services: ServicesDep, job_id: JobId) -> JobOut:
    """One job of the dead-letter queue with every failed attempt; a job that is not dead is a 404."""
    return JobOut.from_job(services.jobs.dead_letter(job_id))


@post(
    "/api/v1/admin/jobs/dead-letters/{job_id:int}/replay",
    summary="Replay a dead job: a fresh set of attempts, due now",
    status_code=HTTP_200_OK,
    **ADMIN,
    problems=[404, 409],
)
def replay_dead_letter(services: ServicesDep, job_id: JobId) -> JobOut:
    """Give a dead job a fresh set of attempts, due now, keeping its error history. Only dead jobs can be
    replayed: another status is a 409.
    """
    return JobOut.from_job(services.jobs.replay(job_id))


@post("/api/v1/admin/jobs/test", summary='Enqueue a "poison_test" job (fail=true goes 60 s, 120 s, then dead)', **ADMIN)
def enqueue_test_job(services: ServicesDep, data: JSONBody[TestJobRequest]) -> EnqueuedOut:
    """Queue the seeds' `poison_test` job: `fail: true` fails every attempt (retried after 60 s, then 120 s, then
    dead with max_attempts 3), `fail: false` completes. An idempotency key queues it once.
    """
    job_id = services.jobs.enqueue(
        POISON_TEST_JOB,
        {"fail": data.fail},
        max_attempts=data.max_attempts,
        idempotency_key=data.idempotency_key,
    )
    return EnqueuedOut(job_id=job_id)


@post(
    "/api/v1/admin/jobs/run-due",
    summary="Memory mode: run every due job now, in this process (Postgres mode: the worker runs them)",
    status_code=HTTP_200_OK,
    **ADMIN,
    problems=[409],
)
def run_due_jobs(services: ServicesDep) -> RunReportOut:
    """Memory mode only: enqueue every periodic schedule's current period, rescue expired leases and run every
    due job in this process, then report. In postgres mode the worker runs jobs and this is a 409.
    """
    if not services.settings.is_memory:
        raise Conflict("jobs run in the worker process (townsquare worker) in postgres mode")
    return RunReportOut.from_report(JobRunner(services.jobs, services.job_handlers).run_due())


ROUTES: list[Any] = [
    job_stats,
    job_types,
    list_jobs,
    get_job,
    dead_letters,
    dead_letter,
    replay_dead_letter,
    enqueue_test_job,
    run_due_jobs,
]
