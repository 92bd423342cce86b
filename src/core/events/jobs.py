"""The events job types: settling a cancelled event (one job per event), the periodic hold
bookkeeping, and the waitlist's promotions, offer expiry and offer announcements."""

from __future__ import annotations

from datetime import timedelta

from townsquare.core.events.service import EXPIRE_HOLDS, SETTLE_CANCELLED, EventService
from townsquare.core.events.waitlist import (
    ANNOUNCE_OFFER,
    EXPIRE_OFFERS,
    PROMOTE_WAITLIST,
    PROMOTE_WAITLISTS,
    WaitlistService,
)
from townsquare.core.jobs import JobContext, JobHandlers


def register_events_jobs(
    handlers: JobHandlers,
    service: EventService,
    waitlist: WaitlistService,
    *,
    expire_every: timedelta = timedelta(hours=1),
    offers_every: timedelta = timedelta(minutes=1),
    sweep_every: timedelta = timedelta(minutes=5),
) -> None:
    """Register the events jobs and schedule the periodic ones.

    Hourly hold bookkeeping is enough: a lapsed hold stops holding seats at its expiry whether
    or not it is marked. Offers are expired every minute (a lapsed offer's seat waits for the
    next in line until then; nobody else can take it while people wait). Whatever frees seats
    queues a promotion in its own transaction; the five-minute sweep catches holds that lapsed
    on their own.
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

    def promote(context: JobContext) -> dict[str, object]:
        return {"offers": waitlist.promote(str(context.payload["event_id"]))}

    handlers.register(PROMOTE_WAITLIST, promote, description="offer an event's freed seats to its waitlist")

    def promote_all(_context: JobContext) -> dict[str, object]:
        return {"offers": waitlist.promote_all()}

    handlers.register(PROMOTE_WAITLISTS, promote_all, description="offer freed seats to every waitlist (sweep)")
    handlers.schedule(PROMOTE_WAITLISTS, sweep_every)

    def expire_offers(_context: JobContext) -> dict[str, object]:
        return {"expired": waitlist.expire_offers()}

    handlers.register(EXPIRE_OFFERS, expire_offers, description="expire lapsed waitlist offers and pass their seats on")
    handlers.schedule(EXPIRE_OFFERS, offers_every)

    def announce(context: JobContext) -> dict[str, object]:
        return {"sent": waitlist.announce_offer(str(context.payload["entry_id"]))}

    handlers.register(ANNOUNCE_OFFER, announce, description="announce a waitlist offer in-app and by email")
