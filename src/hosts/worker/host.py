"""The worker host's moving parts: dispatcher, Dramatiq actor, completer and scheduler.

Postgres (or the memory store) is the durable queue; Dramatiq is the transport and the
thread pool. The dispatcher claims due jobs in batches under a lease and sends Dramatiq
messages carrying them; the actor runs each job's handler; the completer writes outcomes
back in batches; the scheduler enqueues periodic jobs and rescues jobs whose lease expired
(lost messages, killed workers). See docs/jobs.md for why.
"""

from __future__ import annotations

import math
import queue
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import dramatiq
import structlog
from attrs import evolve, frozen

from townsquare.bootstrap import Services
from townsquare.core.jobs import ClaimedJob, JobService, LeasePolicy, Outcome, execute
from townsquare.hosts.metrics import Metrics

log = structlog.get_logger("townsquare.worker")

RUN_JOBS_ACTOR = "townsquare_run_jobs"


@frozen(kw_only=True)
class WorkerOptions:
    """How a worker process paces itself.

    Attributes:
        threads: Dramatiq worker threads (jobs run in parallel per process).
        claim_batch: jobs claimed per dispatcher round.
        max_per_message: jobs carried by one Dramatiq message at most; when few jobs are
            due each message carries one, when many are due they are spread over the threads.
        max_running: cap on running jobs (all workers), so claimed jobs never wait in the
            broker longer than their lease.
        poll_interval: seconds the dispatcher waits when nothing was due.
        flush_interval: seconds the completer waits to batch outcomes.
        schedule_interval: seconds between scheduler rounds (periodic jobs, lease rescue).
        queue_name: the Dramatiq queue carrying job messages.
        lease: overrides the job service's lease duration for this worker's claims.
    """

    threads: int = 8
    claim_batch: int = 500
    max_per_message: int = 100
    max_running: int = 5000
    poll_interval: float = 0.2
    flush_interval: float = 0.01
    schedule_interval: float = 1.0
    queue_name: str = "townsquare_jobs"
    lease: timedelta | None = None


def encode_job(job: ClaimedJob) -> dict[str, Any]:
    """The JSON form of a claimed job inside a Dramatiq message."""
    return {
        "id": job.id,
        "type": job.job_type,
        "payload": dict(job.payload),
        "attempt": job.attempt,
        "max_attempts": job.max_attempts,
        "token": str(job.lease_token),
        "lease_expires_at": job.lease_expires_at.isoformat(),
    }


def decode_job(data: Mapping[str, Any]) -> ClaimedJob:
    """Inverse of :func:`encode_job`."""
    return ClaimedJob(
        id=int(data["id"]),
        job_type=str(data["type"]),
        payload=data["payload"],
        attempt=int(data["attempt"]),
        max_attempts=int(data["max_attempts"]),
        lease_token=uuid.UUID(data["token"]),
        lease_expires_at=datetime.fromisoformat(data["lease_expires_at"]),
    )


class Completer:
    """Collects outcomes from the actor threads and records them in batches.

    A failed write is logged and retried; the outcomes stay queued. If the process dies
    first, the jobs' leases expire and they run again (handlers are idempotent).
    """

    def __init__(self, jobs: JobService, *, flush_interval: float, max_batch: int = 2000) -> None:
        self._jobs = jobs
        self._outcomes: queue.SimpleQueue[Outcome] = queue.SimpleQueue()
        self._flush_interval = flush_interval
        self._max_batch = max_batch
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="townsquare-completer", daemon=True)
        self._pending: list[Outcome] = []

    def put(self, outcome: Outcome) -> None:
        self._outcomes.put(outcome)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Flush what is queued, then stop."""
        self._stop.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        while True:
            stopping = self._stop.is_set()
            self._collect(timeout=0.05 if not stopping else 0)
            if self._pending:
                self._flush()
            elif stopping:
                return

    def _collect(self, timeout: float) -> None:
        try:
            if not self._pending:
                self._pending.append(self._outcomes.get(timeout=timeout) if timeout else self._outcomes.get_nowait())
            # Give busy threads a moment to add more outcomes: one transaction per batch.
            deadline = time.monotonic() + self._flush_interval
            while len(self._pending) < self._max_batch:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._pending.append(self._outcomes.get_nowait())
                else:
                    self._pending.append(self._outcomes.get(timeout=remaining))
        except queue.Empty:
            return

    def _flush(self) -> None:
        try:
            report = self._jobs.record(self._pending)
        except Exception:
            log.exception("jobs.record_failed", outcomes=len(self._pending))
            # Keep the outcomes and try again shortly (also while stopping: the stop's join
            # timeout bounds how long a dead database can hold up the shutdown).
            time.sleep(1.0)
            return
        if report.stale:
            log.warning("jobs.stale_outcomes", stale=report.stale)
        self._pending = []


class WorkerHost:
    """One worker process's job machinery on a Dramatiq broker.

    Args:
        services: the wired services (the job service and the handler registry).
        broker: the Dramatiq broker (its actors are declared here).
        options: pacing; see :class:`WorkerOptions`.
        metrics: where job runs are recorded (``None``: not recorded).
    """

    def __init__(
        self,
        services: Services,
        broker: dramatiq.Broker,
        options: WorkerOptions | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.services = services
        self.metrics = metrics
        self.broker = broker
        self.options = options or WorkerOptions()
        lease = self.options.lease
        self.jobs = services.jobs if lease is None else evolve(services.jobs, lease=LeasePolicy(duration=lease))
        self.completer = Completer(self.jobs, flush_interval=self.options.flush_interval)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self._worker: dramatiq.Worker | None = None
        self.actor = dramatiq.actor(actor_name=RUN_JOBS_ACTOR, queue_name=self.options.queue_name, broker=broker)(
            self._run_jobs
        )

    def start(self, *, consume: bool = True) -> None:
        """Start the completer, the dispatcher, the scheduler and (``consume``) Dramatiq's worker threads."""
        self.completer.start()
        if consume:
            self._worker = dramatiq.Worker(self.broker, worker_threads=self.options.threads)
            self._worker.start()
        for name, target in (("dispatcher", self._dispatch_loop), ("scheduler", self._schedule_loop)):
            thread = threading.Thread(target=target, name=f"townsquare-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Stop claiming, let running jobs finish, record their outcomes."""
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout=10)
        if self._worker is not None:
            self._worker.stop()
        self.completer.stop()

    def wake(self) -> None:
        """Make the dispatcher look for due jobs now (e.g. after an enqueue in this process)."""
        self._wake.set()

    # -- dispatcher --------------------------------------------------------------------

    def dispatch_once(self) -> int:
        """Claim one batch of due jobs and send them to the broker; returns how many."""
        options = self.options
        claimed = self.jobs.claim(options.claim_batch, max_running=options.max_running)
        if not claimed:
            return 0
        per_message = max(1, min(options.max_per_message, math.ceil(len(claimed) / options.threads)))
        for start in range(0, len(claimed), per_message):
            try:
                self.actor.send([encode_job(job) for job in claimed[start : start + per_message]])
            except Exception:
                # The broker refused: give the unsent jobs back at once, without spending an
                # attempt, instead of letting their leases expire.
                self.jobs.release([job.lease for job in claimed[start:]])
                raise
        return len(claimed)

    def _dispatch_loop(self) -> None:
        while not self._stop.is_set():
            try:
                sent = self.dispatch_once()
            except Exception:
                log.exception("jobs.dispatch_failed")
                sent = 0
                self._stop.wait(1.0)
            if sent < self.options.claim_batch:
                self._wake.wait(self.options.poll_interval)
                self._wake.clear()

    # -- scheduler ---------------------------------------------------------------------

    def schedule_once(self) -> tuple[int, int]:
        """Enqueue this period's periodic jobs and rescue expired leases; returns (enqueued, rescued)."""
        return len(self.jobs.enqueue_due_schedules()), self.jobs.rescue_expired_leases()

    def _schedule_loop(self) -> None:
        while not self._stop.is_set():
            try:
                _, rescued = self.schedule_once()
                if rescued:
                    log.warning("jobs.leases_rescued", rescued=rescued)
                    self._wake.set()
            except Exception:
                log.exception("jobs.schedule_failed")
            self._stop.wait(self.options.schedule_interval)

    # -- actor -------------------------------------------------------------------------

    def _run_jobs(self, jobs: list[dict[str, Any]]) -> None:
        service = self.jobs
        late = []
        for data in jobs:
            job = decode_job(data)
            if self.services.clock.now() >= job.lease_expires_at:
                # The message waited past the lease: another worker may already run the job
                # under a new lease, so it is given back (a no-op if it was) instead of run.
                late.append(job.lease)
                continue

            def heartbeat(job: ClaimedJob = job) -> None:
                service.heartbeat(job.lease)

            started = time.perf_counter()
            outcome = execute(self.services.job_handlers, job, heartbeat)
            if self.metrics is not None:
                self.metrics.job_ran(job.job_type, succeeded=outcome.succeeded, seconds=time.perf_counter() - started)
            self.completer.put(outcome)
        if late:
            log.warning("jobs.messages_after_lease", jobs=len(late), released=service.release(late))
