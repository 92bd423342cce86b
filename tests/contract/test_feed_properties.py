"""Properties of the feed, for random items, follows, carts, hidden items and page sizes.

Paging to the end shows every eligible item exactly once, every page keeps the shop cap and
is full whenever enough items remain, items published during a pagination change none of
its later pages, and the memory and Postgres adapters return the same pages.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text
from tests.conftest import EPOCH, memory_settings, postgres_settings

from townsquare.adapters.postgres.feed import FEED_TABLES
from townsquare.bootstrap import Services, bootstrap
from townsquare.core.clock import ManualClock
from townsquare.core.feed import Draft, FeedItem, FeedPage, ItemKind, product_quota
from townsquare.core.identity import Actor

VIEWER = Actor("viewer")
ADMIN = Actor("root", roles=["admin"])
CREATORS = 4
MAX_ITEMS = 30

item_specs = st.tuples(st.sampled_from(list(ItemKind)), st.integers(0, CREATORS - 1), st.integers(0, 20))


def scenarios(*, min_items: int = 0, max_limit: int = 12, min_arrivals: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "audience": st.lists(st.tuples(st.integers(0, 5), st.integers(0, CREATORS - 1)), max_size=8),
            "items": st.lists(item_specs, min_size=min_items, max_size=MAX_ITEMS),
            "follows": st.sets(st.integers(0, CREATORS - 1)),
            "hidden": st.sets(st.integers(0, MAX_ITEMS - 1)),
            "cart": st.sets(st.integers(0, MAX_ITEMS - 1)),
            "removed": st.sets(st.integers(0, MAX_ITEMS - 1)),
            "limit": st.integers(1, max_limit),
            "mode": st.sampled_from(["for_you", "following"]),
            "arrivals": st.lists(item_specs, min_size=min_arrivals, max_size=6),
        }
    )


def _publish(services: Services, item_id: str, spec: tuple[ItemKind, int, int]) -> FeedItem:
    kind, creator, minutes_ago = spec
    price = {"price_cents": 500, "currency": "USD"} if kind is ItemKind.PRODUCT else {}
    return services.feed.publish(
        ADMIN,
        Draft(item_id=item_id, kind=kind, title=item_id, **price),  # type: ignore[arg-type]
        creator_id=f"c{creator}",
        published_at=EPOCH - timedelta(minutes=minutes_ago),
    )


def _prepare(services: Services, scenario: dict[str, Any]) -> list[FeedItem]:
    """Build the scenario's state; return the items that are eligible for the viewer, in feed order."""
    for follower, creator in scenario["audience"]:
        services.feed.follow(Actor(f"f{follower}"), f"c{creator}")
    items = [_publish(services, f"i{n:02d}", spec) for n, spec in enumerate(scenario["items"])]
    for creator in scenario["follows"]:
        services.feed.follow(VIEWER, f"c{creator}")
    hidden = {n for n in scenario["hidden"] if n < len(items)}
    cart = {n for n in scenario["cart"] if n < len(items) and items[n].kind is ItemKind.PRODUCT}
    removed = {n for n in scenario["removed"] if n < len(items)}
    for n in hidden:
        services.feed.hide(VIEWER, items[n].item_id)
    for n in cart:
        services.feed.add_to_cart(VIEWER, items[n].item_id)
    for n in removed:
        services.feed.remove(ADMIN, items[n].item_id)
    followed = {f"c{creator}" for creator in scenario["follows"]}
    eligible = [
        item
        for n, item in enumerate(items)
        if n not in hidden | cart | removed and (scenario["mode"] == "for_you" or item.creator_id in followed)
    ]
    return sorted(eligible, key=lambda item: (item.rank_key, item.item_id), reverse=True)


def _paginate(services: Services, scenario: dict[str, Any], *, arrivals: bool) -> list[FeedPage]:
    """Page to the end; with ``arrivals``, publish the scenario's new items between pages."""
    pending = list(scenario["arrivals"]) if arrivals else []
    pages = [services.feed.home(VIEWER, scenario["mode"], None, scenario["limit"])]
    while pages[-1].next_cursor is not None:
        if pending:
            _publish(services, f"new-{len(pending)}-{len(pages)}", pending.pop())
        pages.append(services.feed.home(VIEWER, scenario["mode"], pages[-1].next_cursor, scenario["limit"]))
        assert len(pages) <= 2 * MAX_ITEMS + 2, "pagination does not end"
    return pages


def _ids(pages: list[FeedPage]) -> list[list[str]]:
    return [[item.item_id for item in page.items] for page in pages]


def check_pagination(pages: list[FeedPage], eligible: list[FeedItem], limit: int) -> None:
    """The feed's promises about one pagination, against an independent model of the eligible items."""
    quota = product_quota(limit)
    others = [item for item in eligible if not item.kind.is_shop]
    products = [item for item in eligible if item.kind.is_shop]
    shown = [item for page in pages for item in page.items]
    # Every eligible item exactly once (shop items need a page with room for one).
    assert sorted(item.item_id for item in shown) == sorted(item.item_id for item in (eligible if quota else others))
    # Each stream keeps feed order across pages; each page is in feed order.
    assert [item for item in shown if not item.kind.is_shop] == others
    assert [item for item in shown if item.kind.is_shop] == (products if quota else [])
    left_others, left_products = len(others), len(products) if quota else 0
    for number, page in enumerate(pages):
        positions = [(item.rank_key, item.item_id) for item in page.items]
        assert positions == sorted(positions, reverse=True)
        shop = sum(item.kind.is_shop for item in page.items)
        # The cap, and a full page whenever enough eligible items remain.
        assert shop <= quota
        assert len(page.items) == min(limit, left_others + min(quota, left_products))
        left_others -= len(page.items) - shop
        left_products -= shop
        assert (page.next_cursor is None) == (number == len(pages) - 1)
    assert left_others == left_products == 0


def _memory_services() -> Services:
    return bootstrap(memory_settings(), clock=ManualClock(EPOCH))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios())
def test_paging_to_the_end_keeps_every_promise(scenario: dict[str, Any]) -> None:
    # Given a random feed on the memory adapter
    services = _memory_services()
    eligible = _prepare(services, scenario)
    # When the viewer pages to the end, once quietly and once while new items arrive
    quiet = _paginate(services, scenario, arrivals=False)
    busy = _paginate(services, scenario, arrivals=True)
    # Then every promise holds, and the arrivals changed none of the pages
    check_pagination(quiet, eligible, scenario["limit"])
    assert _ids(busy) == _ids(quiet)


def _emptied(pg_url: str) -> Services:
    """Services on the emptied feed tables, as a new process: the store remembers published
    items, whose ids the truncation lets the next example reuse for other content."""
    with create_engine(pg_url).begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(FEED_TABLES)} RESTART IDENTITY"))
    return bootstrap(postgres_settings(pg_url), clock=ManualClock(EPOCH))


@pytest.mark.postgres
def test_memory_and_postgres_return_the_same_pages(pg_url: str) -> None:
    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    # Small pages and some arrivals, so most examples page several times while items arrive.
    @given(scenario=scenarios(min_items=6, max_limit=8, min_arrivals=2))
    def same_pages(scenario: dict[str, Any]) -> None:
        # Given the same random feed on both adapters
        postgres = _emptied(pg_url)
        try:
            memory = _memory_services()
            eligible = _prepare(memory, scenario)
            assert [item.item_id for item in _prepare(postgres, scenario)] == [item.item_id for item in eligible]
            # When the viewer pages to the end on each, with arrivals on Postgres
            on_memory = _paginate(memory, scenario, arrivals=False)
            on_postgres = _paginate(postgres, scenario, arrivals=True)
            # Then the pages are the same, and right
            assert _ids(on_postgres) == _ids(on_memory)
            check_pagination(on_postgres, eligible, scenario["limit"])
        finally:
            postgres.close()

    same_pages()
