"""Demo reports data for mock mode: carol's glazing evening with a producer dashboard worth reading.

Seven registrations by visitors who are not demo users (so alice's and bob's own pages do not
change): paid ones of two ticket types, most of them captured, one partly refunded after its
capture, one paid but not captured yet, and a live hold (it reads as expired once the mock clock
moves past it). Nothing here queues a job (no seat is freed), so the demo's job figures stay as
they were. Ids and keys are fixed: seeding again adds nothing.
"""

from __future__ import annotations

from datetime import timedelta

from townsquare.bootstrap import Services
from townsquare.core.errors import NotFound
from townsquare.core.events import make_details
from townsquare.core.identity import Actor

EVENT_ID = "demo-glaze-evening"
SEEDER = Actor("demo-seeder", roles=["service"])

# (visitor, ticket type, quantity, captured, refunded after capture)
_SALES = [
    ("visitor-dana", "standard", 2, True, 0),
    ("visitor-eli", "standard", 1, True, 1_000),
    ("visitor-finn", "kiln", 1, True, 0),
    ("visitor-gus", "standard", 3, True, 0),
    ("visitor-hana", "kiln", 2, False, 0),
    ("visitor-ivo", "standard", 1, True, 0),
]


def seed(services: Services) -> None:
    """Create the glazing evening and its registrations once."""
    from townsquare.demo import DEMO_USERS

    carol = Actor(DEMO_USERS["carol"])
    try:
        services.events.get_event(carol, EVENT_ID)
        return
    except NotFound:
        pass
    now = services.clock.now()
    start = (now + timedelta(days=21)).replace(hour=18, minute=0, second=0, microsecond=0)
    events = services.events
    events.create_event(
        carol,
        make_details(
            title="Glazing evening",
            description="Bring your bisque ware; glazes and a kiln slot included.",
            starts_at=start,
            ends_at=start + timedelta(hours=2),
            time_zone="Europe/London",
            venue="Carol's studio, 12 Kiln Lane",
            sales_start=now - timedelta(days=2),
            sales_end=start - timedelta(hours=6),
            capacity=30,
            currency="GBP",
        ),
        event_id=EVENT_ID,
    )
    events.add_ticket_type(carol, EVENT_ID, type_id="standard", name="Standard", price=2_800, quota=24)
    events.add_ticket_type(carol, EVENT_ID, type_id="kiln", name="With a kiln shelf", price=4_200, quota=6)
    events.publish(carol, EVENT_ID)
    for visitor, type_id, quantity, captured, refunded in _SALES:
        buyer = Actor(visitor)
        held = events.reserve(buyer, EVENT_ID, type_id, quantity, idempotency_key=f"demo-{visitor}")
        paid = events.confirm(buyer, held.registration_id, idempotency_key=f"demo-{visitor}-paid")
        if captured and paid.earning_id is not None:
            services.earnings.capture(
                SEEDER, paid.earning_id, currency="GBP", idempotency_key=f"demo-{visitor}-captured"
            )
        if refunded:
            events.refund(
                carol,
                paid.registration_id,
                reason="one seat fewer",
                idempotency_key=f"demo-{visitor}-refund",
                amount=refunded,
            )
    events.reserve(Actor("visitor-jo"), EVENT_ID, "standard", 2, idempotency_key="demo-visitor-jo")
