"""The Postgres feed store: SQLAlchemy Core over the feed tables (migration 0004_feed); a page is one call (0010)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, MetaData, Table, Text, delete, func, select
from sqlalchemy.dialects.postgresql import insert

from townsquare.adapters.postgres.database import PgDatabase
from townsquare.core.bounded import BoundedCache
from townsquare.core.feed.models import CartDemand, CartEntry, FeedItem, ItemKind
from townsquare.core.feed.ports import CandidateQuery, FeedCandidates

metadata = MetaData()

feed_items = Table(
    "feed_items",
    metadata,
    Column("item_id", Text, primary_key=True),
    Column("creator_id", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("price_cents", BigInteger),
    Column("currency", Text),
    Column("published_at", DateTime(timezone=True), nullable=False),
    Column("rank_key", BigInteger, nullable=False),
    Column("sequence", BigInteger),
    Column("removed_at", DateTime(timezone=True)),
)
feed_follows = Table(
    "feed_follows",
    metadata,
    Column("follower_id", Text, primary_key=True),
    Column("creator_id", Text, primary_key=True),
    Column("followed_at", DateTime(timezone=True), nullable=False),
)
feed_hidden_items = Table(
    "feed_hidden_items",
    metadata,
    Column("viewer_id", Text, primary_key=True),
    Column("item_id", Text, primary_key=True),
    Column("hidden_at", DateTime(timezone=True), nullable=False),
)
feed_cart_items = Table(
    "feed_cart_items",
    metadata,
    Column("viewer_id", Text, primary_key=True),
    Column("item_id", Text, primary_key=True),
    Column("added_at", DateTime(timezone=True), nullable=False),
)

FEED_TABLES = ("feed_cart_items", "feed_hidden_items", "feed_follows", "feed_items")
"""Every table of the feed, children first (for TRUNCATE in tests and benchmarks)."""


# The items pages showed are remembered, a bounded share of them: the top of the feed is
# what most pages show, and 20,000 items of a few hundred bytes to a few KiB each (a body may
# hold 5,000 characters) are tens of MB per process.
REMEMBERED_ITEMS = 20_000


class PgFeedStore:
    """Implements :class:`townsquare.core.feed.FeedStore` on Postgres.

    A page is one call of ``app.feed_page`` (migration ``0010``): two index-only scans
    (non-shop and shop items, each from the cursor's position downwards) with anti-joins
    against the viewer's hidden items and cart, returning ids. Items never change once
    published, so the store remembers the ones it has read (``remembered_items`` of them, the
    oldest out first) and fetches only the others.
    """

    def __init__(self, db: PgDatabase, *, remembered_items: int = REMEMBERED_ITEMS) -> None:
        self._db = db
        self._items: BoundedCache[tuple[str, int, int, bool], FeedItem] = BoundedCache(remembered_items)

    # -- items ---------------------------------------------------------------------------

    def get(self, item_id: str) -> FeedItem | None:
        row = self._db.connection().execute(select(feed_items).where(feed_items.c.item_id == item_id)).one_or_none()
        return None if row is None else _item_from_row(row)

    def add(self, item: FeedItem) -> FeedItem | None:
        statement = (
            insert(feed_items)
            .values(**_item_values(item))
            .on_conflict_do_nothing(index_elements=["item_id"])
            .returning(*feed_items.c)
        )
        row = self._db.connection().execute(statement).one_or_none()
        return None if row is None else _item_from_row(row)

    def add_new(self, items: Sequence[FeedItem]) -> list[FeedItem]:
        if not items:
            return []
        statement = (
            insert(feed_items)
            .values([_item_values(item) for item in items])
            .on_conflict_do_nothing(index_elements=["item_id"])
            .returning(*feed_items.c)
        )
        stored = {row.item_id: _item_from_row(row) for row in self._db.connection().execute(statement)}
        return [stored[item.item_id] for item in items if item.item_id in stored]

    def mark_removed(self, item_id: str, at: datetime) -> None:
        self._db.connection().execute(
            feed_items.update()
            .where(feed_items.c.item_id == item_id, feed_items.c.removed_at.is_(None))
            .values(removed_at=at)
        )

    def candidates(self, query: CandidateQuery) -> FeedCandidates:
        rows = self._db.call(PAGE_CALL, page_call_parameters(query))
        snapshot = rows[-1].snapshot  # the last row carries the snapshot alone
        found = rows[:-1]
        # Remembered by (id, rank key, sequence, kind): items never change once published, and
        # the rest of the key guards against an id whose row was deleted and written anew
        # behind this process's back.
        remembered = self._items.get
        items = [remembered((row.item_id, row.rank_key, row.sequence, row.is_product)) for row in found]
        if None in items:
            read = self._read_items([row.item_id for item, row in zip(items, found, strict=True) if item is None])
            items = [item or read.get(row.item_id) for item, row in zip(items, found, strict=True)]
        others: list[FeedItem] = []
        products: list[FeedItem] = []
        for item, row in zip(items, found, strict=True):
            if item is not None:
                (products if row.is_product else others).append(item)
        return FeedCandidates(others=tuple(others), products=tuple(products), snapshot=int(snapshot))

    def _read_items(self, item_ids: list[str]) -> dict[str, FeedItem]:
        items = {}
        for row in self._db.call(_ITEMS, {"ids": item_ids}):
            item = items[row.item_id] = _item_from_row(row)
            if item.is_live:  # one removed since the page call is shown, not remembered
                self._items.put((item.item_id, item.rank_key, item.sequence, item.kind.is_shop), item)
        return items

    # -- follows, hidden items, carts ----------------------------------------------------

    def follower_count(self, creator_id: str) -> int:
        count = self._db.connection().execute(
            select(func.count()).select_from(feed_follows).where(feed_follows.c.creator_id == creator_id)
        )
        return int(count.scalar_one())

    def follower_counts(self, creator_ids: Sequence[str]) -> dict[str, int]:
        rows = self._db.connection().execute(
            select(feed_follows.c.creator_id, func.count())
            .where(feed_follows.c.creator_id.in_(creator_ids))
            .group_by(feed_follows.c.creator_id)
        )
        counts = dict.fromkeys(creator_ids, 0)
        counts.update({creator_id: int(count) for creator_id, count in rows})
        return counts

    def follow(self, follower_id: str, creator_id: str, at: datetime) -> None:
        self._db.connection().execute(
            insert(feed_follows)
            .values(follower_id=follower_id, creator_id=creator_id, followed_at=at)
            .on_conflict_do_nothing()
        )

    def unfollow(self, follower_id: str, creator_id: str) -> None:
        self._db.connection().execute(
            delete(feed_follows).where(
                feed_follows.c.follower_id == follower_id, feed_follows.c.creator_id == creator_id
            )
        )

    def hide(self, viewer_id: str, item_id: str, at: datetime) -> None:
        self._db.connection().execute(
            insert(feed_hidden_items)
            .values(viewer_id=viewer_id, item_id=item_id, hidden_at=at)
            .on_conflict_do_nothing()
        )

    def unhide(self, viewer_id: str, item_id: str) -> None:
        self._db.connection().execute(
            delete(feed_hidden_items).where(
                feed_hidden_items.c.viewer_id == viewer_id, feed_hidden_items.c.item_id == item_id
            )
        )

    def add_to_cart(self, viewer_id: str, item_id: str, at: datetime) -> None:
        self._db.connection().execute(
            insert(feed_cart_items).values(viewer_id=viewer_id, item_id=item_id, added_at=at).on_conflict_do_nothing()
        )

    def remove_from_cart(self, viewer_id: str, item_id: str) -> None:
        self._db.connection().execute(
            delete(feed_cart_items).where(
                feed_cart_items.c.viewer_id == viewer_id, feed_cart_items.c.item_id == item_id
            )
        )

    def cart(self, viewer_id: str) -> list[CartEntry]:
        statement = (
            select(feed_items, feed_cart_items.c.added_at)
            .join(feed_cart_items, feed_cart_items.c.item_id == feed_items.c.item_id)
            .where(feed_cart_items.c.viewer_id == viewer_id, feed_items.c.removed_at.is_(None))
            .order_by(feed_cart_items.c.added_at.desc(), feed_items.c.item_id.desc())
        )
        return [
            CartEntry(item=_item_from_row(row), added_at=row.added_at)
            for row in self._db.connection().execute(statement)
        ]

    def cart_demand(self, creator_id: str, added_before: datetime) -> list[CartDemand]:
        # Migration 0017's indexes: the creator's live products, then their cart entries by item.
        statement = (
            select(
                feed_items.c.currency,
                func.count().label("entries"),
                func.sum(feed_items.c.price_cents).label("amount"),
            )
            .join(feed_cart_items, feed_cart_items.c.item_id == feed_items.c.item_id)
            .where(
                feed_items.c.creator_id == creator_id,
                feed_items.c.kind == ItemKind.PRODUCT.value,
                feed_items.c.removed_at.is_(None),
                feed_items.c.price_cents.is_not(None),
                feed_items.c.currency.is_not(None),
                feed_cart_items.c.added_at <= added_before,
            )
            .group_by(feed_items.c.currency)
            .order_by(feed_items.c.currency)
        )
        return [
            CartDemand(currency=row.currency, entries=row.entries, amount=int(row.amount))
            for row in self._db.connection().execute(statement)
        ]


_ITEM_COLUMNS = (
    "item_id, creator_id, kind, title, body, price_cents, currency, published_at, rank_key, sequence, removed_at"
)
# Migration 0010's functions (PgDatabase.call): a page's candidates (ids, rank keys and sequences, both streams and
# the snapshot) in one call, and whole rows for the ids the store does not hold yet.
PAGE_CALL = (
    "SELECT item_id, rank_key, sequence, is_product, snapshot FROM app.feed_page(%(role)s, %(actor)s, "
    "%(viewer)s, %(following)s, %(snapshot)s, %(others_rank)s, %(others_id)s, %(others_limit)s::integer, "
    "%(products_rank)s, %(products_id)s, %(products_limit)s::integer)"
)
_ITEMS = f"SELECT {_ITEM_COLUMNS} FROM app.feed_items(%(role)s, %(actor)s, %(ids)s::text[])"


def page_call_parameters(query: CandidateQuery) -> dict[str, Any]:
    """The parameters of :data:`PAGE_CALL` for ``query`` (besides the role and actor)."""
    others, products = query.others_after, query.products_after
    return {
        "viewer": query.viewer_id,
        "following": query.following_only,
        "snapshot": query.snapshot,
        "others_rank": None if others is None else others.rank_key,
        "others_id": None if others is None else others.item_id,
        "others_limit": query.others_limit,
        "products_rank": None if products is None else products.rank_key,
        "products_id": None if products is None else products.item_id,
        "products_limit": query.products_limit,
    }


# A dict lookup: calling the enum costs ten times more, for each of a page's 62 rows.
_KINDS = {kind.value: kind for kind in ItemKind}


def _item_values(item: FeedItem) -> dict[str, Any]:
    return {
        "item_id": item.item_id,
        "creator_id": item.creator_id,
        "kind": item.kind.value,
        "title": item.title,
        "body": item.body,
        "price_cents": item.price_cents,
        "currency": item.currency,
        "published_at": item.published_at,
        "rank_key": item.rank_key,
    }


def _item_from_row(row: Any) -> FeedItem:
    """A feed item from a row with feed_items' columns, read by name (SQLAlchemy rows and ``db.call``'s alike)."""
    # Positional arguments, in FeedItem's field order: they cost attrs' frozen __init__ about
    # 1.1 us against 1.7 us with keywords, for each of a page's 62 rows.
    return FeedItem(
        row.item_id,
        row.creator_id,
        _KINDS[row.kind],
        row.title,
        row.body,
        row.price_cents,
        row.currency,
        row.published_at,
        row.rank_key,
        row.sequence,
        row.removed_at,
    )
