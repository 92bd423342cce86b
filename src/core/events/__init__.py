"""Events: producers' events with ticket types and quotas, registrations that hold seats and
become tickets on payment (the earning enters the ledger in the same transaction), refunds."""

from townsquare.core.events.models import (
    MAX_QUANTITY,
    Event,
    EventDetails,
    EventPage,
    EventStatus,
    PriceBreakdown,
    Registration,
    RegistrationPage,
    RegistrationStatus,
    TicketType,
    check_capacity,
    make_details,
)
from townsquare.core.events.ports import EventStore
from townsquare.core.events.service import (
    EXPIRE_HOLDS,
    HOLD_DURATION,
    SETTLE_CANCELLED,
    EventService,
    registration_id_for,
    settle_job_key,
)

__all__ = [
    "EXPIRE_HOLDS",
    "HOLD_DURATION",
    "MAX_QUANTITY",
    "SETTLE_CANCELLED",
    "Event",
    "EventDetails",
    "EventPage",
    "EventService",
    "EventStatus",
    "EventStore",
    "PriceBreakdown",
    "Registration",
    "RegistrationPage",
    "RegistrationStatus",
    "TicketType",
    "check_capacity",
    "make_details",
    "registration_id_for",
    "settle_job_key",
]
