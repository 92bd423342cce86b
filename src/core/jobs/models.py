"""The job model: what is queued, what a worker holds while running it, and what admins see."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from attrs import field, frozen


class JobStatus(StrEnum):
    """Where a job is in its life.

    ``pending`` waits for ``run_at``; ``running`` is held by a worker under a lease;
    ``completed`` succeeded (pruned after the retention); ``dead`` failed ``max_attempts``
    times and sits in the dead-letter queue until an admin replays or discards it;
    ``cancelled`` was stopped by an admin before it finished (pruned like completed jobs).
    """

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    DEAD = "dead"
    CANCELLED = "cancelled"


CANCELLABLE = frozenset({JobStatus.PENDING, JobStatus.RUNNING})
"""The statuses an admin may cancel from: a job that finished (or died) is past stopping."""


@frozen
class JobError:
    """One recorded failure of a job.

    Attributes:
        attempt: which attempt failed (1 for the first run).
        at: when the failure was recorded.
        message: the error (exception type and message, or why the lease was lost).
    """

    attempt: int
    at: datetime
    message: str


@frozen(kw_only=True)
class NewJob:
    """A validated job about to be stored; built by :class:`~townsquare.core.jobs.JobService`.

    ``payload`` is already normalised through JSON, so every adapter stores and returns the
    same value. ``trace_parent`` is the W3C ``traceparent`` of the span that was current when
    the job was enqueued (``None`` without tracing): the run's span links to it.
    """

    job_type: str
    payload: Mapping[str, Any]
    max_attempts: int
    run_at: datetime
    priority: int
    idempotency_key: str | None
    trace_parent: str | None = None


def _errors(values: Iterable[JobError]) -> tuple[JobError, ...]:
    return tuple(values)


@frozen(kw_only=True)
class Job:
    """A stored job, as admins inspect it.

    Attributes:
        id: the job id enqueue returned.
        job_type: selects the handler.
        payload: the handler's input (a JSON object).
        status: see :class:`JobStatus`.
        priority: lower numbers run first among due jobs (0 is the default).
        attempts: how many times a worker has started it.
        max_attempts: failures allowed before it is dead-lettered.
        run_at: when it is (or was) due.
        idempotency_key: the enqueue key, when one was given.
        created_at: when it was enqueued.
        finished_at: when it completed or died.
        lease_expires_at: while running, when the lease runs out.
        last_error: the most recent failure's message.
        errors: every recorded failure, oldest first.
        worker_id: while running, the worker process that claimed it (``None`` for in-process runners).
        started_at: while running, when its worker began running it (``None``: claimed, not begun).
    """

    id: int
    job_type: str
    payload: Mapping[str, Any]
    status: JobStatus
    priority: int
    attempts: int
    max_attempts: int
    run_at: datetime
    idempotency_key: str | None
    created_at: datetime
    finished_at: datetime | None = None
    lease_expires_at: datetime | None = None
    last_error: str | None = None
    errors: tuple[JobError, ...] = field(factory=tuple, converter=_errors)
    worker_id: uuid.UUID | None = None
    started_at: datetime | None = None


@frozen(kw_only=True)
class ClaimedJob:
    """A job a worker holds under a lease: everything needed to run it and report back.

    Attributes:
        id: the job id.
        job_type: selects the handler.
        payload: the handler's input.
        attempt: this run's attempt number (1 for the first).
        max_attempts: failures allowed before dead-lettering.
        lease_token: fences this run: reports carrying another token change nothing.
        lease_expires_at: when the lease runs out unless extended by a heartbeat.
        trace_parent: the W3C ``traceparent`` current when the job was enqueued (``None``
            without tracing); the run's span links to it.
    """

    id: int
    job_type: str
    payload: Mapping[str, Any]
    attempt: int
    max_attempts: int
    lease_token: uuid.UUID
    lease_expires_at: datetime
    trace_parent: str | None = None

    @property
    def lease(self) -> Lease:
        return Lease(job_id=self.id, token=self.lease_token)


@frozen
class Lease:
    """Proof that a worker still holds a job: its id and the token of the claim."""

    job_id: int
    token: uuid.UUID


@frozen(kw_only=True)
class StrandedJob:
    """A running job nobody will finish: its lease ran out, or its worker stopped heartbeating.

    Attributes:
        lease: the stranded run.
        attempt: the run's attempt number.
        max_attempts: failures allowed before dead-lettering.
        started: whether a worker began running it; a job that was only claimed (waiting in
            a dead worker's queue) is given back without spending an attempt.
        worker_died: the claiming worker stopped heartbeating (rather than the lease running out).
    """

    lease: Lease
    attempt: int
    max_attempts: int
    started: bool = True
    worker_died: bool = False


@frozen(kw_only=True)
class RescueReport:
    """What one rescue round did.

    Attributes:
        retried: lost runs recorded as failed attempts (due again at once, or dead).
        released: claimed jobs that never started, pending again with their attempt unspent.
        dead_workers: worker processes found dead and forgotten (their queues may be dropped).
    """

    retried: int
    released: int
    dead_workers: tuple[uuid.UUID, ...] = ()

    @property
    def rescued(self) -> int:
        return self.retried + self.released


@frozen(kw_only=True)
class FailureUpdate:
    """How the store must record one failed attempt; the retry decision was made in core.

    Attributes:
        lease: the run that failed (ignored if the job was taken over meanwhile).
        error: the recorded failure.
        retry_at: when to run again, or ``None`` to dead-letter the job.
    """

    lease: Lease
    error: JobError
    retry_at: datetime | None


@frozen
class TypeCounts:
    """How many jobs of one type are in each status."""

    job_type: str
    counts: Mapping[JobStatus, int]


@frozen(kw_only=True)
class JobStats:
    """A queue health snapshot.

    Attributes:
        by_status: jobs per status (every status present, zeros included).
        by_type: per job type, jobs per status.
        oldest_due_age: how long the oldest due pending job has waited (zero when none).
        dead_letters: jobs in the dead-letter queue.
        estimated: True when the completed counts are an estimate (see
            :meth:`~townsquare.core.jobs.service.JobService.stats_estimate`); the other
            statuses are always counted exactly.
    """

    by_status: Mapping[JobStatus, int]
    by_type: tuple[TypeCounts, ...]
    oldest_due_age: timedelta
    dead_letters: int
    estimated: bool = False


@frozen(kw_only=True)
class Outcome:
    """What happened when a worker ran a claimed job.

    Attributes:
        job: the claimed job.
        error: ``None`` on success, else the failure message.
    """

    job: ClaimedJob
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.error is None


@frozen(kw_only=True)
class TypeControl:
    """An admin's controls over one job type, honoured by every claim in every worker process.

    Attributes:
        job_type: the controlled type.
        paused: no worker claims jobs of this type (running ones finish) until it is resumed.
        max_running: at most this many jobs of the type run at once across all workers
            (``None``: no limit of its own).
    """

    job_type: str
    paused: bool = False
    max_running: int | None = None

    @property
    def is_default(self) -> bool:
        """Whether nothing is controlled (the store keeps no row for it)."""
        return not self.paused and self.max_running is None


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(text: str) -> str:
    """Lowercase ASCII letters only: the same in Python and in Postgres' ``translate``, whatever
    the database's collation (Unicode case rules differ between the two)."""
    return text.translate(_ASCII_LOWER)


@frozen(kw_only=True)
class DeadLetterFilter:
    """Which dead letters a bulk replay or discard acts on; every given condition must hold.

    Attributes:
        job_type: only this type.
        error_contains: only jobs whose last error contains this text, ignoring ASCII case
            (already lowered: build it through the service).
        dead_since: only jobs that died at or after this time.
        dead_until: only jobs that died before this time.
    """

    job_type: str | None = None
    error_contains: str | None = None
    dead_since: datetime | None = None
    dead_until: datetime | None = None

    def matches(self, job: Job) -> bool:
        """The rule, for stores that filter in Python (the memory store)."""
        if job.status is not JobStatus.DEAD:
            return False
        if self.job_type is not None and job.job_type != self.job_type:
            return False
        if self.error_contains is not None and self.error_contains not in ascii_lower(job.last_error or ""):
            return False
        finished = job.finished_at
        if self.dead_since is not None and (finished is None or finished < self.dead_since):
            return False
        return not (self.dead_until is not None and (finished is None or finished >= self.dead_until))
