"""The memory JobStore: jobs in a dict, serialised by the memory database's lock (mock mode)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from attrs import evolve

from townsquare.adapters.memory.database import MemoryDatabase
from townsquare.core.jobs import (
    ClaimedJob,
    DeadLetterFilter,
    FailureUpdate,
    Job,
    JobStats,
    JobStatus,
    Lease,
    NewJob,
    StrandedJob,
    TypeControl,
    TypeCounts,
)

_FINISHED = (JobStatus.COMPLETED, JobStatus.CANCELLED)


class MemoryJobStore:
    """Keeps every job in memory; each change records its undo so a failed transaction leaves none."""

    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db
        self._jobs: dict[int, Job] = {}
        self._tokens: dict[int, uuid.UUID] = {}
        self._keys: dict[str, int] = {}
        self._workers: dict[uuid.UUID, datetime] = {}  # worker id -> last heartbeat
        self._controls: dict[str, TypeControl] = {}
        # The enqueuer's trace context, beside the job (admins' Job view does not show it).
        self._trace_parents: dict[int, str] = {}
        # Ids are never reused, not even after a rollback (as a Postgres sequence).
        self._last_id = 0
        db.on_reset(self._reset)

    def _reset(self) -> None:
        self._jobs.clear()
        self._tokens.clear()
        self._keys.clear()
        self._workers.clear()
        self._controls.clear()
        self._trace_parents.clear()
        self._last_id = 0

    def _put(self, job: Job, token: uuid.UUID | None = None) -> None:
        previous, previous_token = self._jobs.get(job.id), self._tokens.get(job.id)
        self._jobs[job.id] = job
        if token is None:
            self._tokens.pop(job.id, None)
        else:
            self._tokens[job.id] = token

        def undo() -> None:
            if previous is None:
                self._jobs.pop(job.id, None)
            else:
                self._jobs[job.id] = previous
            if previous_token is None:
                self._tokens.pop(job.id, None)
            else:
                self._tokens[job.id] = previous_token

        self._db.record_undo(undo)

    def _held(self, lease: Lease) -> Job | None:
        job = self._jobs.get(lease.job_id)
        if job is None or job.status is not JobStatus.RUNNING or self._tokens.get(job.id) != lease.token:
            return None
        return job

    def add_one(self, job: NewJob, now: datetime) -> int:
        return self.add([job], now)[0]

    def add(self, jobs: Sequence[NewJob], now: datetime) -> list[int]:
        with self._db.lock:
            ids = []
            for new in jobs:
                self._last_id += 1
                key = new.idempotency_key
                if key is not None and key in self._keys:
                    ids.append(self._keys[key])
                    continue
                job = Job(
                    id=self._last_id,
                    job_type=new.job_type,
                    payload=new.payload,
                    status=JobStatus.PENDING,
                    priority=new.priority,
                    attempts=0,
                    max_attempts=new.max_attempts,
                    run_at=new.run_at,
                    idempotency_key=key,
                    created_at=now,
                )
                self._put(job)
                if key is not None:
                    self._set_key(key, job.id)
                if new.trace_parent is not None:
                    self._set_trace_parent(job.id, new.trace_parent)
                ids.append(job.id)
            return ids

    def _set_trace_parent(self, job_id: int, trace_parent: str) -> None:
        self._trace_parents[job_id] = trace_parent

        def undo() -> None:
            self._trace_parents.pop(job_id, None)

        self._db.record_undo(undo)

    def _set_key(self, key: str, job_id: int) -> None:
        self._keys[key] = job_id

        def undo() -> None:
            self._keys.pop(key, None)

        self._db.record_undo(undo)

    def claim(
        self,
        now: datetime,
        *,
        limit: int,
        token: uuid.UUID,
        lease_expires_at: datetime,
        max_running: int | None,
        worker_id: uuid.UUID | None,
    ) -> list[ClaimedJob]:
        with self._db.lock:
            running: dict[str, int] = {}
            for job in self._jobs.values():
                if job.status is JobStatus.RUNNING:
                    running[job.job_type] = running.get(job.job_type, 0) + 1
            if max_running is not None:
                limit = min(limit, max(0, max_running - sum(running.values())))
            candidates = sorted(
                (
                    job
                    for job in self._jobs.values()
                    if job.status is JobStatus.PENDING
                    and job.run_at <= now
                    and not (job.job_type in self._controls and self._controls[job.job_type].paused)
                ),
                key=lambda job: (job.priority, job.run_at, job.id),
            )
            due: list[Job] = []
            for job in candidates:
                if len(due) >= limit:
                    break
                control = self._controls.get(job.job_type)
                if control is not None and control.max_running is not None:
                    if running.get(job.job_type, 0) >= control.max_running:
                        continue
                    running[job.job_type] = running.get(job.job_type, 0) + 1
                due.append(job)
            claimed = []
            for job in due:
                running_job = evolve(
                    job,
                    status=JobStatus.RUNNING,
                    attempts=job.attempts + 1,
                    lease_expires_at=lease_expires_at,
                    worker_id=worker_id,
                    started_at=None,
                )
                self._put(running_job, token)
                claimed.append(
                    ClaimedJob(
                        id=job.id,
                        job_type=job.job_type,
                        payload=job.payload,
                        attempt=running_job.attempts,
                        max_attempts=job.max_attempts,
                        lease_token=token,
                        lease_expires_at=lease_expires_at,
                        trace_parent=self._trace_parents.get(job.id),
                    )
                )
            return claimed

    def start(self, leases: Sequence[Lease], now: datetime) -> list[int]:
        with self._db.lock:
            held = []
            for lease in leases:
                job = self._held(lease)
                if job is not None:
                    self._put(evolve(job, started_at=now), lease.token)
                    held.append(job.id)
            return held

    def register_worker(self, worker_id: uuid.UUID, name: str, now: datetime) -> None:
        with self._db.lock:
            self._set_worker(worker_id, now)

    def beat_worker(self, worker_id: uuid.UUID, now: datetime) -> bool:
        with self._db.lock:
            if worker_id not in self._workers:
                return False
            self._set_worker(worker_id, now)
            return True

    def forget_worker(self, worker_id: uuid.UUID) -> None:
        with self._db.lock:
            self._set_worker(worker_id, None)

    def forget_dead_workers(self, seen_before: datetime) -> list[uuid.UUID]:
        with self._db.lock:
            holding = {job.worker_id for job in self._jobs.values() if job.status is JobStatus.RUNNING}
            dead = sorted(
                worker_id
                for worker_id, seen_at in self._workers.items()
                if seen_at < seen_before and worker_id not in holding
            )
            for worker_id in dead:
                self._set_worker(worker_id, None)
            return dead

    def _set_worker(self, worker_id: uuid.UUID, seen_at: datetime | None) -> None:
        previous = self._workers.get(worker_id)
        if seen_at is None:
            self._workers.pop(worker_id, None)
        else:
            self._workers[worker_id] = seen_at

        def undo() -> None:
            if previous is None:
                self._workers.pop(worker_id, None)
            else:
                self._workers[worker_id] = previous

        self._db.record_undo(undo)

    def extend_lease(self, lease: Lease, lease_expires_at: datetime) -> bool:
        with self._db.lock:
            job = self._held(lease)
            if job is None:
                return False
            self._put(evolve(job, lease_expires_at=lease_expires_at), lease.token)
            return True

    def complete(self, leases: Sequence[Lease], now: datetime) -> int:
        with self._db.lock:
            applied = 0
            for lease in leases:
                job = self._held(lease)
                if job is not None:
                    self._put(
                        evolve(
                            job,
                            status=JobStatus.COMPLETED,
                            finished_at=now,
                            lease_expires_at=None,
                            worker_id=None,
                            started_at=None,
                        )
                    )
                    applied += 1
            return applied

    def release(self, leases: Sequence[Lease]) -> int:
        with self._db.lock:
            applied = 0
            for lease in leases:
                job = self._held(lease)
                if job is not None:
                    self._put(
                        evolve(
                            job,
                            status=JobStatus.PENDING,
                            attempts=job.attempts - 1,
                            lease_expires_at=None,
                            worker_id=None,
                            started_at=None,
                        )
                    )
                    applied += 1
            return applied

    def fail(self, failures: Sequence[FailureUpdate], now: datetime) -> int:
        with self._db.lock:
            applied = 0
            for failure in failures:
                job = self._held(failure.lease)
                if job is None:
                    continue
                retry = failure.retry_at is not None
                self._put(
                    evolve(
                        job,
                        status=JobStatus.PENDING if retry else JobStatus.DEAD,
                        run_at=failure.retry_at if failure.retry_at is not None else job.run_at,
                        finished_at=None if retry else now,
                        lease_expires_at=None,
                        worker_id=None,
                        started_at=None,
                        last_error=failure.error.message,
                        errors=(*job.errors, failure.error),
                    )
                )
                applied += 1
            return applied

    def stranded(self, now: datetime, *, workers_seen_before: datetime, limit: int) -> list[StrandedJob]:
        with self._db.lock:
            dead = {worker_id for worker_id, seen_at in self._workers.items() if seen_at < workers_seen_before}
            # A worker with no row (found dead and forgotten) is as dead as a silent one.
            dead |= {
                job.worker_id
                for job in self._jobs.values()
                if job.worker_id is not None and job.status is JobStatus.RUNNING and job.worker_id not in self._workers
            }
            stranded = sorted(
                (
                    job
                    for job in self._jobs.values()
                    if job.status is JobStatus.RUNNING
                    and job.lease_expires_at is not None
                    and (job.lease_expires_at <= now or job.worker_id in dead)
                ),
                key=_by_lease_expiry,
            )[:limit]
            return [
                StrandedJob(
                    lease=Lease(job_id=job.id, token=self._tokens[job.id]),
                    attempt=job.attempts,
                    max_attempts=job.max_attempts,
                    started=job.worker_id is None or job.started_at is not None,
                    worker_died=job.worker_id in dead and _by_lease_expiry(job)[0] > now,
                )
                for job in stranded
            ]

    def get(self, job_id: int) -> Job | None:
        with self._db.lock:
            return self._jobs.get(job_id)

    def list_jobs(self, status: JobStatus, *, limit: int, before_id: int | None, job_type: str | None) -> list[Job]:
        with self._db.lock:
            matching = (
                job
                for job in self._jobs.values()
                if job.status is status
                and (before_id is None or job.id < before_id)
                and (job_type is None or job.job_type == job_type)
            )
            return sorted(matching, key=lambda job: job.id, reverse=True)[:limit]

    def requeue_dead(self, job_id: int, now: datetime) -> bool:
        with self._db.lock:
            job = self._jobs.get(job_id)
            if job is None or job.status is not JobStatus.DEAD:
                return False
            self._put(evolve(job, status=JobStatus.PENDING, attempts=0, run_at=now, finished_at=None))
            return True

    def cancel(self, job_id: int, cancellable: frozenset[JobStatus], now: datetime) -> bool:
        with self._db.lock:
            job = self._jobs.get(job_id)
            if job is None or job.status not in cancellable:
                return False
            self._put(
                evolve(
                    job,
                    status=JobStatus.CANCELLED,
                    finished_at=now,
                    lease_expires_at=None,
                    worker_id=None,
                    started_at=None,
                )
            )
            return True

    def controls(self) -> list[TypeControl]:
        with self._db.lock:
            return [self._controls[name] for name in sorted(self._controls)]

    def set_control(self, control: TypeControl, now: datetime) -> None:
        with self._db.lock:
            previous = self._controls.get(control.job_type)
            if control.is_default:
                self._controls.pop(control.job_type, None)
            else:
                self._controls[control.job_type] = control

            def undo() -> None:
                if previous is None:
                    self._controls.pop(control.job_type, None)
                else:
                    self._controls[control.job_type] = previous

            self._db.record_undo(undo)

    def requeue_dead_matching(self, dead: DeadLetterFilter, now: datetime) -> int:
        with self._db.lock:
            matching = [job for job in self._jobs.values() if dead.matches(job)]
            for job in matching:
                self._put(evolve(job, status=JobStatus.PENDING, attempts=0, run_at=now, finished_at=None))
            return len(matching)

    def delete_dead_matching(self, dead: DeadLetterFilter) -> int:
        with self._db.lock:
            matching = [job.id for job in self._jobs.values() if dead.matches(job)]
            for job_id in matching:
                self._delete(job_id)
            return len(matching)

    def stats(self, now: datetime) -> JobStats:
        with self._db.lock:
            by_status = dict.fromkeys(JobStatus, 0)
            by_type: dict[str, dict[JobStatus, int]] = {}
            oldest: datetime | None = None
            for job in self._jobs.values():
                by_status[job.status] += 1
                counts = by_type.setdefault(job.job_type, dict.fromkeys(JobStatus, 0))
                counts[job.status] += 1
                if job.status is JobStatus.PENDING and job.run_at <= now and (oldest is None or job.run_at < oldest):
                    oldest = job.run_at
            return JobStats(
                by_status=by_status,
                by_type=tuple(TypeCounts(job_type=name, counts=by_type[name]) for name in sorted(by_type)),
                oldest_due_age=now - oldest if oldest is not None else timedelta(0),
                dead_letters=by_status[JobStatus.DEAD],
            )

    def stats_estimate(self, now: datetime) -> JobStats:
        # Counting a dict is cheap: the memory store always answers exactly.
        return self.stats(now)

    def prune(self, finished_before: datetime, *, limit: int) -> int:
        with self._db.lock:
            old = sorted(
                (job.finished_at, job.id)
                for job in self._jobs.values()
                if job.status in _FINISHED and job.finished_at is not None and job.finished_at < finished_before
            )[:limit]
            for _finished_at, job_id in old:
                self._delete(job_id)
            return len(old)

    def _delete(self, job_id: int) -> None:
        job = self._jobs.pop(job_id)
        token = self._tokens.pop(job_id, None)
        trace_parent = self._trace_parents.pop(job_id, None)
        key = job.idempotency_key
        if key is not None and self._keys.get(key) == job_id:
            del self._keys[key]

        def undo() -> None:
            self._jobs[job_id] = job
            if token is not None:
                self._tokens[job_id] = token
            if trace_parent is not None:
                self._trace_parents[job_id] = trace_parent
            if key is not None:
                self._keys[key] = job_id

        self._db.record_undo(undo)


def _by_lease_expiry(job: Job) -> tuple[datetime, int]:
    assert job.lease_expires_at is not None  # a running job holds a lease
    return job.lease_expires_at, job.id
