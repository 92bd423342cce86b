"""The Postgres feed store: SQLAlchemy Core over the feed tables (migration 0004_feed); a page is one SQL statement."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, MetaData, Table, Text, TextClause, delete, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Dialect

from townsquare.adapters.postgres.database import PgDatabase
from townsquare.core.feed.models import CartEntry, FeedItem, ItemKind
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

_PRODUCT = ItemKind.PRODUCT.value


class PgFeedStore:
    """Implements :class:`townsquare.core.feed.FeedStore` on Postgres.

    A page is one statement (:func:`candidates_statement`): two index scans (non-shop and
    shop items, each from the cursor's position downwards) with anti-joins against the
    viewer's hidden items and cart.
    """

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    # -- items ---------------------------------------------------------------------------

    def get(self, item_id: str) -> FeedItem | None:
        row = self._db.connection().execute(select(feed_items).where(feed_items.c.item_id == item_id)).one_or_none()
        return None if row is None else _item(row)

    def add(self, item: FeedItem) -> FeedItem | None:
        values = {
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
        statement = (
            insert(feed_items)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["item_id"])
            .returning(*feed_items.c)
        )
        row = self._db.connection().execute(statement).one_or_none()
        return None if row is None else _item(row)

    def mark_removed(self, item_id: str, at: datetime) -> None:
        self._db.connection().execute(
            feed_items.update()
            .where(feed_items.c.item_id == item_id, feed_items.c.removed_at.is_(None))
            .values(removed_at=at)
        )

    def candidates(self, query: CandidateQuery) -> FeedCandidates:
        statement, params = candidates_statement(query)
        # The hottest statement of the API runs on the driver's cursor, in the same
        # transaction: SQLAlchemy's result layer (Row objects, metadata) cost more CPU than
        # the whole statement's client side (docs/feed.md, "Through the HTTP host").
        driver = self._db.connection().connection.driver_connection
        if driver is None:
            raise RuntimeError("the transaction's connection has been closed")
        cursor = driver.cursor()
        cursor.execute(_driver_sql(statement, self._db.engine.dialect), params)
        others: list[FeedItem] = []
        products: list[FeedItem] = []
        snapshot = query.snapshot
        for row in cursor.fetchall():
            snapshot = row[_SNAPSHOT_COLUMN]
            if row[0] is None:  # the snapshot row of an empty page
                continue
            item = _item(row)
            (products if item.kind.is_shop else others).append(item)
        if snapshot is None:
            raise RuntimeError("the candidates statement returned no snapshot")
        # UNION ALL does not promise to keep each branch's order: restore feed order.
        others.sort(key=_feed_order, reverse=True)
        products.sort(key=_feed_order, reverse=True)
        return FeedCandidates(others=tuple(others), products=tuple(products), snapshot=int(snapshot))

    # -- follows, hidden items, carts ----------------------------------------------------

    def follower_count(self, creator_id: str) -> int:
        count = self._db.connection().execute(
            select(func.count()).select_from(feed_follows).where(feed_follows.c.creator_id == creator_id)
        )
        return int(count.scalar_one())

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
        return [CartEntry(item=_item(row), added_at=row.added_at) for row in self._db.connection().execute(statement)]


_ITEM_COLUMNS = (
    "item_id, creator_id, kind, title, body, price_cents, currency, published_at, rank_key, sequence, removed_at"
)
_ITEM_COLUMNS_OF_I = ", ".join(f"i.{column}" for column in _ITEM_COLUMNS.split(", "))
_STREAM = """
    SELECT {columns}, snap.snapshot
    FROM snap, LATERAL (
        SELECT k.item_id, k.rank_key FROM feed_items AS k
        WHERE k.removed_at IS NULL AND k.kind {kind} 'product' AND k.sequence <= snap.snapshot{after}
          AND NOT EXISTS (SELECT FROM feed_hidden_items AS h
                          WHERE h.viewer_id = :viewer AND h.item_id = k.item_id)
          AND NOT EXISTS (SELECT FROM feed_cart_items AS c
                          WHERE c.viewer_id = :viewer AND c.item_id = k.item_id){following}
        ORDER BY k.rank_key DESC, k.item_id DESC
        LIMIT {limit:d}
    ) AS page
    JOIN feed_items AS i ON i.item_id = page.item_id"""
_AFTER = "\n          AND (k.rank_key, k.item_id) < (:{stream}_rank, :{stream}_id)"
# Written as "IN (...) IS TRUE" on purpose: that keeps it a *hashed SubPlan* (the viewer's
# follows are read and hashed once, each index entry is then one hash probe) instead of a
# semi-join that probes the follows index once per index entry, ten times slower here.
_FOLLOWING = """
          AND (k.creator_id IN (SELECT f.creator_id FROM feed_follows AS f WHERE f.follower_id = :viewer)) IS TRUE"""
_SNAPSHOT_GIVEN = "WITH snap AS (SELECT CAST(:snapshot AS bigint) AS snapshot)"
# The last publication sequence handed out (committed or not; see docs/feed.md).
_SNAPSHOT_NOW = (
    "WITH snap AS (SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS snapshot FROM feed_items_sequence)"
)
# A page with no candidates still reports its snapshot.
_SNAPSHOT_ROW = "\n    SELECT {nulls}, snap.snapshot FROM snap"


# The limits are literals, not parameters: with "LIMIT $n" Postgres can't bound the scans
# in a generic plan, estimates it as far dearer than a custom one and so re-plans the
# statement on every page (psycopg prepares it after 5 runs); planning cost more than the
# execution. With literal limits it switches to the generic plan, the same bounded scans:
# Postgres CPU per page 0.8-1.3 ms before, 0.3-0.6 ms after (docs/feed.md). A limit is an
# int the service computed (at most 101), so the statements per shape stay few.
@functools.cache
def _candidates_sql(
    following_only: bool,
    snapshot_given: bool,
    *,
    others_after: bool,
    others_limit: int,
    products_limit: int,
    products_after: bool,
) -> TextClause:
    def stream(name: str, kind: str, after: bool, limit: int) -> str:
        return _STREAM.format(
            columns=_ITEM_COLUMNS_OF_I,
            kind=kind,
            after=_AFTER.format(stream=name) if after else "",
            following=_FOLLOWING if following_only else "",
            limit=int(limit),
        )

    parts = [stream("others", "<>", others_after, others_limit)]
    if products_limit > 0:
        parts.append(stream("products", "=", products_after, products_limit))
    parts.append(_SNAPSHOT_ROW.format(nulls=", ".join(f"NULL AS {c}" for c in _ITEM_COLUMNS.split(", "))))
    head = _SNAPSHOT_GIVEN if snapshot_given else _SNAPSHOT_NOW
    return text(head + "\n    UNION ALL".join(parts))


_SNAPSHOT_COLUMN = len(_ITEM_COLUMNS.split(", "))


@functools.cache
def _driver_sql(statement: TextClause, dialect: Dialect) -> str:
    """``statement`` in the driver's own parameter style (``%(name)s``), rendered once."""
    return str(statement.compile(dialect=dialect))


def candidates_statement(query: CandidateQuery) -> tuple[TextClause, dict[str, Any]]:
    """The one statement that reads a page's candidates, and its parameters.

    Each stream is a backward scan of its partial index from the cursor's position with
    anti-joins against the viewer's hidden items and cart (and a semi-join against their
    follows in 'following'); the streams are glued with UNION ALL. A first page takes its
    snapshot (the highest sequence) in the same statement. Public so that tests and the
    benchmark can EXPLAIN exactly what a page runs.
    """
    params: dict[str, Any] = {"viewer": query.viewer_id}
    if query.snapshot is not None:
        params["snapshot"] = query.snapshot
    if query.others_after is not None:
        params |= {"others_rank": query.others_after.rank_key, "others_id": query.others_after.item_id}
    if query.products_limit > 0 and query.products_after is not None:
        params |= {"products_rank": query.products_after.rank_key, "products_id": query.products_after.item_id}
    statement = _candidates_sql(
        query.following_only,
        query.snapshot is not None,
        others_after=query.others_after is not None,
        others_limit=query.others_limit,
        products_limit=query.products_limit,
        products_after=query.products_limit > 0 and query.products_after is not None,
    )
    return statement, params


def _feed_order(item: FeedItem) -> tuple[int, str]:
    return (item.rank_key, item.item_id)


# A dict lookup: calling the enum costs ten times more, for each of a page's 62 rows.
_KINDS = {kind.value: kind for kind in ItemKind}


def _item(row: Any) -> FeedItem:
    # Every query selects the columns of feed_items first, in table order, and FeedItem's
    # fields are in that order too: positional arguments cost attrs' frozen __init__ about
    # 1.1 us against 1.7 us with keywords, for each of a page's 62 rows.
    return FeedItem(row[0], row[1], _KINDS[row[2]], row[3], row[4], row[5], row[6], row[7], row[8], row[9], row[10])
