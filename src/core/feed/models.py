"""Feed domain models: what a creator publishes, what a viewer is shown, and where a page ends."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Any

from attrs import field, frozen

from townsquare.core.errors import InvalidInput
from townsquare.core.text import is_storable

SHOP_SHARE_PERCENT = 20
"""At most this share (in percent) of a page's capacity may be shop items."""

_ITEM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}\Z")
MAX_PRICE_CENTS = 10**12
"""The highest price of a product, in minor units (ten billion in a two-digit currency; fits a bigint
with room to add up)."""
_CURRENCY = re.compile(r"^[A-Z]{3}\Z")


class ItemKind(StrEnum):
    """What a feed item is; only ``product`` counts toward the shop cap and may go in a cart."""

    POST = "post"
    PRODUCT = "product"
    EVENT = "event"
    VIDEO = "video"

    @property
    def is_shop(self) -> bool:
        return self is ItemKind.PRODUCT


class FeedMode(StrEnum):
    """Which home feed: everyone's items ranked, or only the creators the viewer follows."""

    FOR_YOU = "for_you"
    FOLLOWING = "following"


def product_quota(limit: int) -> int:
    """How many shop items a page of ``limit`` may hold: floor(20% of the page's capacity).

    Pages of fewer than 5 items hold no shop item at all (one would exceed 20%).
    """
    return limit * SHOP_SHARE_PERCENT // 100


def check_item_id(value: str, name: str = "item_id") -> str:
    """Return ``value`` if it is a valid item id, else raise ``ValueError`` naming ``name``."""
    if not isinstance(value, str) or not _ITEM_ID.match(value):
        raise ValueError(f"{name} must be 1..100 characters of letters, digits, '_', '.', ':' or '-'")
    return value


def _item_id(_instance: Any, _attribute: Any, value: str) -> None:
    check_item_id(value)


def _text(max_length: int, *, required: bool) -> Callable[[Any, Any, str], None]:
    def check(_instance: Any, attribute: Any, value: str) -> None:
        if not isinstance(value, str):
            raise ValueError(f"{attribute.name} must be a string")
        if required and not value.strip():
            raise ValueError(f"{attribute.name} must not be blank")
        if len(value) > max_length:
            raise ValueError(f"{attribute.name} must be at most {max_length} characters")
        if not is_storable(value):
            raise ValueError(f"{attribute.name} must not contain NUL characters or unpaired surrogates")

    return check


@frozen
class Draft:
    """What a creator publishes. The id is chosen by the client, which makes publishing retryable.

    Attributes:
        item_id: the item's id (``[A-Za-z0-9_.:-]``, at most 100 characters).
        kind: post, product, event, video.
        title: a short headline.
        body: the text.
        price_cents: a product's price in minor units (products only, required for them).
        currency: the price's ISO 4217 code (products only).
    """

    item_id: str = field(validator=_item_id)
    kind: ItemKind = field(converter=ItemKind)
    title: str = field(validator=_text(200, required=True))
    body: str = field(default="", validator=_text(5000, required=False))
    price_cents: int | None = None
    currency: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.kind.is_shop:
            if self.price_cents is None or self.currency is None:
                raise ValueError("price_cents and currency are required for a product")
            if isinstance(self.price_cents, bool) or not isinstance(self.price_cents, int) or self.price_cents < 0:
                raise ValueError("price_cents must be a non-negative integer (minor units)")
            if self.price_cents > MAX_PRICE_CENTS:
                raise ValueError(f"price_cents must be at most {MAX_PRICE_CENTS} (minor units)")
            if not _CURRENCY.match(self.currency):
                raise ValueError("currency must be a three-letter ISO 4217 code such as EUR")
        elif self.price_cents is not None or self.currency is not None:
            raise ValueError(f"price_cents and currency are for products only; a {self.kind.value} has no price")


def make_draft(
    item_id: str,
    kind: str,
    title: str,
    *,
    body: str = "",
    price_cents: int | None = None,
    currency: str | None = None,
) -> Draft:
    """Build a :class:`Draft` from client input.

    Raises:
        InvalidInput: naming the first field at fault.
    """
    if kind not in ItemKind.__members__.values():
        choices = ", ".join(repr(k.value) for k in ItemKind)
        raise InvalidInput(f"unknown item kind {kind!r}; expected one of {choices}", field="kind")
    try:
        return Draft(item_id, ItemKind(kind), title, body, price_cents, currency)
    except (ValueError, TypeError) as error:
        message = str(error)
        field = next((name for name in _DRAFT_FIELDS if message.startswith(name)), None)
        raise InvalidInput(message, field=field) from None


_DRAFT_FIELDS = ("item_id", "title", "body", "price_cents", "currency")


@frozen
class FeedItem:
    """A published item.

    Attributes:
        item_id: the id the creator chose.
        creator_id: who published it.
        kind: post, product, event, video.
        title: headline.
        body: text.
        price_cents: products only.
        currency: products only.
        published_at: when it was published (UTC, from the clock).
        rank_key: its place in the feed (microseconds of publication plus an engagement boost);
            fixed at publication, so pages never reshuffle under a cursor.
        sequence: the store's publication counter; a cursor's snapshot is a sequence number.
        removed_at: when its creator or an admin removed it (removed items are never shown).
    """

    item_id: str
    creator_id: str
    kind: ItemKind
    title: str
    body: str
    price_cents: int | None
    currency: str | None
    published_at: datetime
    rank_key: int
    sequence: int
    removed_at: datetime | None = None

    @property
    def position(self) -> Position:
        return Position(self.rank_key, self.item_id)

    @property
    def is_live(self) -> bool:
        return self.removed_at is None

    def same_content(self, draft: Draft) -> bool:
        """Whether ``draft`` would publish exactly this item (for idempotent retries)."""
        return (self.kind, self.title, self.body, self.price_cents, self.currency) == (
            draft.kind,
            draft.title,
            draft.body,
            draft.price_cents,
            draft.currency,
        )


@frozen(order=True)
class Position:
    """A place in the feed's total order: rank key, then item id as the tie-breaker.

    The feed runs from the greatest position to the smallest (newest and most boosted first).
    """

    rank_key: int
    item_id: str


@frozen
class FeedPage:
    """One page of a home feed.

    Attributes:
        items: the page's items in feed order.
        next_cursor: the cursor of the next page, or ``None`` when nothing is left.
    """

    items: tuple[FeedItem, ...]
    next_cursor: str | None


@frozen
class CartEntry:
    """A product in a viewer's cart."""

    item: FeedItem
    added_at: datetime


@frozen
class CartDemand:
    """A creator's live products waiting in buyers' carts, in one currency (an aggregate: no viewer ids).

    Attributes:
        currency: the products' ISO 4217 code.
        entries: cart entries (one per viewer and product).
        amount: the sum of those products' prices, in minor units.
    """

    currency: str
    entries: int
    amount: int


__all__ = [
    "SHOP_SHARE_PERCENT",
    "CartDemand",
    "CartEntry",
    "Draft",
    "FeedItem",
    "FeedMode",
    "FeedPage",
    "ItemKind",
    "Position",
    "check_item_id",
    "make_draft",
    "product_quota",
]
