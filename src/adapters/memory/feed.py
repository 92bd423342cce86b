"""The memory feed store: items kept in feed order per stream, plus follows, hidden items and carts."""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

import attrs

from townsquare.adapters.memory.database import MemoryDatabase
from townsquare.core.feed.models import CartDemand, CartEntry, FeedItem, Position
from townsquare.core.feed.ports import CandidateQuery, FeedCandidates
from townsquare.core.feed.rules import is_eligible

_Key = tuple[int, str]


class MemoryFeedStore:
    """Implements :class:`townsquare.core.feed.FeedStore` in process memory (mock mode).

    Live items sit in two lists sorted by (rank key, id), one per stream, so a page reads
    from a bisected position downwards, like the Postgres index scan.
    """

    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db
        self._items: dict[str, FeedItem] = {}
        self._streams: dict[bool, list[_Key]] = {True: [], False: []}
        self._sequence = 0
        self._follows: defaultdict[str, dict[str, datetime]] = defaultdict(dict)
        self._followers: defaultdict[str, int] = defaultdict(int)
        self._hidden: defaultdict[str, dict[str, datetime]] = defaultdict(dict)
        self._carts: defaultdict[str, dict[str, datetime]] = defaultdict(dict)
        db.on_reset(self._reset)

    def _reset(self) -> None:
        self._items.clear()
        self._streams = {True: [], False: []}
        self._sequence = 0
        self._follows.clear()
        self._followers.clear()
        self._hidden.clear()
        self._carts.clear()

    # -- items ---------------------------------------------------------------------------

    def get(self, item_id: str) -> FeedItem | None:
        return self._items.get(item_id)

    def add(self, item: FeedItem) -> FeedItem | None:
        if item.item_id in self._items:
            return None
        previous_sequence = self._sequence
        self._sequence += 1
        stored = attrs.evolve(item, sequence=self._sequence)
        self._items[item.item_id] = stored
        stream = self._streams[stored.kind.is_shop]
        key = (stored.rank_key, stored.item_id)
        bisect.insort(stream, key)

        def undo() -> None:
            del self._items[item.item_id]
            stream.remove(key)
            self._sequence = previous_sequence

        self._db.record_undo(undo)
        return stored

    def add_new(self, items: Sequence[FeedItem]) -> list[FeedItem]:
        return [stored for item in items if (stored := self.add(item)) is not None]

    def mark_removed(self, item_id: str, at: datetime) -> None:
        item = self._items[item_id]
        if not item.is_live:
            return
        self._items[item_id] = attrs.evolve(item, removed_at=at)
        stream = self._streams[item.kind.is_shop]
        key = (item.rank_key, item.item_id)
        stream.remove(key)

        def undo() -> None:
            self._items[item_id] = item
            bisect.insort(stream, key)

        self._db.record_undo(undo)

    def candidates(self, query: CandidateQuery) -> FeedCandidates:
        snapshot = self._sequence if query.snapshot is None else query.snapshot
        return FeedCandidates(
            others=self._stream(query, snapshot, shop=False, after=query.others_after, limit=query.others_limit),
            products=self._stream(query, snapshot, shop=True, after=query.products_after, limit=query.products_limit),
            snapshot=snapshot,
        )

    def _stream(
        self, query: CandidateQuery, snapshot: int, *, shop: bool, after: Position | None, limit: int
    ) -> tuple[FeedItem, ...]:
        stream = self._streams[shop]
        index = len(stream) if after is None else bisect.bisect_left(stream, (after.rank_key, after.item_id))
        hidden = self._hidden.get(query.viewer_id, {})
        cart = self._carts.get(query.viewer_id, {})
        followed = self._follows.get(query.viewer_id, {}) if query.following_only else None
        found: list[FeedItem] = []
        while index > 0 and len(found) < limit:
            index -= 1
            item = self._items[stream[index][1]]
            if is_eligible(item, snapshot=snapshot, hidden=hidden, cart=cart, followed=followed):
                found.append(item)
        return tuple(found)

    # -- follows, hidden items, carts ----------------------------------------------------

    def follower_count(self, creator_id: str) -> int:
        return self._followers.get(creator_id, 0)

    def follower_counts(self, creator_ids: Sequence[str]) -> dict[str, int]:
        return {creator_id: self._followers.get(creator_id, 0) for creator_id in creator_ids}

    def followed_by(self, follower_id: str) -> set[str]:
        """The creators ``follower_id`` follows (the composer's picker ranks them first)."""
        return set(self._follows.get(follower_id, ()))

    def follow(self, follower_id: str, creator_id: str, at: datetime) -> None:
        followed = self._follows[follower_id]
        if creator_id in followed:
            return
        followed[creator_id] = at
        self._followers[creator_id] += 1

        def undo() -> None:
            del followed[creator_id]
            self._followers[creator_id] -= 1

        self._db.record_undo(undo)

    def unfollow(self, follower_id: str, creator_id: str) -> None:
        followed = self._follows.get(follower_id, {})
        if creator_id not in followed:
            return
        since = followed.pop(creator_id)
        self._followers[creator_id] -= 1

        def undo() -> None:
            self._follows[follower_id][creator_id] = since
            self._followers[creator_id] += 1

        self._db.record_undo(undo)

    def hide(self, viewer_id: str, item_id: str, at: datetime) -> None:
        _put(self._db, self._hidden[viewer_id], item_id, at)

    def unhide(self, viewer_id: str, item_id: str) -> None:
        _discard(self._db, self._hidden.get(viewer_id, {}), item_id)

    def add_to_cart(self, viewer_id: str, item_id: str, at: datetime) -> None:
        _put(self._db, self._carts[viewer_id], item_id, at)

    def remove_from_cart(self, viewer_id: str, item_id: str) -> None:
        _discard(self._db, self._carts.get(viewer_id, {}), item_id)

    def cart(self, viewer_id: str) -> list[CartEntry]:
        entries = [
            CartEntry(item=self._items[item_id], added_at=added_at)
            for item_id, added_at in self._carts.get(viewer_id, {}).items()
            if self._items[item_id].is_live
        ]
        entries.sort(key=lambda entry: (entry.added_at, entry.item.item_id), reverse=True)
        return entries

    def cart_demand(self, creator_id: str, added_before: datetime) -> list[CartDemand]:
        sums: dict[str, tuple[int, int]] = {}
        for cart in self._carts.values():
            for item_id, added_at in cart.items():
                item = self._items[item_id]
                if (
                    item.creator_id != creator_id
                    or not item.is_live
                    or added_at > added_before
                    or item.price_cents is None
                    or item.currency is None
                ):
                    continue
                entries, amount = sums.get(item.currency, (0, 0))
                sums[item.currency] = (entries + 1, amount + item.price_cents)
        return [CartDemand(currency, entries, amount) for currency, (entries, amount) in sorted(sums.items())]


def _put(db: MemoryDatabase, entries: dict[str, datetime], item_id: str, at: datetime) -> None:
    if item_id in entries:
        return
    entries[item_id] = at
    db.record_undo(lambda: entries.__delitem__(item_id))


def _discard(db: MemoryDatabase, entries: dict[str, datetime], item_id: str) -> None:
    if item_id not in entries:
        return
    at = entries.pop(item_id)
    db.record_undo(lambda: entries.__setitem__(item_id, at))
