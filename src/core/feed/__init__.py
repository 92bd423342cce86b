"""The fused home feed: items of several kinds, a 20% shop cap per page, cart suppression,
hiding, following, and signed cursors that pin a snapshot of the feed.
"""

from townsquare.core.feed.models import (
    SHOP_SHARE_PERCENT,
    CartEntry,
    Draft,
    FeedItem,
    FeedMode,
    FeedPage,
    ItemKind,
    Position,
    make_draft,
    product_quota,
)
from townsquare.core.feed.ports import CandidateQuery, FeedCandidates, FeedStore
from townsquare.core.feed.service import DEFAULT_LIMIT, MAX_LIMIT, FeedService

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "SHOP_SHARE_PERCENT",
    "CandidateQuery",
    "CartEntry",
    "Draft",
    "FeedCandidates",
    "FeedItem",
    "FeedMode",
    "FeedPage",
    "FeedService",
    "FeedStore",
    "ItemKind",
    "Position",
    "make_draft",
    "product_quota",
]
