"""The Postgres feed store builds items from rows by position: the columns it selects and
FeedItem's fields must stay in the same order (a swap of two text columns would still type-check)."""

from __future__ import annotations

from datetime import UTC, datetime

import attrs

from townsquare.adapters.postgres.feed import _ITEM_COLUMNS, _item
from townsquare.core.feed import FeedItem, ItemKind


def test_the_selected_columns_are_feed_items_fields_in_order() -> None:
    assert _ITEM_COLUMNS.split(", ") == [field.name for field in attrs.fields(FeedItem)]


def test_a_row_becomes_the_item_it_describes() -> None:
    # Given a row in the selected column order (and the snapshot column after it)
    published = datetime(2026, 1, 15, 12, tzinfo=UTC)
    row = ("item-1", "creator-1", "product", "Mug", "A mug", 1200, "EUR", published, 42, 7, None, 99)
    # Then each value lands in the field of the same name
    assert _item(row) == FeedItem(
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
