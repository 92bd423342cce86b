"""The Postgres feed store builds items from rows by column name, passing them to FeedItem by
position (cheaper on a hot path): the order of those arguments must be FeedItem's field order
(a swap of two text columns would still type-check)."""

from __future__ import annotations

from collections import namedtuple
from datetime import UTC, datetime

import attrs

from townsquare.adapters.postgres.feed import _ITEM_COLUMNS, _item_from_row
from townsquare.core.feed import FeedItem, ItemKind


def test_the_selected_columns_are_feed_items_fields() -> None:
    assert _ITEM_COLUMNS.split(", ") == [field.name for field in attrs.fields(FeedItem)]


def test_a_row_becomes_the_item_it_describes_whatever_its_column_order() -> None:
    # Given a row whose columns come in the reverse of FeedItem's order (and an extra one)
    published = datetime(2026, 1, 15, 12, tzinfo=UTC)
    values = {
        "item_id": "item-1",
        "creator_id": "creator-1",
        "kind": "product",
        "title": "Mug",
        "body": "A mug",
        "price_cents": 1200,
        "currency": "EUR",
        "published_at": published,
        "rank_key": 42,
        "sequence": 7,
        "removed_at": None,
        "added_at": published,
    }
    Row = namedtuple("Row", list(reversed(values)))  # type: ignore[misc]
    row = Row(**values)
    # Then each value lands in the field of the same name
    assert _item_from_row(row) == FeedItem(
        item_id="item-1",
        creator_id="creator-1",
        kind=ItemKind.PRODUCT,
        title="Mug",
        body="A mug",
        price_cents=1200,
        currency="EUR",
        published_at=published,
        rank_key=42,
        sequence=7,
        removed_at=None,
    )
