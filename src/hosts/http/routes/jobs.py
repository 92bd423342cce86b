"""Admin endpoints of the job queue: stats, lists by status, dead letters, replay, test jobs, and the
controls (cancel, pause/resume, per-type limits, bulk replay/discard of dead letters)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from attrs import frozen
from litestar import Router
from litestar.params import JSONBody, PathParameter, QueryParameter
from litestar.status_codes import HTTP_200_OK

from townsquare.core.errors import Conflict
from townsquare.core.jobs import (
    POISON_TEST_JOB,
    Job,
    JobPage,
    JobRunner,
    JobStats,
    JobStatus,
    RunReport,
    TypeControl,
)
from townsquare.hosts.http.auth import admin_guard
from townsquare.hosts.http.convert import project
from townsquare.hosts.http.deps import ActorDep, ServicesDep
from townsquare.hosts.http.openapi import one_of
from townsquare.hosts.http.routes.declare import API, get, post

TAGS = ["jobs", "admin"]


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
        status: pending (waiting or retrying), running (under a lease), completed, dead, or
            cancelled (by an admin).
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
        by_status: jobs by status (pending, running, completed, dead, cancelled), every status listed.
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


@frozen
class TypeControlOut:
    """An admin's controls over one job type, honoured by every worker process.

    Attributes:
        job_type: the type.
        paused: no worker claims its jobs (running ones finish) until it is resumed.
        max_running: at most this many of its jobs run at once across all workers; null: no limit.
    """

    job_type: str
    paused: bool
    max_running: int | None

    @classmethod
    def from_control(cls, control: TypeControl) -> TypeControlOut:
        return project(control, cls)


@frozen
class LimitIn:
    """A per-type concurrency limit.

    Attributes:
        max_running: 1-10000 jobs of the type running at once across all workers; null removes
            the limit.
    """

    max_running: int | None


@frozen
class DeadLetterFilterIn:
    """Which dead letters a bulk action takes; every given condition must hold (none: all of them).

    Attributes:
        job_type: only this type.
        error_contains: only jobs whose last error contains this text (1-200 characters), ignoring
            ASCII case.
        dead_since: only jobs that died at or after this time (with a zone).
        dead_until: only jobs that died before this time (with a zone).
    """

    job_type: str | None = None
    error_contains: str | None = None
    dead_since: datetime | None = None
    dead_until: datetime | None = None


@frozen
class BulkOut:
    """What a bulk action did.

    Attributes:
        count: dead letters replayed (or discarded).
    """

    count: int


Limit = Annotated[int, QueryParameter(name="limit", ge=1, le=200, description="page size (1-200)")]
Cursor = Annotated[str | None, QueryParameter(name="cursor", description="the previous page's next_cursor")]
JobTypeFilter = Annotated[str | None, QueryParameter(name="job_type", description="only jobs of this type")]


# -- handlers ----------------------------------------------------------------------------


JobId = Annotated[int, PathParameter(description="the job's id")]
JobType = Annotated[str, PathParameter(description="a registered job type")]


@get("/stats", summary="Queue stats: counts by status and type, oldest due age, dead letters")
def job_stats(services: ServicesDep, actor: ActorDep) -> JobStatsOut:
    """Counts of jobs by status and by type, how long the oldest due job has waited, and the dead-letter count."""
    return JobStatsOut.from_stats(services.jobs.stats(actor))


@get("/types", summary="Registered job types and their schedules")
def job_types(services: ServicesDep) -> list[JobTypeOut]:
    """Every registered job type with what it does, and the period of the periodic ones."""
    every = {schedule.job_type: schedule.every.total_seconds() for schedule in services.job_handlers.schedules}
    return [
        JobTypeOut(job_type=entry.job_type, description=entry.description, every_seconds=every.get(entry.job_type))
        for entry in services.job_handlers.entries
    ]


@get("/", summary="Jobs in one status, newest first (cursor paged)")
def list_jobs(
    services: ServicesDep,
    actor: ActorDep,
    *,
    status: Annotated[JobStatus, QueryParameter(name="status", description="pending, running, completed or dead")],
    job_type: JobTypeFilter = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> JobPageOut:
    """Jobs in one status, newest first, cursor paged (`limit` 1-200), optionally of one job type. A cursor
    belongs to one status and type filter; another list's cursor is a 400.
    """
    return JobPageOut.from_page(services.jobs.list_jobs(actor, status, limit=limit, cursor=cursor, job_type=job_type))


@get("/{job_id:int}", summary="One job with its error history", problems=[404])
def get_job(services: ServicesDep, actor: ActorDep, job_id: JobId) -> JobOut:
    """One job by id with its status, attempts, lease and error history; an unknown (or pruned) id is a 404."""
    return JobOut.from_job(services.jobs.get(actor, job_id))


@get("/dead-letters", summary="The dead-letter queue, newest first (cursor paged)")
def dead_letters(
    services: ServicesDep, actor: ActorDep, job_type: JobTypeFilter = None, limit: Limit = 50, cursor: Cursor = None
) -> JobPageOut:
    """Jobs that used all their attempts, newest first, cursor paged, optionally of one job type; each with its
    error history.
    """
    return JobPageOut.from_page(services.jobs.dead_letters(actor, limit=limit, cursor=cursor, job_type=job_type))


@get("/dead-letters/{job_id:int}", summary="Inspect one dead job and its errors", problems=[404])
def dead_letter(services: ServicesDep, actor: ActorDep, job_id: JobId) -> JobOut:
    """One job of the dead-letter queue with every failed attempt; a job that is not dead is a 404."""
    return JobOut.from_job(services.jobs.dead_letter(actor, job_id))


@post(
    "/dead-letters/{job_id:int}/replay",
    summary="Replay a dead job: a fresh set of attempts, due now",
    status_code=HTTP_200_OK,
    problems=[404, 409],
)
def replay_dead_letter(services: ServicesDep, actor: ActorDep, job_id: JobId) -> JobOut:
    """Give a dead job a fresh set of attempts, due now, keeping its error history. Only dead jobs can be
    replayed: another status is a 409.
    """
    return JobOut.from_job(services.jobs.replay(actor, job_id))


@post("/test", summary='Enqueue a "poison_test" job (fail=true goes 60 s, 120 s, then dead)')
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
    "/run-due",
    summary="Memory mode: run every due job now, in this process (Postgres mode: the worker runs them)",
    status_code=HTTP_200_OK,
    problems=[409],
)
def run_due_jobs(services: ServicesDep) -> RunReportOut:
    """Memory mode only: enqueue every periodic schedule's current period, rescue expired leases and run every
    due job in this process, then report. In postgres mode the worker runs jobs and this is a 409.
    """
    if not services.settings.is_memory:
        raise Conflict("jobs run in the worker process (townsquare worker) in postgres mode")
    return RunReportOut.from_report(JobRunner(services.jobs, services.job_handlers).run_due())


@post("/{job_id:int}/cancel", summary="Cancel a pending or running job", status_code=HTTP_200_OK, problems=[404, 409])
def cancel_job(services: ServicesDep, actor: ActorDep, job_id: JobId) -> JobOut:
    """Cancel a job. A pending job never runs; a running one loses its lease at once, its worker stops at the
    handler's next heartbeat and its late report changes nothing. A completed, dead or cancelled job is a 409
    (nothing changed); an unknown id is a 404.
    """
    return JobOut.from_job(services.jobs.cancel(actor, job_id))


@get("/controls", summary="Pause state and concurrency limit of every job type")
def type_controls(services: ServicesDep, actor: ActorDep) -> list[TypeControlOut]:
    """Every registered job type with whether it is paused and its concurrency limit, by type name."""
    return [TypeControlOut.from_control(control) for control in services.jobs.type_controls(actor)]


@post(
    "/types/{job_type:str}/pause",
    summary="Pause a job type: no worker claims it until resumed",
    status_code=HTTP_200_OK,
    problems=[404],
)
def pause_type(services: ServicesDep, actor: ActorDep, job_type: JobType) -> TypeControlOut:
    """Stop every worker process claiming jobs of this type (stored in the database; running jobs finish, new ones
    wait). Idempotent. An unregistered type is a 404, a malformed name a 400.
    """
    return TypeControlOut.from_control(services.jobs.pause(actor, job_type))


@post("/types/{job_type:str}/resume", summary="Resume a paused job type", status_code=HTTP_200_OK, problems=[404])
def resume_type(services: ServicesDep, actor: ActorDep, job_type: JobType) -> TypeControlOut:
    """Let workers claim the type again. Idempotent. An unregistered type is a 404, a malformed name a 400."""
    return TypeControlOut.from_control(services.jobs.resume(actor, job_type))


@post(
    "/types/{job_type:str}/limit",
    summary="Set or remove a job type's concurrency limit",
    status_code=HTTP_200_OK,
    problems=[404],
)
def limit_type(services: ServicesDep, actor: ActorDep, job_type: JobType, data: JSONBody[LimitIn]) -> TypeControlOut:
    """At most `max_running` (1-10000) jobs of the type run at once across every worker process; null removes the
    limit. Running jobs are not stopped: a lower limit holds claims back until enough finish. An unregistered type
    is a 404; a bad limit a 400 naming `max_running`.
    """
    return TypeControlOut.from_control(services.jobs.set_limit(actor, job_type, data.max_running))


def _filter(services: ServicesDep, data: DeadLetterFilterIn) -> Any:
    return services.jobs.dead_letter_filter(
        job_type=data.job_type,
        error_contains=data.error_contains,
        dead_since=data.dead_since,
        dead_until=data.dead_until,
    )


@post("/dead-letters/replay", summary="Replay every dead letter matching a filter", status_code=HTTP_200_OK)
def replay_dead_letters(services: ServicesDep, actor: ActorDep, data: JSONBody[DeadLetterFilterIn]) -> BulkOut:
    """Replay, in one transaction, every dead letter matching the filter (type, error text ignoring ASCII case,
    died since/until; an empty filter takes all): fresh attempts, due now, history kept. Answers the count.
    """
    return BulkOut(count=services.jobs.replay_dead_letters(actor, _filter(services, data)))


@post("/dead-letters/discard", summary="Discard (delete) every dead letter matching a filter", status_code=HTTP_200_OK)
def discard_dead_letters(services: ServicesDep, actor: ActorDep, data: JSONBody[DeadLetterFilterIn]) -> BulkOut:
    """Delete, in one transaction, every dead letter matching the filter (as for replay); their idempotency keys
    are freed. Answers the count.
    """
    return BulkOut(count=services.jobs.discard_dead_letters(actor, _filter(services, data)))


HANDLERS: list[Any] = [
    job_stats,
    job_types,
    list_jobs,
    get_job,
    dead_letters,
    dead_letter,
    replay_dead_letter,
    enqueue_test_job,
    run_due_jobs,
    cancel_job,
    type_controls,
    pause_type,
    resume_type,
    limit_type,
    replay_dead_letters,
    discard_dead_letters,
]


def router() -> Router:
    """The job queue's admin routes under /api/v1/admin/jobs: every one needs the admin role."""
    return Router(path=f"{API}/admin/jobs", route_handlers=HANDLERS, tags=TAGS, guards=[admin_guard])
