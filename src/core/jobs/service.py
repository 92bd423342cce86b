"""The job service: enqueue (transactional, idempotent), claim, report, rescue, inspect and replay."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from attrs import field, frozen

from townsquare.core.clock import Clock
from townsquare.core.cursor import CursorCodec
from townsquare.core.errors import Conflict, InvalidInput, NotFound
from townsquare.core.identity import Actor
from townsquare.core.jobs.handlers import JobHandlers, Schedule, check_job_type
from townsquare.core.jobs.models import (
    CANCELLABLE,
    ClaimedJob,
    DeadLetterFilter,
    FailureUpdate,
    Job,
    JobStats,
    JobStatus,
    Lease,
    NewJob,
    Outcome,
    RescueReport,
    TypeControl,
    ascii_lower,
)
from townsquare.core.jobs.policy import LeasePolicy, RetryPolicy
from townsquare.core.jobs.ports import JobStore, JobWakeups
from townsquare.core.text import is_storable
from townsquare.core.uow import UnitOfWork

MAX_ATTEMPTS_LIMIT = 100
PRIORITY_RANGE = (-1000, 1000)
MAX_PAYLOAD_BYTES = 256 * 1024
MAX_KEY_LENGTH = 200
MAX_ERROR_LENGTH = 4000
MAX_SCHEDULE_AHEAD = timedelta(days=3660)
MAX_BATCH = 10_000
MAX_TYPE_LIMIT = 10_000
MAX_ERROR_FILTER_LENGTH = 200


class LeaseLost(Conflict):
    """The run no longer holds its job (the lease expired and the job was rescued or re-claimed)."""

    code = "lease_lost"


class JobCancelled(LeaseLost):
    """An admin cancelled the job while it ran: stop working (nothing more will be recorded)."""

    code = "job_cancelled"


@frozen(kw_only=True)
class JobRequest:
    """One job to enqueue with :meth:`JobService.enqueue_many` (the arguments of ``enqueue``)."""

    job_type: str
    payload: Mapping[str, Any] | None = None
    idempotency_key: str | None = None
    max_attempts: int = 3
    run_at: datetime | None = None
    delay: timedelta | None = None
    priority: int = 0


@frozen
class JobPage:
    """One page of jobs and the cursor of the next page (``None`` on the last)."""

    jobs: list[Job]
    next_cursor: str | None


@frozen
class RecordReport:
    """How many reported outcomes were applied (runs that had lost their lease are not)."""

    completed: int
    failed: int
    stale: int


@frozen(kw_only=True)
class JobService:
    """The queue's operations; every one runs in (or joins) a unit of work.

    Args:
        uow: opens or joins the transaction; enqueue inside the caller's transaction
            commits or rolls back with it.
        store: the JobStore adapter.
        wakeups: tells idle workers that jobs became due (enqueue, release, replay).
        clock: every time decision.
        handlers: the registry; enqueue rejects job types without a handler.
        cursors: signs the admin lists' page cursors.
        retry: the backoff policy.
        lease: the lease duration.
        retention: how long completed jobs are kept before pruning.
        trace_parent: the W3C ``traceparent`` of the span current in the calling thread, or
            ``None``; stored with every job enqueued, so its run can link to the enqueuer
            (wired by the composition root when tracing is on; ``None``: not called at all).
    """

    uow: UnitOfWork
    store: JobStore
    wakeups: JobWakeups
    clock: Clock
    handlers: JobHandlers
    cursors: CursorCodec
    retry: RetryPolicy = field(factory=RetryPolicy)
    lease: LeasePolicy = field(factory=LeasePolicy)
    retention: timedelta = timedelta(days=7)
    trace_parent: Callable[[], str | None] | None = None

    # -- enqueue -----------------------------------------------------------------------

    def enqueue(
        self,
        job_type: str,
        payload: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
        max_attempts: int = 3,
        run_at: datetime | None = None,
        priority: int = 0,
        delay: timedelta | None = None,
    ) -> int:
        """Queue a job and return its id.

        Inside an open ``uow.transaction()`` this joins that transaction: the job exists
        exactly when the caller's writes commit.

        Args:
            job_type: a registered job type.
            payload: the handler's input: a JSON object (``None`` means ``{}``).
            idempotency_key: when given, enqueueing again with the same key returns the
                first job's id (also under racing enqueues) while that job is stored.
            max_attempts: failures allowed before dead-lettering (1-100).
            run_at: when the job becomes due (timezone-aware); times in the past mean now.
            priority: lower runs first among due jobs (-1000..1000, default 0).
            delay: alternatively, how long from now until it is due (not negative).

        Raises:
            InvalidInput: unknown job type, payload not a JSON object, bad numbers or times.
        """
        request = JobRequest(
            job_type=job_type,
            payload=payload,
            idempotency_key=idempotency_key,
            max_attempts=max_attempts,
            run_at=run_at,
            delay=delay,
            priority=priority,
        )
        return self.enqueue_many([request])[0]

    def enqueue_many(self, requests: Sequence[JobRequest]) -> list[int]:
        """Queue many jobs in one statement; returns their ids in order.

        Requests sharing an idempotency key (with each other or a stored job) get the same id.

        Raises:
            InvalidInput: any request is invalid (then none is queued).
        """
        if len(requests) > MAX_BATCH:
            raise InvalidInput(f"at most {MAX_BATCH} jobs per batch", field="jobs")
        if not requests:
            return []
        now = self.clock.now()
        # Every enqueue passes here: the one place the enqueuer's trace context is read.
        parent = self.trace_parent() if self.trace_parent is not None else None
        jobs = [self._new_job(request, now, parent) for request in requests]
        # One job is one statement, atomic on its own: alone it commits by itself (one round
        # trip in Postgres); inside the caller's transaction it joins it, like a batch.
        unit = self.uow.single_statements() if len(jobs) == 1 else self.uow.transaction()
        with unit:
            ids = [self.store.add_one(jobs[0], now)] if len(jobs) == 1 else self.store.add(jobs, now)
            # Jobs due later are found by the workers' polls; announcing them would only wake
            # workers for nothing.
            if any(job.run_at <= now for job in jobs):
                self.wakeups.announce()
        return ids

    def _new_job(self, request: JobRequest, now: datetime, trace_parent: str | None) -> NewJob:
        check_job_type(request.job_type)
        if request.job_type not in self.handlers:
            raise InvalidInput(f"unknown job type {request.job_type!r}: no handler is registered", field="job_type")
        if isinstance(request.max_attempts, bool) or not isinstance(request.max_attempts, int):
            raise InvalidInput("max_attempts must be an integer", field="max_attempts")
        if not 1 <= request.max_attempts <= MAX_ATTEMPTS_LIMIT:
            raise InvalidInput(f"max_attempts must be between 1 and {MAX_ATTEMPTS_LIMIT}", field="max_attempts")
        if isinstance(request.priority, bool) or not isinstance(request.priority, int):
            raise InvalidInput("priority must be an integer", field="priority")
        if not PRIORITY_RANGE[0] <= request.priority <= PRIORITY_RANGE[1]:
            raise InvalidInput(
                f"priority must be between {PRIORITY_RANGE[0]} and {PRIORITY_RANGE[1]}", field="priority"
            )
        key = request.idempotency_key
        if key is not None and (not isinstance(key, str) or not 0 < len(key) <= MAX_KEY_LENGTH or not is_storable(key)):
            raise InvalidInput(f"idempotency_key must be 1-{MAX_KEY_LENGTH} characters", field="idempotency_key")
        return NewJob(
            job_type=request.job_type,
            payload=normalize_payload(request.payload),
            max_attempts=request.max_attempts,
            run_at=_due_time(request.run_at, request.delay, now),
            priority=request.priority,
            idempotency_key=key,
            trace_parent=trace_parent,
        )

    # -- running jobs ------------------------------------------------------------------

    def claim(
        self, limit: int, *, max_running: int | None = None, worker_id: uuid.UUID | None = None
    ) -> list[ClaimedJob]:
        """Take up to ``limit`` due jobs under a new lease (never a job another run holds).

        Args:
            limit: batch size (1-10000).
            max_running: claim fewer when more than this many jobs would be running.
            worker_id: the registered worker process claiming them (see
                :meth:`register_worker`); its jobs are re-offered as soon as it stops
                heartbeating. ``None`` for runners that run what they claim at once.
        """
        if not 1 <= limit <= MAX_BATCH:
            raise InvalidInput(f"limit must be between 1 and {MAX_BATCH}", field="limit")
        now = self.clock.now()
        # One statement, atomic on its own (one round trip in Postgres).
        with self.uow.single_statements():
            return self.store.claim(
                now,
                limit=limit,
                token=uuid.uuid4(),
                lease_expires_at=self.lease.expires(now),
                max_running=max_running,
                worker_id=worker_id,
            )

    def start(self, leases: Sequence[Lease]) -> set[int]:
        """Mark claimed jobs as begun, just before running them; returns the ids still held.

        A job not returned was taken away meanwhile (rescued, cancelled): it must not run.
        Only begun runs spend an attempt when their worker dies.
        """
        if not leases:
            return set()
        now = self.clock.now()
        # One statement, atomic on its own: committed before any of these jobs runs.
        with self.uow.single_statements():
            return set(self.store.start(leases, now))

    def wait_for_due_jobs(self, timeout: float) -> bool:
        """Block until jobs were announced due (by any process) or ``timeout`` seconds pass.

        Idle workers call this between polls; True when woken by an announcement.
        """
        return self.wakeups.wait(timeout)

    def register_worker(self, worker_id: uuid.UUID, name: str) -> None:
        """Record a worker process as alive; it must then call :meth:`worker_heartbeat`
        well within ``lease.worker_timeout``."""
        with self.uow.transaction():
            self.store.register_worker(worker_id, name[:200], self.clock.now())

    def worker_heartbeat(self, worker_id: uuid.UUID) -> bool:
        """Keep a worker process alive; False when it had been found dead (register again)."""
        with self.uow.transaction():
            return self.store.beat_worker(worker_id, self.clock.now())

    def unregister_worker(self, worker_id: uuid.UUID) -> None:
        """Forget a worker process that stopped cleanly (after giving back its unstarted jobs)."""
        with self.uow.transaction():
            self.store.forget_worker(worker_id)

    def heartbeat(self, lease: Lease) -> datetime:
        """Extend a running job's lease by the lease duration; returns the new expiry.

        Raises:
            JobCancelled: an admin cancelled the job (a :class:`LeaseLost`).
            LeaseLost: the run no longer holds the job.
        """
        expires = self.lease.expires(self.clock.now())
        with self.uow.transaction():
            held = self.store.extend_lease(lease, expires)
            job = None if held else self.store.get(lease.job_id)
        if job is not None and job.status is JobStatus.CANCELLED:
            raise JobCancelled(f"job {lease.job_id} was cancelled")
        if not held:
            raise LeaseLost(f"job {lease.job_id} is no longer held by this run (its lease expired)")
        return expires

    def complete(self, leases: Sequence[Lease]) -> int:
        """Mark runs completed; returns how many still held their job (others changed nothing)."""
        if not leases:
            return 0
        now = self.clock.now()
        with self.uow.transaction():
            return self.store.complete(leases, now)

    def release(self, leases: Sequence[Lease]) -> int:
        """Give back claimed jobs that were never run (e.g. the broker refused the message).

        They are pending again at once and the claim does not count as an attempt. Returns
        how many were still held (a run that lost its lease changes nothing).
        """
        if not leases:
            return 0
        with self.uow.transaction():
            released = self.store.release(leases)
            if released:
                self.wakeups.announce()
        return released

    def record(self, outcomes: Sequence[Outcome]) -> RecordReport:
        """Report a batch of runs: successes complete, failures retry after the backoff or die.

        A run that lost its lease (rescued, re-claimed) is counted as stale and changes nothing.
        """
        if not outcomes:
            return RecordReport(completed=0, failed=0, stale=0)
        now = self.clock.now()
        done = [outcome.job.lease for outcome in outcomes if outcome.error is None]
        failures = [
            self.retry.after_failure(
                outcome.job.lease,
                outcome.job.attempt,
                outcome.job.max_attempts,
                _clean_error(outcome.error),
                now,
            )
            for outcome in outcomes
            if outcome.error is not None
        ]
        with self.uow.transaction():
            completed = self.store.complete(done, now) if done else 0
            failed = self.store.fail(failures, now) if failures else 0
        return RecordReport(completed=completed, failed=failed, stale=len(outcomes) - completed - failed)

    def fail(self, job: ClaimedJob, error: str) -> bool:
        """Report one failed run; False when it had lost its lease."""
        return self.record([Outcome(job=job, error=error)]).failed == 1

    def rescue_stranded_jobs(self, *, limit: int = 1000) -> RescueReport:
        """Re-offer running jobs nobody will finish: their lease expired, or their worker
        process stopped heartbeating for ``lease.worker_timeout``.

        A run that had begun counts as a failed attempt: the job is due again at once, or
        dead when it has used all its attempts. A job that was only claimed (it waited in a
        dead worker's queue) is pending again with its attempt unspent. Dead workers are
        forgotten once they hold no job.
        """
        now = self.clock.now()
        seen_before = now - self.lease.worker_timeout
        with self.uow.transaction():
            stranded = self.store.stranded(now, workers_seen_before=seen_before, limit=limit)
            failures: list[FailureUpdate] = []
            unstarted: list[Lease] = []
            for job in stranded:
                failure = self.retry.after_lost_run(job, now)
                if failure is None:
                    unstarted.append(job.lease)
                else:
                    failures.append(failure)
            retried = self.store.fail(failures, now) if failures else 0
            released = self.store.release(unstarted) if unstarted else 0
            dead_workers = self.store.forget_dead_workers(seen_before)
            if retried or released:
                self.wakeups.announce()  # re-offered at once, to whichever worker is idle
        return RescueReport(retried=retried, released=released, dead_workers=tuple(dead_workers))

    def prune(self, *, limit: int = 10_000) -> int:
        """Delete completed and cancelled jobs older than the retention; returns how many (at most ``limit``)."""
        cutoff = self.clock.now() - self.retention
        with self.uow.transaction():
            return self.store.prune(cutoff, limit=limit)

    # -- periodic work -----------------------------------------------------------------

    def enqueue_due_schedules(self, schedules: Sequence[Schedule] | None = None) -> list[int]:
        """Enqueue each schedule's job for the current period (idempotent per period).

        Periods are aligned to the Unix epoch; the key ``periodic:<type>:<period start>``
        makes any number of workers calling this enqueue each period's job once.
        """
        now = self.clock.now()
        requests = []
        for schedule in self.handlers.schedules if schedules is None else schedules:
            start = schedule.period_start(now)
            requests.append(
                JobRequest(
                    job_type=schedule.job_type,
                    payload=schedule.payload,
                    idempotency_key=f"periodic:{schedule.job_type}:{start.isoformat()}",
                    priority=schedule.priority,
                )
            )
        return self.enqueue_many(requests)

    # -- admin -------------------------------------------------------------------------

    def get(self, actor: Actor, job_id: int) -> Job:
        """One job by id.

        Raises:
            Forbidden: the actor is not an admin.
            NotFound: no such job (or it was pruned).
        """
        actor.require_admin()
        return self._get(job_id)

    def _get(self, job_id: int) -> Job:
        with self.uow.transaction():
            job = self.store.get(job_id)
        if job is None:
            raise NotFound(f"job {job_id} does not exist", field="job_id")
        return job

    def list_jobs(
        self,
        actor: Actor,
        status: JobStatus,
        *,
        limit: int = 50,
        cursor: str | None = None,
        job_type: str | None = None,
    ) -> JobPage:
        """Jobs in one status, newest first, keyset-paged.

        Raises:
            Forbidden: the actor is not an admin.
            InvalidInput: bad limit or job type; InvalidCursor for a bad cursor.
        """
        actor.require_admin()
        if not 1 <= limit <= 200:
            raise InvalidInput("limit must be between 1 and 200", field="limit")
        if job_type is not None:
            check_job_type(job_type)
        scope = f"jobs:{status.value}:{job_type or '*'}"
        before_id = None
        if cursor is not None:
            position = self.cursors.decode(scope, cursor)
            before_id = position.get("before_id")
            if not isinstance(before_id, int):
                raise InvalidInput("cursor body is malformed", field="cursor")
        with self.uow.transaction():
            jobs = self.store.list_jobs(status, limit=limit + 1, before_id=before_id, job_type=job_type)
        next_cursor = None
        if len(jobs) > limit:
            jobs = jobs[:limit]
            next_cursor = self.cursors.encode(scope, {"before_id": jobs[-1].id})
        return JobPage(jobs=jobs, next_cursor=next_cursor)

    def dead_letters(
        self, actor: Actor, *, limit: int = 50, cursor: str | None = None, job_type: str | None = None
    ) -> JobPage:
        """The dead-letter queue, most recent first."""
        return self.list_jobs(actor, JobStatus.DEAD, limit=limit, cursor=cursor, job_type=job_type)

    def dead_letter(self, actor: Actor, job_id: int) -> Job:
        """One dead job, with its error history.

        Raises:
            Forbidden: the actor is not an admin.
            NotFound: no such job, or it is not dead.
        """
        job = self.get(actor, job_id)
        if job.status is not JobStatus.DEAD:
            raise NotFound(f"job {job_id} is not in the dead-letter queue (it is {job.status.value})", field="job_id")
        return job

    def replay(self, actor: Actor, job_id: int) -> Job:
        """Give a dead job a fresh set of attempts, due now; its error history is kept.

        Raises:
            NotFound: no such job.
            Forbidden: the actor is not an admin.
            Conflict: the job is not dead (only dead letters can be replayed).
        """
        actor.require_admin()
        now = self.clock.now()
        with self.uow.transaction():
            job = self.store.get(job_id)
            if job is None:
                raise NotFound(f"job {job_id} does not exist", field="job_id")
            if job.status is not JobStatus.DEAD or not self.store.requeue_dead(job_id, now):
                raise Conflict(f"job {job_id} is {job.status.value}; only dead jobs can be replayed", field="job_id")
            replayed = self.store.get(job_id)
            self.wakeups.announce()
        assert replayed is not None
        return replayed

    # -- admin controls (the admin role is checked here; route guards are a second line) --

    def cancel(self, actor: Actor, job_id: int) -> Job:
        """Cancel a pending job (it never runs) or a running one.

        A running job's lease is dropped at once: its worker learns it at the handler's next
        heartbeat (:class:`JobCancelled`), and whatever that run reports later is fenced by
        the lease, so it cannot overwrite ``cancelled``. A job claimed but not yet begun is
        not started.

        Raises:
            Forbidden: the actor is not an admin.
            NotFound: no such job.
            Conflict: the job already finished (completed, dead or cancelled): nothing changed.
        """
        actor.require_admin()
        now = self.clock.now()
        with self.uow.transaction():
            job = self.store.get(job_id)
            if job is None:
                raise NotFound(f"job {job_id} does not exist", field="job_id")
            if job.status not in CANCELLABLE or not self.store.cancel(job_id, CANCELLABLE, now):
                current = self.store.get(job_id)
                status = (current or job).status.value
                raise Conflict(
                    f"job {job_id} is {status}; only pending or running jobs can be cancelled", field="job_id"
                )
            cancelled = self.store.get(job_id)
        assert cancelled is not None
        return cancelled

    def type_controls(self, actor: Actor) -> list[TypeControl]:
        """The controls of every registered job type (defaults included), by type name.

        Raises:
            Forbidden: the actor is not an admin.
        """
        actor.require_admin()
        with self.uow.transaction():
            stored = {control.job_type: control for control in self.store.controls()}
        return [stored.get(entry.job_type, TypeControl(job_type=entry.job_type)) for entry in self.handlers.entries]

    def pause(self, actor: Actor, job_type: str) -> TypeControl:
        """Stop every worker claiming jobs of this type (running ones finish); idempotent.

        Raises:
            Forbidden: the actor is not an admin.
            NotFound: no handler is registered for the type.
        """
        return self._change_control(actor, job_type, paused=True)

    def resume(self, actor: Actor, job_type: str) -> TypeControl:
        """Let workers claim the type again; idempotent.

        Raises:
            Forbidden: the actor is not an admin.
            NotFound: no handler is registered for the type.
        """
        return self._change_control(actor, job_type, paused=False)

    def set_limit(self, actor: Actor, job_type: str, max_running: int | None) -> TypeControl:
        """Run at most ``max_running`` jobs of the type at once across every worker process
        (``None`` removes the limit). Jobs already running are not stopped: a lower limit
        holds back claims until enough of them finish.

        Raises:
            Forbidden: the actor is not an admin.
            NotFound: no handler is registered for the type.
            InvalidInput: the limit is not an integer in 1..10000 (field ``max_running``).
        """
        if max_running is not None and (
            isinstance(max_running, bool) or not isinstance(max_running, int) or not 1 <= max_running <= MAX_TYPE_LIMIT
        ):
            raise InvalidInput(f"max_running must be an integer between 1 and {MAX_TYPE_LIMIT}", field="max_running")
        return self._change_control(actor, job_type, max_running=max_running, change_limit=True)

    def _change_control(
        self,
        actor: Actor,
        job_type: str,
        *,
        paused: bool | None = None,
        max_running: int | None = None,
        change_limit: bool = False,
    ) -> TypeControl:
        actor.require_admin()
        self._check_registered(job_type)
        now = self.clock.now()
        with self.uow.transaction():
            current = next(
                (control for control in self.store.controls() if control.job_type == job_type),
                TypeControl(job_type=job_type),
            )
            changed = TypeControl(
                job_type=job_type,
                paused=current.paused if paused is None else paused,
                max_running=max_running if change_limit else current.max_running,
            )
            if changed != current:
                self.store.set_control(changed, now)
        return changed

    def _check_registered(self, job_type: str) -> None:
        check_job_type(job_type)
        if job_type not in self.handlers:
            raise NotFound(f"unknown job type {job_type!r}: no handler is registered", field="job_type")

    def dead_letter_filter(
        self,
        *,
        job_type: str | None = None,
        error_contains: str | None = None,
        dead_since: datetime | None = None,
        dead_until: datetime | None = None,
    ) -> DeadLetterFilter:
        """Check a bulk filter (no condition: every dead letter).

        Raises:
            InvalidInput: malformed type, empty or over-long error text, naive times, or
                ``dead_since`` after ``dead_until`` (naming the field).
        """
        if job_type is not None:
            check_job_type(job_type)
        if error_contains is not None and (
            not isinstance(error_contains, str)
            or not 0 < len(error_contains) <= MAX_ERROR_FILTER_LENGTH
            or not is_storable(error_contains)
        ):
            raise InvalidInput(f"error_contains must be 1-{MAX_ERROR_FILTER_LENGTH} characters", field="error_contains")
        for name, value in (("dead_since", dead_since), ("dead_until", dead_until)):
            if value is not None and (not isinstance(value, datetime) or value.tzinfo is None):
                raise InvalidInput(f"{name} must be a timezone-aware time", field=name)
        if dead_since is not None and dead_until is not None and dead_since > dead_until:
            raise InvalidInput("dead_until must not be before dead_since", field="dead_until")
        return DeadLetterFilter(
            job_type=job_type,
            error_contains=ascii_lower(error_contains) if error_contains is not None else None,
            dead_since=dead_since.astimezone(UTC) if dead_since is not None else None,
            dead_until=dead_until.astimezone(UTC) if dead_until is not None else None,
        )

    def replay_dead_letters(self, actor: Actor, dead: DeadLetterFilter) -> int:
        """Replay every matching dead letter (a fresh set of attempts, due now, error history
        kept) in one transaction; returns how many.

        Raises:
            Forbidden: the actor is not an admin.
        """
        actor.require_admin()
        now = self.clock.now()
        with self.uow.transaction():
            replayed = self.store.requeue_dead_matching(dead, now)
            if replayed:
                self.wakeups.announce()
        return replayed

    def discard_dead_letters(self, actor: Actor, dead: DeadLetterFilter) -> int:
        """Delete every matching dead letter in one transaction (their idempotency keys are
        freed, so the work can be enqueued afresh); returns how many.

        Raises:
            Forbidden: the actor is not an admin.
        """
        actor.require_admin()
        with self.uow.transaction():
            return self.store.delete_dead_matching(dead)

    def stats(self, actor: Actor) -> JobStats:
        """Counts by status and type, the oldest due job's age, and the dead-letter count (admins)."""
        actor.require_admin()
        now = self.clock.now()
        with self.uow.transaction():
            return self.store.stats(now)

    def stats_estimate(self, actor: Actor) -> JobStats:
        """:meth:`stats` cheap enough for every metrics scrape and console refresh.

        Pending, running and dead jobs (the ones an operator acts on) are counted exactly;
        completed jobs, which are most of a big table, may be an estimate
        (``JobStats.estimated``).
        """
        actor.require_admin()
        now = self.clock.now()
        with self.uow.transaction():
            return self.store.stats_estimate(now)


def normalize_payload(payload: Mapping[str, Any] | None) -> dict[str, Any]:
    """Check that ``payload`` is a JSON object Postgres can store; return a detached copy.

    Raises:
        InvalidInput: not a mapping, not JSON-serializable, NaN/Infinity, NUL characters,
            unpaired surrogates, or larger than 256 KiB.
    """
    if payload is None:
        return {}
    if not isinstance(payload, Mapping):
        raise InvalidInput("payload must be a JSON object", field="payload")
    try:
        text = json.dumps(dict(payload), allow_nan=False, ensure_ascii=False, separators=(",", ":"))
        size = len(text.encode("utf-8"))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"payload is not JSON-serializable: {exc}", field="payload") from None
    if size > MAX_PAYLOAD_BYTES:
        raise InvalidInput(f"payload is larger than {MAX_PAYLOAD_BYTES // 1024} KiB", field="payload")
    normalized: dict[str, Any] = json.loads(text)
    if "\\u0000" in text and _has_nul(normalized):
        raise InvalidInput("payload strings must not contain NUL characters", field="payload")
    return normalized


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


def _due_time(run_at: datetime | None, delay: timedelta | None, now: datetime) -> datetime:
    if run_at is not None and delay is not None:
        raise InvalidInput("give run_at or delay, not both", field="run_at")
    if delay is not None:
        if not isinstance(delay, timedelta):
            raise InvalidInput("delay must be a duration", field="delay")
        if delay < timedelta(0):
            raise InvalidInput("delay must not be negative", field="delay")
        if delay > MAX_SCHEDULE_AHEAD:
            raise InvalidInput("delay is more than ten years", field="delay")
        return now + delay
    if run_at is None:
        return now
    if not isinstance(run_at, datetime) or run_at.tzinfo is None:
        raise InvalidInput("run_at must be a timezone-aware time", field="run_at")
    run_at = run_at.astimezone(UTC)
    if run_at - now > MAX_SCHEDULE_AHEAD:
        raise InvalidInput("run_at is more than ten years ahead", field="run_at")
    # A time slightly in the past (computed just before enqueue) simply means "due now".
    return max(run_at, now)


def _clean_error(error: str) -> str:
    # Postgres text cannot hold NUL; long tracebacks are cut to keep rows small.
    cleaned = error.replace("\x00", "\ufffd")
    return cleaned if len(cleaned) <= MAX_ERROR_LENGTH else cleaned[: MAX_ERROR_LENGTH - 1] + "…"
