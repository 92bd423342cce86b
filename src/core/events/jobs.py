"""The events job types: settling a cancelled event (one job per event) and the periodic hold bookkeeping."""

from __future__ import annotations

from datetime import timedelta

from townsquare.core.events.service import EXPIRE_HOLDS, SETTLE_CANCELLED, EventService
from townsquare.core.jobs import JobContext, JobHandlers


def register_events_jobs(
    handlers: JobHandlers, service: EventService, *, expire_every: timedelta = timedelta(hours=1)
) -> None:
    """Register the settlement of cancelled events and the hourly marking of lapsed holds.

    Hourly is enough: a lapsed hold stops holding seats at its expiry whether or not it is marked.
    """

    def settle_cancelled(context: JobContext) -> dict[str, object]:
        return {"settled": service.settle_cancelled(str(context.payload["event_id"]))}

    handlers.register(
        SETTLE_CANCELLED,
        settle_cancelled,
        description="cancel the holds and refund the paid registrations of a cancelled event",
    )

    def expire_holds(_context: JobContext) -> dict[str, object]:
        return {"expired": service.expire_holds()}

    handlers.register(EXPIRE_HOLDS, expire_holds, description="mark lapsed ticket holds expired (bookkeeping)")
    handlers.schedule(EXPIRE_HOLDS, expire_every)
