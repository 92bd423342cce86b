"""The feed's rules: the ranking key, who may see an item, and how a page is composed under the shop cap."""

from __future__ import annotations

from collections.abc import Container, Sequence
from datetime import UTC, datetime, timedelta

from attrs import frozen

from townsquare.core.feed.models import FeedItem, Position, product_quota

BOOST_STEP = timedelta(minutes=10)
"""Each doubling of a creator's followers moves their new items this much earlier in 'for_you'."""
BOOST_CAP = timedelta(hours=2)
"""No item is boosted by more than this: recency always wins in the end."""

_MICROS = timedelta(microseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def rank_key(published_at: datetime, creator_followers: int) -> int:
    """An item's rank key: microseconds since the epoch of its publication plus an engagement boost.

    The boost is computed once, from the creator's follower count when the item is published,
    and stored with the item; so the order of a snapshot never changes under a cursor.
    """
    # 0 followers: no boost; 1: one step; 2-3: two; 4-7: three ... one step per doubling.
    doublings = max(creator_followers, 0).bit_length()
    boost = min(BOOST_STEP * doublings, BOOST_CAP)
    epoch_micros = (published_at - _EPOCH) // _MICROS
    return epoch_micros + boost // _MICROS


def is_eligible(
    item: FeedItem,
    *,
    snapshot: int,
    hidden: Container[str],
    cart: Container[str],
    followed: Container[str] | None,
) -> bool:
    """Whether ``item`` belongs in a viewer's feed.

    Args:
        item: the candidate.
        snapshot: the feed's snapshot (sequence number); later items wait for a refresh.
        hidden: ids of the items the viewer hid.
        cart: ids of the items in the viewer's cart (suppressed: they already have them).
        followed: creators the viewer follows ('following' mode), or ``None`` for everyone.
    """
    return (
        item.is_live
        and item.sequence <= snapshot
        and item.item_id not in hidden
        and item.item_id not in cart
        and (followed is None or item.creator_id in followed)
    )


@frozen
class Composition:
    """A composed page and where each stream stopped.

    Attributes:
        items: the page in feed order.
        last_other: position of the last non-shop item taken (``None``: none taken).
        last_product: position of the last shop item taken (``None``: none taken).
        more: whether eligible items remain after this page (at this page size).
    """

    items: tuple[FeedItem, ...]
    last_other: Position | None
    last_product: Position | None
    more: bool


def compose_page(others: Sequence[FeedItem], products: Sequence[FeedItem], limit: int) -> Composition:
    """Merge the two streams in feed order into one page, holding shop items to the quota.

    The page takes items in feed order. A shop item is taken while the page holds fewer
    than ``product_quota(limit)`` of them; once the quota is reached the remaining shop items
    are *not consumed*: the product stream stays where it is and they open a later page.
    So a page never backfills past the cap, and paging to the end shows every item once.

    Args:
        others: the next eligible non-shop items after the cursor, in feed order; at least
            ``limit + 1`` of them when that many exist (the extra one tells whether more remain).
        products: the next eligible shop items, at least ``quota + 1`` when that many exist.
        limit: the page size.
    """
    quota = product_quota(limit)
    page: list[FeedItem] = []
    taken_others = taken_products = 0
    while len(page) < limit:
        other = others[taken_others] if taken_others < len(others) else None
        product = products[taken_products] if taken_products < min(len(products), quota) else None
        if other is None and product is None:
            break
        if product is not None and (
            other is None or (product.rank_key, product.item_id) > (other.rank_key, other.item_id)
        ):
            page.append(product)
            taken_products += 1
        else:
            assert other is not None
            page.append(other)
            taken_others += 1
    return Composition(
        items=tuple(page),
        last_other=others[taken_others - 1].position if taken_others else None,
        last_product=products[taken_products - 1].position if taken_products else None,
        more=taken_others < len(others) or (quota > 0 and taken_products < len(products)),
    )
