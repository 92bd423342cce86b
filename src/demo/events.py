"""Demo events data for mock mode: carol's published pottery workshop (three ticket types and a
producer-wide discount code) with alice's confirmed registration, its one-seat masterclass sold
out to bob with alice on its waitlist, and bob's draft meetup.

Every id is client-chosen and times are relative to the clock's start, so seeding after a
reset gives the same answers on every run."""

from __future__ import annotations

from datetime import timedelta

from townsquare.bootstrap import Services
from townsquare.core.errors import NotFound
from townsquare.core.events import make_details
from townsquare.core.identity import Actor


def seed(services: Services) -> None:
    """Create the demo events once (seeding again finds the workshop and adds nothing)."""
    from townsquare.demo import DEMO_USERS

    carol, alice, bob = (Actor(DEMO_USERS[name]) for name in ("carol", "alice", "bob"))
    try:
        services.events.get_event(carol, "demo-wheel-workshop")
        return  # seeded already (its times were relative to that seeding's clock)
    except NotFound:
        pass
    now = services.clock.now()
    start = (now + timedelta(days=14)).replace(hour=9, minute=0, second=0, microsecond=0)
    workshop = services.events.create_event(
        carol,
        make_details(
            title="Wheel-throwing workshop",
            description="Three hours at the wheel; clay and firing included.",
            starts_at=start,
            ends_at=start + timedelta(hours=3),
            time_zone="Europe/London",
            venue="Carol's studio, 12 Kiln Lane",
            sales_start=now - timedelta(days=1),
            sales_end=start - timedelta(days=1),
            capacity=12,
            currency="GBP",
        ),
        event_id="demo-wheel-workshop",
    )
    events = services.events
    events.add_ticket_type(carol, workshop.event_id, type_id="standard", name="Standard", price=4_500, quota=10)
    events.add_ticket_type(carol, workshop.event_id, type_id="pair", name="Two at one wheel", price=8_000, quota=2)
    events.add_ticket_type(
        carol, workshop.event_id, type_id="masterclass", name="Masterclass with Carol", price=12_000, quota=1
    )
    events.create_code(
        carol,
        code="CLAY10",
        kind="percent",
        value=10,
        valid_from=now - timedelta(days=1),
        valid_until=start,
        max_uses=20,
        per_user_limit=1,
    )
    events.publish(carol, workshop.event_id)
    held = events.reserve(alice, workshop.event_id, "standard", 2, idempotency_key="demo-alice-1", code="CLAY10")
    events.confirm(alice, held.registration_id, idempotency_key="demo-alice-1-paid")
    # The masterclass sells out to bob; alice waits for it (a cancellation offers her the seat).
    master = events.reserve(bob, workshop.event_id, "masterclass", 1, idempotency_key="demo-bob-master")
    events.confirm(bob, master.registration_id, idempotency_key="demo-bob-master-paid")
    services.waitlist.join(alice, workshop.event_id, "masterclass")
    meetup_start = (now + timedelta(days=30)).replace(hour=18, minute=30, second=0, microsecond=0)
    events.create_event(
        bob,
        make_details(
            title="Makers' meetup (online)",
            starts_at=meetup_start,
            ends_at=meetup_start + timedelta(hours=1),
            time_zone="America/New_York",
            online=True,
            sales_start=now,
            sales_end=meetup_start,
            capacity=100,
            currency="USD",
        ),
        event_id="demo-makers-meetup",
    )
