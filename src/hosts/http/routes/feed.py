"""Feed endpoints: the home feed, publishing and removing items, following, hiding and the cart."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, TypeAlias

from attrs import frozen
from litestar import Request, Router
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter, QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from townsquare.core.bounded import BoundedCache
from townsquare.core.errors import InvalidInput
from townsquare.core.feed import DEFAULT_LIMIT, MAX_LIMIT, CartEntry, FeedItem, FeedMode, ItemKind, make_draft
from townsquare.hosts.http.deps import ActorDep, ServicesDep
from townsquare.hosts.http.openapi import one_of, values_of
from townsquare.hosts.http.routes.declare import API, delete, get, on_loop, post, put

TAGS = ["feed"]


@frozen
class ItemOut:
    """A feed item as clients see it.

    Attributes:
        item_id: the item's id (chosen by whoever published it).
        creator_id: who published it.
        kind: what it is; products are the shop items (at most 20% of a feed page).
        title: its title.
        body: its text (may be empty).
        price_cents: a product's price in minor units; null for other kinds.
        currency: a product's ISO 4217 currency; null for other kinds.
        published_at: when it was published (UTC).
    """

    item_id: str
    creator_id: str
    kind: Annotated[str, one_of(ItemKind)]
    title: str
    body: str
    price_cents: int | None
    currency: str | None
    published_at: datetime

    @classmethod
    def from_item(cls, item: FeedItem) -> ItemOut:
        # Positional, in the order of the fields above: a page converts 50 items, and keyword
        # arguments cost attrs' __init__ about half again as much.
        return cls(
            item.item_id,
            item.creator_id,
            item.kind.value,
            item.title,
            item.body,
            item.price_cents,
            item.currency,
            item.published_at,
        )


class ItemViews:
    """The bodies of the items pages showed, built once per item.

    A store hands out the same item object for as long as it remembers it (items never change
    once published), so a body built from that very object is still its body; any other
    object, equal or not, gets a new one.
    """

    def __init__(self, size: int = 20_000) -> None:
        self._views: BoundedCache[str, tuple[FeedItem, ItemOut]] = BoundedCache(size)

    def of(self, item: FeedItem) -> ItemOut:
        seen = self._views.get(item.item_id)
        if seen is not None and seen[0] is item:
            return seen[1]
        view = ItemOut.from_item(item)
        self._views.put(item.item_id, (item, view))
        return view


@frozen
class HomePage:
    """A page of the home feed; pass ``next_cursor`` back for the next one (``null``: the end).

    Attributes:
        items: the page's items, unique, best first.
        next_cursor: pass as ``cursor`` for the next page; null on the last page.
    """

    items: list[ItemOut]
    next_cursor: str | None


@frozen
class NewItem:
    """An item to publish. ``item_id`` is the client's: a retry with the same id and content is safe.

    ``creator_id`` and ``published_at`` are for admins importing content (publishing on a
    creator's behalf, at a past time).

    Attributes:
        item_id: the item's id: 1-100 letters, digits, ``-``, ``_``, ``.`` or ``:``.
        kind: what it is; a product needs a price.
        title: 1-200 characters, not blank.
        body: the text, up to 5,000 characters.
        price_cents: a product's price in minor units (a JSON integer); only for products.
        currency: a product's ISO 4217 currency; only for products.
        creator_id: publish on this creator's behalf (admins only); default: the caller.
        published_at: backdate the item (admins only, importing); default: now.
    """

    item_id: str
    kind: Annotated[str, one_of(ItemKind)]
    title: str
    body: str = ""
    price_cents: int | None = None
    currency: str | None = None
    creator_id: str | None = None
    published_at: datetime | None = None


@frozen
class CartLine:
    """A product in the cart.

    Attributes:
        item: the product.
        added_at: when it was put in the cart (UTC).
    """

    item: ItemOut
    added_at: datetime

    @classmethod
    def from_entry(cls, entry: CartEntry) -> CartLine:
        return cls(item=ItemOut.from_item(entry.item), added_at=entry.added_at)


@frozen
class Cart:
    """The caller's cart; its products never appear in their feeds.

    Attributes:
        items: the products, most recently added first.
    """

    items: list[CartLine]


async def integer_price_only(request: Request[Any, Any, Any]) -> None:
    """Refuse a ``price_cents`` that is not a JSON integer before the lenient body conversion."""
    body = await request.json()
    if isinstance(body, dict):
        price = body.get("price_cents")
        if price is not None and (isinstance(price, bool) or not isinstance(price, int)):
            raise InvalidInput("price_cents must be an integer number of minor units", field="price_cents")


ItemId = Annotated[str, PathParameter(description="the item's id")]
CreatorId = Annotated[str, PathParameter(description="the creator's user id")]


@get("/home", summary="The viewer's home feed, one page")
def home(
    services: ServicesDep,
    actor: ActorDep,
    views: ItemViewsDep,
    *,
    mode: Annotated[
        str,
        QueryParameter(description="'for_you' (everyone, ranked) or 'following'", schema_extra=values_of(FeedMode)),
    ] = FeedMode.FOR_YOU,
    cursor: Annotated[str | None, QueryParameter(description="the previous page's next_cursor", required=False)] = None,
    limit: Annotated[int, QueryParameter(description=f"page size, 1..{MAX_LIMIT}")] = DEFAULT_LIMIT,
) -> HomePage:
    """One page of the fused home feed: unique items of every kind, best first, with a total tie-breaker, so
    paging by `next_cursor` gives no duplicate and no gap even while new items arrive (they appear on
    refresh). Products are at most 20% of a page and never backfill past it; items in the caller's cart and
    items they hid are filtered out before the page is cut. `mode`: `for_you` (everyone) or `following`;
    `limit` 1-100.
    """
    page = services.feed.home(actor, mode, cursor, limit)
    return HomePage(items=[views.of(item) for item in page.items], next_cursor=page.next_cursor)


@get("/items/{item_id:str}", summary="A live feed item", problems=[404])
def item(services: ServicesDep, item_id: ItemId) -> ItemOut:
    """One live item by id; an unknown or removed item is a 404."""
    return ItemOut.from_item(services.feed.item(item_id))


@post(
    "/items",
    summary="Publish an item as its creator (idempotent by item_id)",
    status_code=HTTP_201_CREATED,
    before_request=integer_price_only,
    problems=[403, 409],
)
def publish(services: ServicesDep, actor: ActorDep, data: JSONBody[NewItem]) -> ItemOut:
    """Publish an item as its creator. Idempotent by `item_id`: the same id with the same content answers the
    stored item; with other content it is a 409. Admins may publish on a creator's behalf and backdate
    (imports); others doing so get a 403.
    """
    draft = make_draft(
        data.item_id, data.kind, data.title, body=data.body, price_cents=data.price_cents, currency=data.currency
    )
    published = services.feed.publish(actor, draft, creator_id=data.creator_id, published_at=data.published_at)
    return ItemOut.from_item(published)


@delete(
    "/items/{item_id:str}",
    summary="Remove an item (its creator, or an admin)",
    status_code=HTTP_204_NO_CONTENT,
    problems=[403, 404],
)
def remove(services: ServicesDep, actor: ActorDep, item_id: ItemId) -> None:
    """Remove an item from every feed (its creator, or an admin; anyone else gets a 403); it stays removed."""
    services.feed.remove(actor, item_id)


@put("/following/{creator_id:str}", summary="Follow a creator", status_code=HTTP_204_NO_CONTENT)
def follow(services: ServicesDep, actor: ActorDep, creator_id: CreatorId) -> None:
    """Follow a creator (idempotent); their items make up the `following` feed. Following yourself is a 400."""
    services.feed.follow(actor, creator_id)


@delete("/following/{creator_id:str}", summary="Stop following a creator", status_code=HTTP_204_NO_CONTENT)
def unfollow(services: ServicesDep, actor: ActorDep, creator_id: CreatorId) -> None:
    """Stop following a creator (idempotent)."""
    services.feed.unfollow(actor, creator_id)


@put("/hidden/{item_id:str}", summary="Hide an item from your feeds", status_code=HTTP_204_NO_CONTENT, problems=[404])
def hide(services: ServicesDep, actor: ActorDep, item_id: ItemId) -> None:
    """Hide a live item from the caller's feeds (idempotent); an unknown item is a 404."""
    services.feed.hide(actor, item_id)


@delete("/hidden/{item_id:str}", summary="Show a hidden item again", status_code=HTTP_204_NO_CONTENT)
def unhide(services: ServicesDep, actor: ActorDep, item_id: ItemId) -> None:
    """Show a hidden item again (idempotent)."""
    services.feed.unhide(actor, item_id)


@get("/cart", summary="The products in your cart")
def cart(services: ServicesDep, actor: ActorDep) -> Cart:
    """The products in the caller's cart, most recently added first; products in the cart never appear in the
    caller's feeds.
    """
    return Cart(items=[CartLine.from_entry(entry) for entry in services.feed.cart(actor)])


@put(
    "/cart/{item_id:str}",
    summary="Put a product in your cart (it leaves your feeds)",
    status_code=HTTP_204_NO_CONTENT,
    problems=[404],
)
def add_to_cart(services: ServicesDep, actor: ActorDep, item_id: ItemId) -> None:
    """Put a live product in the caller's cart (idempotent); it leaves their feeds. Another kind of item is a
    400, an unknown item a 404.
    """
    services.feed.add_to_cart(actor, item_id)


@delete("/cart/{item_id:str}", summary="Take a product out of your cart", status_code=HTTP_204_NO_CONTENT)
def remove_from_cart(services: ServicesDep, actor: ActorDep, item_id: ItemId) -> None:
    """Take an item out of the caller's cart (idempotent: an item not in it changes nothing)."""
    services.feed.remove_from_cart(actor, item_id)


HANDLERS: list[Any] = [
    home,
    item,
    publish,
    remove,
    follow,
    unfollow,
    hide,
    unhide,
    cart,
    add_to_cart,
    remove_from_cart,
]


ItemViewsDep: TypeAlias = NamedDependency[ItemViews]


def router() -> Router:
    """The feed's routes under /api/v1/feed, with this app's item bodies remembered across pages."""
    views = ItemViews()

    def provide_views(actor: ActorDep) -> ItemViews:
        # Depending on ``actor`` keeps Litestar resolving one dependency after another (see
        # deps.provide_actor): independent ones cost a task group per request.
        del actor
        return views

    return Router(
        path=f"{API}/feed",
        route_handlers=HANDLERS,
        tags=TAGS,
        dependencies={"views": on_loop(provide_views)},
    )
