"""The reports job type: working through a bulk refund or cancellation (a few jobs per action,
each a range of its items)."""

from __future__ import annotations

from townsquare.core.jobs import JobContext, JobHandlers
from townsquare.core.reports.service import BULK_ACTION, ReportService


def register_reports_jobs(handlers: JobHandlers, service: ReportService) -> None:
    """Register the bulk action job; it heartbeats its lease between items."""

    def bulk_action(context: JobContext) -> dict[str, object]:
        # Jobs queued before actions were split carry no range: they work every item.
        span = context.payload.get("positions")
        positions = None if span is None else (int(span[0]), int(span[1]))
        progress = service.run_bulk(str(context.payload["action_id"]), positions=positions, heartbeat=context.heartbeat)
        return {"done": progress.done, "failed": progress.failed}

    handlers.register(BULK_ACTION, bulk_action, description="refund or cancel the registrations of a bulk action")
