"""Postgres-only feed tests: every page is a bounded index scan, and racing publishes stay idempotent."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import attrs
import psycopg
import pytest
from bench.common import nested_plans
from bench.feed_data import FeedData, generate_feed_data
from sqlalchemy import create_engine

from tests.conftest import postgres_settings
from townsquare.adapters.postgres.database import APP_ROLE
from townsquare.adapters.postgres.feed import PAGE_CALL, page_call_parameters
from townsquare.bootstrap import Services, bootstrap
from townsquare.core.clock import ManualClock
from townsquare.core.feed import CandidateQuery, Draft, FeedItem, FeedMode, ItemKind, Position
from townsquare.core.identity import Actor

pytestmark = pytest.mark.postgres

NEWEST = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
DATA = FeedData(items=40_000, creators=1_000, follows=50, cart=50, hidden=200, other_follows=5_000)
LIMIT = 50


@pytest.fixture
def loaded(pg_url: str) -> Iterator[Services]:
    """Services over a database with DATA generated in it."""
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        generate_feed_data(conn, DATA, NEWEST)
    engine.dispose()
    services = bootstrap(postgres_settings(pg_url), clock=ManualClock(NEWEST))
    try:
        yield services
    finally:
        services.close()


def _plans(dsn: str, query: CandidateQuery) -> list[dict[str, Any]]:
    """The plans of the statements ``app.feed_page`` runs for ``query``, as the store calls it."""
    params = {"role": APP_ROLE, "actor": query.viewer_id, **page_call_parameters(query)}
    with psycopg.connect(dsn, autocommit=True) as conn:
        plans = nested_plans(conn, PAGE_CALL, params)
    return [dict(json.loads(plan)["Plan"]) for plan in plans]


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)


def _query(
    viewer: str, mode: FeedMode, cursor: tuple[Position, Position] | None, snapshot: int | None
) -> CandidateQuery:
    return CandidateQuery(
        viewer_id=viewer,
        following_only=mode is FeedMode.FOLLOWING,
        snapshot=snapshot,
        others_after=cursor[0] if cursor else None,
        others_limit=LIMIT + 1,
        products_after=cursor[1] if cursor else None,
        products_limit=LIMIT // 5 + 1,
    )


@pytest.mark.parametrize("mode", list(FeedMode))
def test_first_and_deep_pages_are_bounded_index_scans(loaded: Services, pg_dsn: str, mode: FeedMode) -> None:
    # Given a viewer 30 pages deep into their feed
    viewer = Actor(DATA.viewer)
    page = loaded.feed.home(viewer, mode, None, LIMIT)
    for _ in range(29):
        page = loaded.feed.home(viewer, mode, page.next_cursor, LIMIT)
    assert len(page.items) == LIMIT
    others = min(item.position for item in page.items if not item.kind.is_shop)
    products = min(item.position for item in page.items if item.kind.is_shop)
    for query in (_query(viewer.user_id, mode, None, None), _query(viewer.user_id, mode, (others, products), 10**9)):
        # When Postgres runs a page's statements
        nodes = [node for plan in _plans(pg_dsn, query) for node in _nodes(plan)]
        # Then it walks the two per-stream indexes backwards, sorts nothing and scans no table
        scans = [node for node in nodes if node.get("Relation Name") == "feed_items"]
        indexes = {node.get("Index Name") for node in scans}
        assert {"feed_items_others_by_rank", "feed_items_products_by_rank"} <= indexes, indexes
        assert all(node["Node Type"] in {"Index Scan", "Index Only Scan"} for node in scans), scans
        assert all(node["Node Type"] != "Sort" for node in nodes)
        # and reads a number of index entries bounded by the page, the hidden items and the cart
        # (in 'following', divided by the share of items from followed creators: 5% here)
        read = sum(
            node["Actual Rows"] + node.get("Rows Removed by Filter", 0)
            for node in scans
            if node.get("Index Name", "").endswith("_by_rank")
        )
        bound = LIMIT + 1 + LIMIT // 5 + 1 + DATA.hidden + DATA.cart
        if mode is FeedMode.FOLLOWING:
            bound *= DATA.creators // DATA.follows
        assert read <= bound, (read, bound)
        assert read < DATA.items // 4


def test_racing_publishes_of_one_item_store_it_once(pg_url: str) -> None:
    # Given eight clients retrying the same publish at the same moment
    services = bootstrap(attrs.evolve(postgres_settings(pg_url), database_pool_size=8), clock=ManualClock(NEWEST))
    draft = Draft(item_id="race-1", kind=ItemKind.PRODUCT, title="mug", price_cents=900, currency="EUR")
    start = threading.Barrier(8)
    results: list[FeedItem | BaseException] = []

    def publish() -> None:
        start.wait()
        try:
            results.append(services.feed.publish(Actor("bob"), draft))
        except BaseException as error:
            results.append(error)

    threads = [threading.Thread(target=publish) for _ in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # Then every one of them gets the same stored item, and the feed holds it once
        assert len({repr(result) for result in results}) == 1, results
        assert isinstance(results[0], FeedItem)
        assert [item.item_id for item in services.feed.home(Actor("alice")).items] == ["race-1"]
    finally:
        services.close()
