"""The feed's storage port, in the feed's words: publish, remove, follow, hide, cart, and read candidates."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from attrs import frozen

from townsquare.core.feed.models import CartDemand, CartEntry, FeedItem, Position


@frozen
class CandidateQuery:
    """Which items a page may be composed from.

    Every returned item is eligible (see :func:`townsquare.core.feed.rules.is_eligible`):
    live, published at or before the snapshot, not hidden by the viewer, not in the viewer's
    cart and, when ``following_only``, from a creator the viewer follows. Each stream is in
    feed order (greatest position first) and starts strictly after its position.

    Attributes:
        viewer_id: whose feed.
        following_only: only creators the viewer follows.
        snapshot: the highest publication sequence the pagination may show; ``None`` on a
            first page: the store takes the current one (and reports it in the candidates).
        others_after: where the non-shop stream stopped (``None``: from the top).
        others_limit: how many non-shop items to return at most.
        products_after: where the shop stream stopped (``None``: from the top).
        products_limit: how many shop items to return at most (0: none).
    """

    viewer_id: str
    following_only: bool
    snapshot: int | None
    others_after: Position | None
    others_limit: int
    products_after: Position | None
    products_limit: int


@frozen
class FeedCandidates:
    """The two streams a page is merged from, each in feed order, and the snapshot they were read at."""

    others: tuple[FeedItem, ...]
    products: tuple[FeedItem, ...]
    snapshot: int


class FeedStore(Protocol):
    """Stores items, follows, hidden items and carts; answers candidate queries."""

    def get(self, item_id: str) -> FeedItem | None:
        """The item with this id, removed or not."""
        ...

    def add(self, item: FeedItem) -> FeedItem | None:
        """Store a new item under the next publication sequence and return it as stored.

        Returns ``None`` when the id is taken (the caller decides whether that is a retry).
        """
        ...

    def add_new(self, items: Sequence[FeedItem]) -> list[FeedItem]:
        """Store each item whose id is free, in the order given, and return those stored.

        One statement for all of them (a batch of scheduled posts); an item whose id is taken
        is left out, not an error (the caller leaves it to the one-by-one path).
        """
        ...

    def mark_removed(self, item_id: str, at: datetime) -> None:
        """Take a live item out of every feed."""
        ...

    def candidates(self, query: CandidateQuery) -> FeedCandidates:
        """The eligible items of both streams after the query's positions."""
        ...

    def follower_count(self, creator_id: str) -> int:
        """How many users follow ``creator_id``."""
        ...

    def follower_counts(self, creator_ids: Sequence[str]) -> dict[str, int]:
        """How many users follow each of ``creator_ids`` (one read for a batch)."""
        ...

    def follow(self, follower_id: str, creator_id: str, at: datetime) -> None:
        """Record that ``follower_id`` follows ``creator_id`` (no-op if they already do)."""
        ...

    def unfollow(self, follower_id: str, creator_id: str) -> None:
        """Forget the follow (no-op if there is none)."""
        ...

    def hide(self, viewer_id: str, item_id: str, at: datetime) -> None:
        """Hide the item from the viewer's feeds (no-op if hidden already)."""
        ...

    def unhide(self, viewer_id: str, item_id: str) -> None:
        """Show the item again (no-op if it was not hidden)."""
        ...

    def add_to_cart(self, viewer_id: str, item_id: str, at: datetime) -> None:
        """Put the product in the viewer's cart (no-op if it is there already)."""
        ...

    def remove_from_cart(self, viewer_id: str, item_id: str) -> None:
        """Take the product out of the viewer's cart (no-op if it is not there)."""
        ...

    def cart(self, viewer_id: str) -> list[CartEntry]:
        """The live products in the viewer's cart, most recently added first."""
        ...

    def cart_demand(self, creator_id: str, added_before: datetime) -> list[CartDemand]:
        """The creator's live, priced products put in anyone's cart at or before ``added_before``, per currency.

        Ordered by currency. Reads every viewer's cart: run it as the system, after checking
        the actor may see the creator's aggregates.
        """
        ...
