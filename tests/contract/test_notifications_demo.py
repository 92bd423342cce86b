"""The notification demo data: deterministic, idempotent, on both adapters."""

from __future__ import annotations

from townsquare.bootstrap import Services
from townsquare.core.identity import Actor
from townsquare.demo import DEMO_USERS
from townsquare.demo.notifications import seed


def test_the_demo_inbox_is_the_same_every_time(services: Services) -> None:
    # Given the demo data, seeded twice
    seed(services)
    first = services.notifications.inbox(Actor(DEMO_USERS["alice"]), limit=100)
    seed(services)
    # Then nothing was added the second time, and the ids are stable
    again = services.notifications.inbox(Actor(DEMO_USERS["alice"]), limit=100)
    assert [n.id for n in again.items] == [n.id for n in first.items]
    counts = services.notifications.counts(Actor(DEMO_USERS["alice"]))
    assert (counts.total, len(first.items)) == (4, 4)
    assert {lane.value for lane, count in counts.lanes.items() if count} == {"social", "commerce", "events", "system"}
    assert len(services.notifications.outbox(Actor(DEMO_USERS["alice"]))) == 1
    assert services.notifications.preferences(Actor(DEMO_USERS["bob"])).quiet_hours is not None
    assert services.notifications.counts(Actor(DEMO_USERS["carol"])).total == 2
