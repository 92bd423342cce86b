"""The worker host's moving parts: dispatcher, Dramatiq actor, completer, heartbeat and scheduler.

Postgres (or the memory store) is the durable queue; Dramatiq is the transport and the
thread pool. Each worker process registers itself, claims only what its threads can start
soon (``max_in_flight``), and sends the claimed jobs' ids to a Dramatiq queue of its own;
its actor threads mark each chunk of jobs begun and run them; the completer writes outcomes
back in batches; the heartbeat keeps the process registered; the scheduler enqueues
periodic jobs and re-offers the jobs of workers that stopped heartbeating. See docs/jobs.md.
"""

from __future__ import annotations

import os
import queue
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import timedelta

import dramatiq
import structlog
from attrs import evolve, frozen

from townsquare.bootstrap import Services
from townsquare.core.jobs import ClaimedJob, JobService, Lease, Outcome, execute
from townsquare.hosts.metrics import Metrics
from townsquare.hosts.telemetry import Tracing
from townsquare.hosts.worker.start_window import StartWindow

log = structlog.get_logger("townsquare.worker")

RUN_JOBS_ACTOR = "townsquare_run_jobs"


@frozen(kw_only=True)
class WorkerOptions:
    """How a worker process paces itself.

    Attributes:
        threads: Dramatiq worker threads (jobs run in parallel per process).
        claim_batch: jobs claimed per dispatcher round at most.
        max_in_flight: jobs this process holds at most (claimed and not yet run): what its
            threads can start soon. A killed worker strands no more than this, and those are
            re-offered after the worker timeout without spending an attempt.
        max_per_message: jobs carried by one Dramatiq message at most; when few jobs are
            due each message carries one, when many are due they are spread over the threads.
        start_window: seconds: an actor marks begun at once (one statement, committed before
            any of them runs) the jobs of a message it expects to start within this long, by
            each type's recent run times (:class:`StartWindow`). When the worker dies, only
            begun jobs count the lost run as an attempt: the window bounds how many waiting
            jobs share that fate with the one running.
        start_chunk: jobs an actor marks begun at once at most.
        max_running: an optional cap on running jobs across all workers.
        poll_interval: seconds the dispatcher waits when nothing was due (a wake-up on
            enqueue, ``JobService.wait_for_due_jobs``, cuts it short).
        consumer_timeout: seconds an idle Dramatiq consumer waits at most before looking at
            its queue again (Dramatiq's ``worker_timeout``, 1 s by default: on Redis the
            consumer backs off up to it, which made the last job of a burst wait ~1 s).
        busy_consumer_timeout: the consumer's wait at most (as ``consumer_timeout``) while
            this process holds claimed jobs not yet run: their messages are on their way, and
            the consumer's backoff up to 50 ms made every refill of the threads wait for it
            (the drain's pace, issue 21). Idle, it is ``consumer_timeout`` again, so an idle
            process polls no more than before. Applies to polling brokers (Redis, stub);
            RabbitMQ pushes messages.
        flush_interval: seconds the completer waits to batch outcomes.
        schedule_interval: seconds between scheduler rounds (periodic jobs, rescue).
        heartbeat_interval: seconds between the process's heartbeats (well within the
            job service's ``lease.worker_timeout``).
        redeliver_after: seconds a claimed job may wait for its message before this process
            gives it back (a message lost by a broker restart).
        queue_name: the prefix of this process's Dramatiq queue (``<prefix>.<worker id>``).
        lease: overrides the job service's lease duration for this worker's claims.
        worker_timeout: overrides the job service's worker timeout.
    """

    threads: int = 8
    claim_batch: int = 500
    max_in_flight: int = 1000
    max_per_message: int = 100
    start_window: float = 0.05
    start_chunk: int = 100
    max_running: int | None = None
    poll_interval: float = 0.2
    consumer_timeout: float = 0.05
    busy_consumer_timeout: float = 0.005
    flush_interval: float = 0.01
    schedule_interval: float = 1.0
    heartbeat_interval: float = 2.0
    redeliver_after: float = 30.0
    queue_name: str = "townsquare_jobs"
    lease: timedelta | None = None
    worker_timeout: timedelta | None = None


class InFlight:
    """The jobs this process claimed and has not finished running, by id.

    Messages carry only job ids: the claimed jobs stay here, so a message that arrives for a
    job this process no longer holds (given back, taken away) runs nothing.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[int, tuple[ClaimedJob, float]] = {}  # id -> (job, claimed at, monotonic)
        self._started: set[int] = set()

    def __len__(self) -> int:
        with self._lock:
            return len(self._jobs)

    def add(self, jobs: Sequence[ClaimedJob]) -> None:
        now = time.monotonic()
        with self._lock:
            for job in jobs:
                self._jobs[job.id] = (job, now)

    def waiting(self, job_ids: Sequence[int]) -> list[ClaimedJob]:
        """The held, not yet begun jobs among ``job_ids``, in their order."""
        with self._lock:
            return [self._jobs[job_id][0] for job_id in job_ids if job_id in self._jobs and job_id not in self._started]

    def take(self, job_ids: Sequence[int]) -> list[ClaimedJob]:
        """The held, not yet begun jobs among ``job_ids``, now marked begun here."""
        with self._lock:
            taken = [
                self._jobs[job_id][0] for job_id in job_ids if job_id in self._jobs and job_id not in self._started
            ]
            self._started.update(job.id for job in taken)
            return taken

    def untake(self, job_ids: Sequence[int]) -> None:
        """Make taken jobs waiting again (their start could not be recorded)."""
        with self._lock:
            self._started.difference_update(job_ids)

    def done(self, job_ids: Sequence[int]) -> None:
        with self._lock:
            for job_id in job_ids:
                self._jobs.pop(job_id, None)
                self._started.discard(job_id)

    def waiting_since(self, before: float | None = None) -> list[ClaimedJob]:
        """Remove and return the jobs not begun (claimed before ``before``, when given)."""
        with self._lock:
            gone = [
                job
                for job_id, (job, claimed_at) in self._jobs.items()
                if job_id not in self._started and (before is None or claimed_at < before)
            ]
            for job in gone:
                del self._jobs[job.id]
            return gone


class Completer:
    """Collects outcomes from the actor threads and records them in batches.

    A failed write is logged and retried; the outcomes stay queued. If the process dies
    first, its jobs are re-offered once it stops heartbeating (handlers are idempotent).
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
        broker: the Dramatiq broker (this process's actor and queue are declared on it).
        options: pacing; see :class:`WorkerOptions`.
        metrics: where job runs are recorded (``None``: not recorded).
        tracing: where job-run spans go (``None``: no tracing).
        report_failures: send failed runs to Sentry (set when ``SENTRY_DSN`` is).
    """

    def __init__(
        self,
        services: Services,
        broker: dramatiq.Broker,
        options: WorkerOptions | None = None,
        metrics: Metrics | None = None,
        *,
        tracing: Tracing | None = None,
        report_failures: bool = False,
    ) -> None:
        self.services = services
        self.metrics = metrics
        self.tracing = tracing
        self.report_failures = report_failures
        self.broker = broker
        self.options = options = options or WorkerOptions()
        jobs = services.jobs
        if options.lease is not None:
            jobs = evolve(jobs, lease=evolve(jobs.lease, duration=options.lease))
        if options.worker_timeout is not None:
            jobs = evolve(jobs, lease=evolve(jobs.lease, worker_timeout=options.worker_timeout))
        self.jobs = jobs
        self.worker_id = uuid.uuid4()
        self.worker_name = f"{socket.gethostname()}:{os.getpid()}"
        self.queue_name = self.queue_of(self.worker_id)
        self.in_flight = InFlight()
        self.completer = Completer(self.jobs, flush_interval=options.flush_interval)
        self.start_window = StartWindow(window=options.start_window, max_chunk=options.start_chunk)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._room = threading.Event()
        self._threads: list[threading.Thread] = []
        self._worker: dramatiq.Worker | None = None
        self.actor = dramatiq.actor(actor_name=RUN_JOBS_ACTOR, queue_name=self.queue_name, broker=broker)(
            self._run_jobs
        )

    def queue_of(self, worker_id: uuid.UUID) -> str:
        """The Dramatiq queue of a worker process."""
        return f"{self.options.queue_name}.{worker_id.hex}"

    def start(self, *, consume: bool = True) -> None:
        """Register this process, then start the completer, Dramatiq's worker threads
        (``consume``), the dispatcher, the heartbeat and the scheduler."""
        self.jobs.register_worker(self.worker_id, self.worker_name)
        self.completer.start()
        if consume:
            self._worker = dramatiq.Worker(
                self.broker,
                worker_threads=self.options.threads,
                worker_timeout=max(1, round(self.options.consumer_timeout * 1000)),
            )
            # The queue is this process's own and holds only ids of jobs it already holds (at
            # most max_in_flight): Dramatiq's prefetch (2 messages a thread, there to share a
            # queue fairly between processes) only made its consumer stop fetching and back
            # off (up to consumer_timeout) while the threads ran out of work.
            self._worker.queue_prefetch = self.options.max_in_flight
            self._worker.start()
        loops = (
            ("dispatcher", self._dispatch_loop),
            ("wakeups", self._wakeup_loop),
            ("heartbeat", self._heartbeat_loop),
            ("scheduler", self._schedule_loop),
        )
        for name, target in loops:
            thread = threading.Thread(target=target, name=f"townsquare-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Stop claiming, let running jobs finish, record their outcomes, give back the rest."""
        self._stop.set()
        self._wake.set()
        self._room.set()
        for thread in self._threads:
            thread.join(timeout=10)
        if self._worker is not None:
            self._worker.stop()
        self.completer.stop()
        try:
            self.give_back(self.in_flight.waiting_since())
            self.jobs.unregister_worker(self.worker_id)
        except Exception:
            # The database is gone: the worker timeout re-offers what this process held.
            log.exception("jobs.unregister_failed")
        self._drop_queue(self.worker_id)

    def wake(self) -> None:
        """Make the dispatcher look for due jobs now (e.g. after an enqueue in this process)."""
        self._wake.set()

    def give_back(self, jobs: Sequence[ClaimedJob]) -> int:
        """Release claimed jobs this process will not run (pending again, attempt unspent)."""
        return self.jobs.release([job.lease for job in jobs]) if jobs else 0

    # -- dispatcher --------------------------------------------------------------------

    def dispatch_once(self) -> int:
        """Claim what this process can start soon and send it to its queue; returns how many."""
        options = self.options
        room = min(options.claim_batch, options.max_in_flight - len(self.in_flight))
        if room <= 0:
            return 0
        claimed = self.jobs.claim(room, max_running=options.max_running, worker_id=self.worker_id)
        if not claimed:
            return 0
        self.in_flight.add(claimed)
        per_message = max(1, min(options.max_per_message, -(-len(claimed) // options.threads)))
        for start in range(0, len(claimed), per_message):
            try:
                self.actor.send([job.id for job in claimed[start : start + per_message]])
            except Exception:
                # The broker refused: give the unsent jobs back at once, without spending an
                # attempt, instead of letting them wait for the redelivery timeout.
                unsent = claimed[start:]
                self.in_flight.done([job.id for job in unsent])
                self.give_back(unsent)
                raise
        return len(claimed)

    def consumer_timeout_now(self) -> float | None:
        """Set the consumer's current wait at most for this process's load; returns it (None
        when there is no polling consumer: not consuming, not started yet, or RabbitMQ)."""
        thread = self._worker.consumers.get(self.queue_name) if self._worker is not None else None
        consumer = getattr(thread, "consumer", None)
        if consumer is None or not hasattr(consumer, "timeout"):
            return None
        options = self.options
        seconds = options.busy_consumer_timeout if len(self.in_flight) else options.consumer_timeout
        # Dramatiq's consumers read it (milliseconds) at every empty poll as their backoff's cap.
        consumer.timeout = max(1, round(seconds * 1000))
        return seconds

    def _dispatch_loop(self) -> None:
        while not self._stop.is_set():
            try:
                sent = self.dispatch_once()
            except Exception:
                log.exception("jobs.dispatch_failed")
                sent = 0
                self._stop.wait(1.0)
            self.consumer_timeout_now()
            if len(self.in_flight) >= self.options.max_in_flight:
                # Full: wait until the actors have run some (or the poll interval passes).
                self._room.wait(self.options.poll_interval)
                self._room.clear()
            elif sent < self.options.claim_batch:
                self._wake.wait(self.options.poll_interval)
                self._wake.clear()

    def _wakeup_loop(self) -> None:
        # Announced due jobs (an enqueue in any process) end the dispatcher's idle wait.
        while not self._stop.is_set():
            try:
                if self.jobs.wait_for_due_jobs(1.0):
                    self._wake.set()
            except Exception:
                log.exception("jobs.wakeup_wait_failed")
                self._stop.wait(1.0)

    # -- heartbeat ---------------------------------------------------------------------

    def heartbeat_once(self) -> None:
        """Keep this process registered; give back jobs whose message never came."""
        if not self.jobs.worker_heartbeat(self.worker_id):
            # Another worker found this one dead (a long pause) and re-offered its jobs: what
            # it still holds is fenced by lease tokens; it registers again and carries on.
            log.warning("jobs.worker_found_dead", worker_id=str(self.worker_id))
            self.jobs.register_worker(self.worker_id, self.worker_name)
        lost = self.in_flight.waiting_since(time.monotonic() - self.options.redeliver_after)
        if lost:
            log.warning("jobs.messages_lost", jobs=len(lost), released=self.give_back(lost))
            self._room.set()

    def _heartbeat_loop(self) -> None:
        while not self._stop.wait(self.options.heartbeat_interval):
            try:
                self.heartbeat_once()
            except Exception:
                log.exception("jobs.heartbeat_failed")

    # -- scheduler ---------------------------------------------------------------------

    def schedule_once(self) -> tuple[int, int]:
        """Enqueue this period's periodic jobs and rescue stranded ones; returns (enqueued, rescued)."""
        enqueued = len(self.jobs.enqueue_due_schedules())
        report = self.jobs.rescue_stranded_jobs()
        for dead in report.dead_workers:
            self._drop_queue(dead)
        if report.rescued or report.dead_workers:
            log.warning(
                "jobs.stranded_rescued",
                retried=report.retried,
                released=report.released,
                dead_workers=[str(worker_id) for worker_id in report.dead_workers],
            )
        return enqueued, report.rescued

    def _schedule_loop(self) -> None:
        while not self._stop.is_set():
            try:
                _, rescued = self.schedule_once()
                if rescued:
                    self._wake.set()
            except Exception:
                log.exception("jobs.schedule_failed")
            self._stop.wait(self.options.schedule_interval)

    def _drop_queue(self, worker_id: uuid.UUID) -> None:
        # A dead worker's queue holds only messages for jobs already re-offered.
        try:
            self.broker.flush(self.queue_of(worker_id))
        except Exception:
            log.debug("jobs.queue_flush_failed", worker_id=str(worker_id))

    # -- actor -------------------------------------------------------------------------

    def _start(self, jobs: Sequence[ClaimedJob], *, tries: int = 20) -> set[int]:
        # The database may be restarting: keep trying for a while (the jobs stay held, and
        # nothing ran yet), then leave them to the redelivery timeout.
        for attempt in range(tries):
            try:
                return self.jobs.start([job.lease for job in jobs])
            except Exception:
                if attempt == tries - 1 or self._stop.is_set():
                    self.in_flight.untake([job.id for job in jobs])
                    raise
                log.warning("jobs.start_failed", jobs=len(jobs), exc_info=True)
                time.sleep(0.5)
        raise AssertionError("unreachable")

    def _run_jobs(self, job_ids: list[int]) -> None:
        service = self.jobs
        remaining: Sequence[int] = job_ids
        while remaining:
            waiting = self.in_flight.waiting(remaining)
            count = self.start_window.chunk(waiting)
            remaining = [job.id for job in waiting[count:]]
            jobs = self.in_flight.take([job.id for job in waiting[:count]])
            if not jobs:
                continue
            held = self._start(jobs)
            gone = [job.id for job in jobs if job.id not in held]
            if gone:
                # Taken away since the claim (rescued, cancelled): they must not run here.
                self.in_flight.done(gone)
                log.info("jobs.not_held_at_start", jobs=len(gone))
            for job in jobs:
                if job.id not in held:
                    continue

                def heartbeat(lease: Lease = job.lease) -> None:
                    service.heartbeat(lease)

                started = time.perf_counter()
                if self.tracing is None:
                    outcome = execute(self.services.job_handlers, job, heartbeat)
                else:
                    with self.tracing.job_run(job.job_type, job.id, job.attempt, job.trace_parent):
                        outcome = execute(self.services.job_handlers, job, heartbeat)
                seconds = time.perf_counter() - started
                self.start_window.ran(job.job_type, seconds)
                if self.metrics is not None:
                    self.metrics.job_ran(job.job_type, succeeded=outcome.succeeded, seconds=seconds)
                if self.report_failures and not outcome.succeeded:
                    _report_failure(job, outcome)
                self.in_flight.done([job.id])
                self.completer.put(outcome)
            self._room.set()


def _report_failure(job: ClaimedJob, outcome: Outcome) -> None:
    """A failed run as a Sentry event (the handler's exception was caught to record the retry)."""
    import sentry_sdk

    with sentry_sdk.new_scope() as scope:
        scope.set_tag("job_type", job.job_type)
        scope.set_extra("job_id", job.id)
        scope.set_extra("attempt", f"{job.attempt}/{job.max_attempts}")
        sentry_sdk.capture_message(f"job {job.job_type} failed: {outcome.error}", level="error")
