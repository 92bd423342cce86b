"""The JobStore port: what the job rules need from storage, in the words of the queue."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from townsquare.core.jobs.models import (
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
)


class JobStore(Protocol):
    """Stores jobs and makes queue transitions atomic. Every call runs inside a unit of work.

    Fencing: every call that reports on a run takes its :class:`Lease`; a run whose job is
    no longer ``running`` under that token (its lease was rescued, the job was re-claimed)
    changes nothing.
    """

    def add(self, jobs: Sequence[NewJob], now: datetime) -> list[int]:
        """Insert jobs; a job whose idempotency key already exists is not inserted and the
        existing job's id is returned in its place (also when racing another insert)."""
        ...

    def add_one(self, job: NewJob, now: datetime) -> int:
        """Insert one job as :meth:`add` does, atomic on its own: it may run in
        ``single_statements()`` (one round trip in Postgres) or join a transaction."""
        ...

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
        """Take up to ``limit`` due pending jobs (lowest priority, then earliest ``run_at``, then
        id), skipping jobs other workers are claiming; mark them running under ``token``,
        claimed by ``worker_id`` and not yet started.

        ``max_running`` caps the running jobs in total: fewer are claimed when it would be
        exceeded, so claimed work cannot outlive its leases while waiting in a broker.

        Type controls (:meth:`set_control`) hold for every claimer in every process: a paused
        type is not claimed, and a limited type is claimed only up to its limit of running
        jobs (counting the other claimers' committed claims: claims that may hand out a
        limited type are serialised). Atomic on its own: it runs in ``single_statements()``
        (one round trip in Postgres).
        """
        ...

    def start(self, leases: Sequence[Lease], now: datetime) -> list[int]:
        """Mark held jobs as begun; returns the ids still held (the others must not run).

        Atomic on its own: it runs in ``single_statements()`` (one round trip in Postgres)."""
        ...

    def register_worker(self, worker_id: uuid.UUID, name: str, now: datetime) -> None:
        """Record a worker process as alive (insert, or refresh when it is known)."""
        ...

    def beat_worker(self, worker_id: uuid.UUID, now: datetime) -> bool:
        """Refresh a worker's heartbeat; False when it is not registered (it was found dead)."""
        ...

    def forget_worker(self, worker_id: uuid.UUID) -> None:
        """Remove a worker that stopped cleanly."""
        ...

    def forget_dead_workers(self, seen_before: datetime) -> list[uuid.UUID]:
        """Remove the workers last seen before the cutoff that hold no running job; returns their ids."""
        ...

    def extend_lease(self, lease: Lease, lease_expires_at: datetime) -> bool:
        """Move the lease's expiry; False when the run no longer holds the job."""
        ...

    def complete(self, leases: Sequence[Lease], now: datetime) -> int:
        """Mark held jobs completed; returns how many were still held."""
        ...

    def fail(self, failures: Sequence[FailureUpdate], now: datetime) -> int:
        """Record failures: back to pending at ``retry_at``, or dead; returns how many applied."""
        ...

    def release(self, leases: Sequence[Lease]) -> int:
        """Put held jobs back to pending, due as before, undoing the claim's attempt count;
        returns how many were still held."""
        ...

    def stranded(self, now: datetime, *, workers_seen_before: datetime, limit: int) -> list[StrandedJob]:
        """Running jobs whose lease expired by ``now``, or whose worker was last seen before
        ``workers_seen_before``; oldest lease expiry first, locked for the caller's transaction."""
        ...

    def get(self, job_id: int) -> Job | None:
        """One job, any status."""
        ...

    def list_jobs(self, status: JobStatus, *, limit: int, before_id: int | None, job_type: str | None) -> list[Job]:
        """Jobs in ``status``, newest id first, starting below ``before_id`` when given."""
        ...

    def requeue_dead(self, job_id: int, now: datetime) -> bool:
        """Give a dead job a fresh set of attempts, due now; False when it is not dead."""
        ...

    def cancel(self, job_id: int, cancellable: frozenset[JobStatus], now: datetime) -> bool:
        """Mark a job cancelled (finished now, its lease dropped) if it is in one of the
        ``cancellable`` statuses; False when it is not (it changed meanwhile, or never was)."""
        ...

    def controls(self) -> list[TypeControl]:
        """Every job type that is paused or limited, by type name."""
        ...

    def set_control(self, control: TypeControl, now: datetime) -> None:
        """Store a type's controls (a default control removes them); claims that start after
        the caller's commit honour them."""
        ...

    def requeue_dead_matching(self, dead: DeadLetterFilter, now: datetime) -> int:
        """Give every matching dead job a fresh set of attempts, due now; returns how many."""
        ...

    def delete_dead_matching(self, dead: DeadLetterFilter) -> int:
        """Delete every matching dead job (its idempotency key is freed); returns how many."""
        ...

    def stats(self, now: datetime) -> JobStats:
        """Counts by status and type, the oldest due job's age, dead letters."""
        ...

    def stats_estimate(self, now: datetime) -> JobStats:
        """Like :meth:`stats`, cheap on a large table: every status but ``completed`` counted
        exactly, completed jobs estimated (``estimated=True``) once counting them would cost."""
        ...

    def prune(self, finished_before: datetime, *, limit: int) -> int:
        """Delete up to ``limit`` completed or cancelled jobs finished before the cutoff, oldest
        first; returns how many."""
        ...


class JobWakeups(Protocol):
    """Tells idle workers that jobs became due, so they claim at once instead of at their next poll.

    A wake-up only shortens a wait: a lost one costs a poll interval, never a job.
    """

    def announce(self) -> None:
        """Jobs written in the current unit of work are due now: wake the waiting workers
        (of every process sharing the queue) once it commits."""
        ...

    def wait(self, timeout: float) -> bool:
        """Block until an announcement arrives or ``timeout`` seconds pass; True when woken.

        An announcement made since the previous call's return wakes the next call at once.
        """
        ...

    def close(self) -> None:
        """Stop listening and release connections; waiting calls return."""
        ...
