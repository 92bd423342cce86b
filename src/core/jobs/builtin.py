"""The queue's own job types: pruning finished jobs, and the seeds' ``poison_test``."""

from __future__ import annotations

from datetime import timedelta

from townsquare.core.jobs.handlers import JobContext, JobHandlers
from townsquare.core.jobs.service import JobService

PRUNE_JOB = "jobs.prune"
POISON_TEST_JOB = "poison_test"


class PoisonTestFailure(Exception):
    """Raised on purpose by ``poison_test`` jobs whose payload says ``{"fail": true}``."""


def register_builtin_jobs(
    handlers: JobHandlers, service: JobService, *, prune_every: timedelta = timedelta(hours=1)
) -> None:
    """Register the queue's built-in job types and schedule pruning.

    Lease rescue is not a queued job: when orphaned jobs fill the running cap, a queued
    rescue could never be claimed, so the worker's scheduler loop calls it directly.
    """

    def prune(_context: JobContext) -> None:
        # Delete in bounded batches so one run never holds a long transaction.
        while service.prune(limit=10_000) == 10_000:
            pass

    handlers.register(PRUNE_JOB, prune, description="delete completed jobs older than the retention")
    handlers.schedule(PRUNE_JOB, prune_every)
    handlers.register(
        POISON_TEST_JOB,
        poison_test,
        description='diagnostic job: {"fail": true} always fails (60 s, 120 s, then dead); {"fail": false} succeeds',
    )


def poison_test(context: JobContext) -> None:
    """The seeds' test job: fails whenever its payload's ``fail`` is true."""
    if context.payload.get("fail", False):
        raise PoisonTestFailure(f"poison_test job {context.job_id} fails on purpose (payload fail=true)")
