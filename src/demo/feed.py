"""Demo feed for mock mode: a few creators, 200 items of every kind, and alice's follows, cart and hidden items."""

from __future__ import annotations

from datetime import timedelta

from townsquare.bootstrap import Services
from townsquare.core.errors import Conflict, NotFound
from townsquare.core.feed import Draft, ItemKind
from townsquare.core.identity import Actor

_CREATORS = {
    "bob": ["post", "post", "video", "event", "post"],
    "carol": ["post", "video", "post", "post"],
    "ember-ceramics": ["product", "post", "product", "product"],
    "loom-and-thread": ["product", "product", "post", "event"],
    "harbour-events": ["event", "post", "event"],
}
_ITEMS_PER_CREATOR = 40
_STEP = timedelta(minutes=17)
_TOPICS = ["studio day", "new drop", "behind the scenes", "Q&A", "market stall", "glaze test", "weekend plans"]


def demo_item_id(creator: str, number: int) -> str:
    """The id of a demo item (``demo-bob-007``)."""
    return f"demo-{creator}-{number:03d}"


def seed(services: Services) -> None:
    """Publish the demo items (as imports, spread over the past days) and set up alice's feed.

    Idempotent: publishing the same id with the same content returns the stored item, and
    follows, hidden items and cart entries are sets.
    """
    from townsquare.demo import DEMO_USERS

    admin = Actor(DEMO_USERS["admin"], roles=["admin"])
    alice = Actor(DEMO_USERS["alice"])
    creator_ids = {name: DEMO_USERS.get(name, name) for name in _CREATORS}
    now = services.clock.now()
    for follower in ("carol", "bob"):
        services.feed.follow(Actor(DEMO_USERS[follower]), creator_ids["ember-ceramics"])
    order = 0
    for number in range(_ITEMS_PER_CREATOR):
        for name, kinds in _CREATORS.items():
            kind = ItemKind(kinds[number % len(kinds)])
            price = {"price_cents": 1500 + 250 * (number % 9), "currency": "EUR"} if kind.is_shop else {}
            draft = Draft(
                item_id=demo_item_id(name, number),
                kind=kind,
                title=f"{name}: {_TOPICS[(number + order) % len(_TOPICS)]} #{number}",
                body=f"A demo {kind.value} by {name}.",
                **price,  # type: ignore[arg-type]
            )
            order += 1
            try:
                services.feed.publish(admin, draft, creator_id=creator_ids[name], published_at=now - _STEP * order)
            except Conflict:
                # A demo item someone removed in this mock session stays removed.
                continue
    for name in ("bob", "carol", "harbour-events"):
        services.feed.follow(alice, creator_ids[name])
    alice_cart = [
        demo_item_id("ember-ceramics", 0),
        demo_item_id("loom-and-thread", 1),
        demo_item_id("ember-ceramics", 3),
    ]
    alice_hidden = [demo_item_id("carol", 1), demo_item_id("bob", 2)]
    for item_id in alice_cart + alice_hidden:
        try:
            if item_id in alice_cart:
                services.feed.add_to_cart(alice, item_id)
            else:
                services.feed.hide(alice, item_id)
        except NotFound:
            # Removed in this mock session: nothing to put in the cart or hide.
            continue
