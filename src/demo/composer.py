"""Demo composer data for mock mode: alice's drafts and the picker's entities (the demo creators,
their products and events).

No demo draft is scheduled: a schedule is a queued job, and mock mode's job counts are part of
what its end-to-end tests replay; schedule one through the API instead."""

from __future__ import annotations

from townsquare.bootstrap import Services
from townsquare.core.composer import make_content, make_entity
from townsquare.core.errors import NotFound
from townsquare.core.identity import Actor

_DRAFTS = {
    "demo-glaze-notes": ("Glaze notes", "Testing a **celadon** over the speckled clay. Photos soon."),
    "demo-market-day": ("Market day this Saturday", "Find me at stall 12, 9:00 to 14:00. Bring a bag!"),
    "demo-untitled": ("", "half an idea about kiln logs..."),
}


_PICKED_KINDS = ("product", "event")
_ITEMS_PER_CREATOR = 40


def seed(services: Services) -> None:
    """Create alice's drafts and index the entities. Idempotent: client-chosen ids, and entities
    are replaced by kind and id."""
    from townsquare.demo import DEMO_USERS

    alice = Actor(DEMO_USERS["alice"])
    for draft_id, (title, body) in _DRAFTS.items():
        services.composer.create(alice, make_content(title, body), draft_id=draft_id)
    _seed_entities(services)


def _seed_entities(services: Services) -> None:
    from townsquare.demo import DEMO_USERS
    from townsquare.demo.feed import _CREATORS, demo_item_id

    admin = Actor(DEMO_USERS["admin"], roles=["admin"])
    for name, kinds in _CREATORS.items():
        creator_id = DEMO_USERS.get(name, name)
        display = name.replace("-", " ").title()
        services.entity_search.put(admin, make_entity("creator", creator_id, name, display, creator_id))
        for number in range(_ITEMS_PER_CREATOR):
            kind = kinds[number % len(kinds)]
            if kind not in _PICKED_KINDS:
                continue
            item_id = demo_item_id(name, number)
            try:
                title = services.feed.item(item_id).title
            except NotFound:  # removed in this mock session
                continue
            services.entity_search.put(admin, make_entity(kind, item_id, item_id, title, creator_id))
