"""The earnings job types: recompute one creator's stored totals, and a daily reconciliation of everyone."""

from __future__ import annotations

from datetime import timedelta

from townsquare.core.earnings.models import RecomputeReport, check_creator_id
from townsquare.core.earnings.service import EarningsService
from townsquare.core.errors import InvalidInput
from townsquare.core.identity import system_actor
from townsquare.core.jobs.handlers import JobContext, JobHandlers
from townsquare.core.jobs.service import JobService

RECOMPUTE_JOB = "earnings.recompute"
RECONCILE_ALL_JOB = "earnings.reconcile_all"
WORKER_ACTOR = system_actor("earnings-worker")
"""The worker acts as an admin: recompute jobs are enqueued by admins or by the schedule."""


def enqueue_recompute(jobs: JobService, creator_id: str) -> int:
    """Queue a recompute of ``creator_id``'s totals; a bad creator id is refused here, not by the worker."""
    return jobs.enqueue(RECOMPUTE_JOB, {"creator_id": check_creator_id(creator_id)})


def register_earnings_jobs(
    handlers: JobHandlers, service: EarningsService, *, reconcile_every: timedelta = timedelta(days=1)
) -> None:
    """Register ``earnings.recompute`` (payload ``{"creator_id": ...}``) and the periodic reconciliation.

    Both are idempotent: recomputing totals that already agree changes nothing.
    """

    def recompute(context: JobContext) -> dict[str, object]:
        creator_id = context.payload.get("creator_id")
        if not isinstance(creator_id, str):
            raise InvalidInput("earnings.recompute needs a payload {'creator_id': '<user id>'}", field="creator_id")
        return _outcome(service.recompute(WORKER_ACTOR, creator_id))

    def reconcile_all(context: JobContext) -> dict[str, object]:
        reports = []
        for creator_id in service.creators(WORKER_ACTOR):
            reports.append(service.recompute(WORKER_ACTOR, creator_id))
            context.heartbeat()  # many creators may take longer than one lease
        corrected = [report.creator_id for report in reports if report.corrected]
        return {"creators": len(reports), "corrected": corrected}

    handlers.register(RECOMPUTE_JOB, recompute, description="rebuild one creator's earnings totals from the events")
    handlers.register(
        RECONCILE_ALL_JOB, reconcile_all, description="recompute every creator's earnings totals and report corrections"
    )
    handlers.schedule(RECONCILE_ALL_JOB, reconcile_every)


def _outcome(report: RecomputeReport) -> dict[str, object]:
    return {
        "creator_id": report.creator_id,
        "events": report.events,
        "corrected": {each.currency: each.differences for each in report.corrections},
    }
