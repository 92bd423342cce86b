"""The feed service: home pages with signed snapshot cursors, and the inputs the feed needs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from townsquare.core.clock import Clock
from townsquare.core.cursor import CursorCodec
from townsquare.core.errors import Conflict, Forbidden, InvalidCursor, InvalidInput, NotFound
from townsquare.core.feed.models import (
    CartEntry,
    Draft,
    FeedItem,
    FeedMode,
    FeedPage,
    ItemKind,
    Position,
    check_item_id,
    product_quota,
)
from townsquare.core.feed.ports import CandidateQuery, FeedStore
from townsquare.core.feed.rules import compose_page, rank_key
from townsquare.core.identity import Actor, check_user_id
from townsquare.core.uow import UnitOfWork

DEFAULT_LIMIT = 50
MAX_LIMIT = 100


class FeedService:
    """The fused home feed and its inputs.

    Args:
        store: where items, follows, hidden items and carts live.
        uow: opens the transaction of each operation.
        clock: publication, hide and cart times.
        cursors: signs page cursors; a cursor's scope names the mode and the viewer.
    """

    def __init__(self, store: FeedStore, uow: UnitOfWork, clock: Clock, cursors: CursorCodec) -> None:
        self._store = store
        self._uow = uow
        self._clock = clock
        self._cursors = cursors

    # -- reading -------------------------------------------------------------------------

    def home(
        self, viewer: Actor, mode: str = FeedMode.FOR_YOU, cursor: str | None = None, limit: int = DEFAULT_LIMIT
    ) -> FeedPage:
        """One page of the viewer's home feed.

        The first page (no cursor) pins a snapshot: later pages of the same pagination never
        show items published after it (a fresh first page does). Shop items fill at most
        ``product_quota(limit)`` places of a page; shop items passed over for the cap open a
        later page instead. Hidden items, items in the viewer's cart and removed items are
        filtered out before the page is cut, so a page is full whenever enough items remain.

        Args:
            viewer: whose feed.
            mode: ``for_you`` (everyone, ranked) or ``following`` (creators the viewer follows).
            cursor: the previous page's ``next_cursor``; ``None`` for the first page.
            limit: page size, 1..100.

        Raises:
            InvalidInput: unknown mode or a limit out of range.
            InvalidCursor: a malformed, tampered, expired or foreign cursor.
        """
        feed_mode = _parse_mode(mode)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise InvalidInput(f"limit must be an integer from 1 to {MAX_LIMIT}, got {limit!r}", field="limit")
        scope = _scope(feed_mode, viewer.user_id)
        quota = product_quota(limit)
        snapshot: int | None = None  # a first page takes the store's current snapshot
        others_after: Position | None = None
        products_after: Position | None = None
        if cursor is not None:
            snapshot, others_after, products_after = self._read_cursor(feed_mode, viewer.user_id, cursor)
        # The page's candidates, then the items the store does not hold yet: each read is
        # atomic on its own, and the snapshot in the cursor keeps later pages consistent.
        with self._uow.single_statements(actor=viewer.user_id):
            candidates = self._store.candidates(
                CandidateQuery(
                    viewer_id=viewer.user_id,
                    following_only=feed_mode is FeedMode.FOLLOWING,
                    snapshot=snapshot,
                    others_after=others_after,
                    others_limit=limit + 1,
                    products_after=products_after,
                    products_limit=quota + 1 if quota else 0,
                )
            )
        page = compose_page(candidates.others, candidates.products, limit)
        next_cursor = None
        if page.more:
            next_cursor = self._cursors.encode(
                scope,
                {
                    "s": candidates.snapshot,
                    "o": _position_out(page.last_other or others_after),
                    "p": _position_out(page.last_product or products_after),
                },
            )
        return FeedPage(items=page.items, next_cursor=next_cursor)

    def item(self, item_id: str) -> FeedItem:
        """A live item.

        Raises:
            NotFound: no such item, or it was removed.
        """
        item_id = _item_id_in(item_id)
        with self._uow.transaction():
            return self._live_item(item_id)

    def cart(self, viewer: Actor) -> list[CartEntry]:
        """The live products in the viewer's cart, most recently added first."""
        with self._uow.transaction(actor=viewer.user_id):
            return self._store.cart(viewer.user_id)

    # -- publishing ----------------------------------------------------------------------

    def publish(
        self,
        actor: Actor,
        draft: Draft,
        *,
        creator_id: str | None = None,
        published_at: datetime | None = None,
    ) -> FeedItem:
        """Publish an item as its creator. Retrying with the same id and content returns the same item.

        A creator publishes their own items. An admin may publish on behalf of a creator and
        with a past ``published_at`` (importing content from another platform).

        Raises:
            Forbidden: ``creator_id`` or ``published_at`` given by a non-admin.
            Conflict: the id is taken by another creator's item, other content, or a removed item.
            InvalidInput: ``published_at`` in the future or without a time zone.
        """
        now = self._clock.now()
        creator = actor.user_id if creator_id is None else creator_id
        if creator != actor.user_id or published_at is not None:
            if not actor.is_admin:
                raise Forbidden("only an admin may publish for another creator or with a past time")
            check_user_id(creator, "creator_id")
        when = now if published_at is None else _past_time(published_at, now)
        with self._uow.transaction(actor=actor.acting_as()):
            existing = self._store.get(draft.item_id)
            if existing is None:
                stored = self._store.add(_new_item(draft, creator, when, self._store.follower_count(creator)))
                if stored is not None:
                    return stored
                # Another transaction published this id meanwhile: judge it as a retry.
                existing = self._store.get(draft.item_id)
                assert existing is not None
            return _as_retry(existing, creator, draft)

    def publish_batch(self, actor: Actor, posts: Sequence[tuple[str, Draft]]) -> list[FeedItem]:
        """Publish each ``(creator_id, draft)`` now, all in one transaction, skipping taken ids.

        The batch path of scheduled posts (an admin or the system only): one read of the
        creators' follower counts and one write for every item, where :meth:`publish` takes
        three statements an item. An item whose id is taken is left out of the result and
        not published; the caller leaves it to :meth:`publish`, which judges it as a retry.

        Raises:
            Forbidden: a non-admin actor.
        """
        if not actor.is_admin:
            raise Forbidden("only an admin or the system publishes a batch for creators")
        if not posts:
            return []
        when = self._clock.now()
        with self._uow.transaction(actor=actor.acting_as()):
            followers = self._store.follower_counts(sorted({creator for creator, _ in posts}))
            items = [_new_item(draft, creator, when, followers.get(creator, 0)) for creator, draft in posts]
            return self._store.add_new(items)

    def remove(self, actor: Actor, item_id: str) -> None:
        """Take an item out of every feed (its creator or an admin). Removing twice is a no-op.

        Raises:
            NotFound: no such item.
            Forbidden: the actor is neither its creator nor an admin.
        """
        item_id = _item_id_in(item_id)
        with self._uow.transaction(actor=actor.acting_as()):
            item = self._store.get(item_id)
            if item is None:
                raise NotFound(f"no feed item {item_id!r}", field="item_id")
            if item.creator_id != actor.user_id and not actor.is_admin:
                raise Forbidden("only the item's creator or an admin may remove it")
            if item.is_live:
                self._store.mark_removed(item_id, self._clock.now())

    # -- the viewer's inputs -------------------------------------------------------------

    def follow(self, viewer: Actor, creator_id: str) -> None:
        """Follow a creator ('following' mode shows their items). Idempotent.

        Raises:
            InvalidInput: a malformed creator id, or the viewer themselves.
        """
        check_user_id(creator_id, "creator_id")
        if creator_id == viewer.user_id:
            raise InvalidInput("you cannot follow yourself", field="creator_id")
        with self._uow.transaction(actor=viewer.user_id):
            self._store.follow(viewer.user_id, creator_id, self._clock.now())

    def unfollow(self, viewer: Actor, creator_id: str) -> None:
        """Stop following a creator. Idempotent."""
        check_user_id(creator_id, "creator_id")
        with self._uow.transaction(actor=viewer.user_id):
            self._store.unfollow(viewer.user_id, creator_id)

    def hide(self, viewer: Actor, item_id: str) -> None:
        """Hide an item from the viewer's feeds. Idempotent.

        Raises:
            NotFound: no such live item.
        """
        item_id = _item_id_in(item_id)
        with self._uow.transaction(actor=viewer.user_id):
            self._live_item(item_id)
            self._store.hide(viewer.user_id, item_id, self._clock.now())

    def unhide(self, viewer: Actor, item_id: str) -> None:
        """Show a hidden item again. Idempotent."""
        item_id = _item_id_in(item_id)
        with self._uow.transaction(actor=viewer.user_id):
            self._store.unhide(viewer.user_id, item_id)

    def add_to_cart(self, viewer: Actor, item_id: str) -> None:
        """Put a product in the viewer's cart (it leaves their feeds). Idempotent.

        Raises:
            NotFound: no such live item.
            InvalidInput: the item is not a product.
        """
        item_id = _item_id_in(item_id)
        with self._uow.transaction(actor=viewer.user_id):
            item = self._live_item(item_id)
            if item.kind is not ItemKind.PRODUCT:
                raise InvalidInput(f"only products go in a cart; {item_id!r} is a {item.kind.value}", field="item_id")
            self._store.add_to_cart(viewer.user_id, item_id, self._clock.now())

    def remove_from_cart(self, viewer: Actor, item_id: str) -> None:
        """Take a product out of the viewer's cart (it may show in their feeds again). Idempotent."""
        item_id = _item_id_in(item_id)
        with self._uow.transaction(actor=viewer.user_id):
            self._store.remove_from_cart(viewer.user_id, item_id)

    # -- helpers -------------------------------------------------------------------------

    def _live_item(self, item_id: str) -> FeedItem:
        item = self._store.get(item_id)
        if item is None or not item.is_live:
            raise NotFound(f"no feed item {item_id!r}", field="item_id")
        return item

    def _read_cursor(self, mode: FeedMode, viewer_id: str, cursor: str) -> tuple[int, Position | None, Position | None]:
        try:
            position = self._cursors.decode(_scope(mode, viewer_id), cursor)
        except InvalidCursor:
            other = FeedMode.FOLLOWING if mode is FeedMode.FOR_YOU else FeedMode.FOR_YOU
            if not self._issued_for(other, viewer_id, cursor):
                raise
            raise InvalidCursor(
                f"cursor belongs to the '{other.value}' feed, not '{mode.value}'", field="cursor"
            ) from None
        try:
            snapshot = position["s"]
            if isinstance(snapshot, bool) or not isinstance(snapshot, int) or snapshot < 0:
                raise TypeError
            return snapshot, _position_in(position["o"]), _position_in(position["p"])
        except (KeyError, TypeError, ValueError):
            raise InvalidCursor("cursor body is malformed", field="cursor") from None

    def _issued_for(self, mode: FeedMode, viewer_id: str, cursor: str) -> bool:
        try:
            self._cursors.decode(_scope(mode, viewer_id), cursor)
        except InvalidCursor:
            return False
        return True


def _item_id_in(item_id: str) -> str:
    """A client's item id, or :class:`InvalidInput` when it cannot be one (before any lookup,
    so every adapter refuses the same ids the same way)."""
    try:
        return check_item_id(item_id)
    except ValueError as error:
        raise InvalidInput(str(error), field="item_id") from None


def _scope(mode: FeedMode, viewer_id: str) -> str:
    return f"feed:{mode.value}:{viewer_id}"


def _parse_mode(mode: str) -> FeedMode:
    try:
        return FeedMode(mode)
    except ValueError:
        choices = ", ".join(repr(m.value) for m in FeedMode)
        raise InvalidInput(f"unknown feed mode {mode!r}; expected one of {choices}", field="mode") from None


def _position_out(position: Position | None) -> list[Any] | None:
    return None if position is None else [position.rank_key, position.item_id]


def _position_in(raw: Any) -> Position | None:
    if raw is None:
        return None
    rank, item_id = raw
    if isinstance(rank, bool) or not isinstance(rank, int) or not isinstance(item_id, str):
        raise TypeError("position must be [int, str]")
    return Position(rank, item_id)


def _past_time(when: datetime, now: datetime) -> datetime:
    if when.tzinfo is None:
        raise InvalidInput("published_at needs a UTC offset", field="published_at")
    if when > now:
        raise InvalidInput("published_at must not be in the future", field="published_at")
    return when.astimezone(UTC)


def _new_item(draft: Draft, creator_id: str, when: datetime, followers: int) -> FeedItem:
    """The item ``draft`` becomes, published by ``creator_id`` at ``when`` (the store numbers it)."""
    return FeedItem(
        item_id=draft.item_id,
        creator_id=creator_id,
        kind=draft.kind,
        title=draft.title,
        body=draft.body,
        price_cents=draft.price_cents,
        currency=draft.currency,
        published_at=when,
        rank_key=rank_key(when, followers),
        sequence=0,
    )


def _as_retry(existing: FeedItem, creator_id: str, draft: Draft) -> FeedItem:
    if existing.creator_id != creator_id:
        raise Conflict(f"item id {draft.item_id!r} is taken by another creator", field="item_id")
    if not existing.is_live:
        raise Conflict(f"item {draft.item_id!r} was removed; publish under a new id", field="item_id")
    if not existing.same_content(draft):
        raise Conflict(f"item {draft.item_id!r} was already published with other content", field="item_id")
    return existing
