"""Contract tests of the feed: each runs once on the memory adapter and once on Postgres."""

from __future__ import annotations

from datetime import timedelta

import pytest

from townsquare.bootstrap import Services
from townsquare.core.clock import ManualClock
from townsquare.core.errors import Conflict, Forbidden, InvalidCursor, InvalidInput, NotFound
from townsquare.core.feed import Draft, FeedItem, FeedPage, ItemKind
from townsquare.core.identity import Actor

ALICE = Actor("alice")
BOB = Actor("bob")
CAROL = Actor("carol")
ADMIN = Actor("root", roles=["admin"])


def draft(item_id: str, kind: ItemKind = ItemKind.POST, title: str = "hello") -> Draft:
    if kind is ItemKind.PRODUCT:
        return Draft(item_id=item_id, kind=kind, title=title, price_cents=1299, currency="EUR")
    return Draft(item_id=item_id, kind=kind, title=title)


def publish(
    services: Services, creator: str, item_id: str, kind: ItemKind = ItemKind.POST, minutes_ago: int = 0
) -> FeedItem:
    """Publish as an admin importing ``creator``'s item ``minutes_ago`` minutes in the past."""
    when = services.clock.now() - timedelta(minutes=minutes_ago)
    return services.feed.publish(ADMIN, draft(item_id, kind), creator_id=creator, published_at=when)


def ids(page: FeedPage) -> list[str]:
    return [item.item_id for item in page.items]


def all_pages(services: Services, viewer: Actor, mode: str = "for_you", limit: int = 50) -> list[FeedPage]:
    pages = [services.feed.home(viewer, mode, None, limit)]
    while pages[-1].next_cursor is not None:
        pages.append(services.feed.home(viewer, mode, pages[-1].next_cursor, limit))
        assert len(pages) < 1000
    return pages


def test_first_page_is_newest_first_and_full(services: Services) -> None:
    # Given 60 posts, one a minute
    for n in range(60):
        publish(services, "bob", f"post-{n:02d}", minutes_ago=n)
    # When alice opens her feed
    page = services.feed.home(ALICE)
    # Then she sees the 50 newest, newest first, and a cursor for more
    assert ids(page) == [f"post-{n:02d}" for n in range(50)]
    assert page.next_cursor is not None
    rest = services.feed.home(ALICE, cursor=page.next_cursor)
    assert ids(rest) == [f"post-{n:02d}" for n in range(50, 60)]
    assert rest.next_cursor is None


def test_shop_items_fill_at_most_a_fifth_of_a_page_and_are_not_lost(services: Services) -> None:
    # Given 30 products that are newer than 20 posts
    for n in range(30):
        publish(services, "shop", f"product-{n:02d}", ItemKind.PRODUCT, minutes_ago=n)
    for n in range(20):
        publish(services, "bob", f"post-{n:02d}", minutes_ago=100 + n)
    # When alice pages through with pages of 10
    pages = all_pages(services, ALICE, limit=10)
    # Then each page holds at most 2 products, pages are full while posts last,
    # and every item shows up exactly once
    assert [sum(item.kind is ItemKind.PRODUCT for item in page.items) for page in pages] == [2] * 15
    assert [len(page.items) for page in pages] == [10, 10, 6] + [2] * 12
    seen = [item_id for page in pages for item_id in ids(page)]
    assert sorted(seen) == sorted([f"product-{n:02d}" for n in range(30)] + [f"post-{n:02d}" for n in range(20)])
    # and products passed over for the cap open the next page, in feed order
    assert ids(pages[1])[:2] == ["product-02", "product-03"]


def test_pages_smaller_than_five_hold_no_products(services: Services) -> None:
    # Given a product and a post
    publish(services, "shop", "product-1", ItemKind.PRODUCT)
    publish(services, "bob", "post-1", minutes_ago=1)
    # When alice reads pages of 4, then of 5
    small = services.feed.home(ALICE, limit=4)
    five = services.feed.home(ALICE, limit=5)
    # Then a product would exceed 20% of 4 places, but fits in 5
    assert ids(small) == ["post-1"]
    assert small.next_cursor is None
    assert ids(five) == ["product-1", "post-1"]


def test_products_in_the_cart_are_suppressed_until_removed(services: Services) -> None:
    # Given two products, one of them in alice's cart
    publish(services, "shop", "mug", ItemKind.PRODUCT)
    publish(services, "shop", "hat", ItemKind.PRODUCT, minutes_ago=1)
    services.feed.add_to_cart(ALICE, "mug")
    # Then alice's feed does not offer her the mug again, bob's does
    assert ids(services.feed.home(ALICE)) == ["hat"]
    assert ids(services.feed.home(BOB)) == ["mug", "hat"]
    assert [entry.item.item_id for entry in services.feed.cart(ALICE)] == ["mug"]
    # When she takes it out of her cart, it comes back
    services.feed.remove_from_cart(ALICE, "mug")
    assert ids(services.feed.home(ALICE)) == ["mug", "hat"]
    assert services.feed.cart(ALICE) == []


def test_cart_takes_only_live_products(services: Services) -> None:
    publish(services, "bob", "post-1")
    with pytest.raises(InvalidInput, match="only products"):
        services.feed.add_to_cart(ALICE, "post-1")
    with pytest.raises(NotFound):
        services.feed.add_to_cart(ALICE, "no-such-item")


def test_hidden_items_are_filtered_before_the_limit(services: Services) -> None:
    # Given 8 posts, the 3 newest hidden by alice
    for n in range(8):
        publish(services, "bob", f"post-{n}", minutes_ago=n)
    for n in range(3):
        services.feed.hide(ALICE, f"post-{n}")
    # When she asks for 5
    page = services.feed.home(ALICE, limit=5)
    # Then the page is still full
    assert ids(page) == ["post-3", "post-4", "post-5", "post-6", "post-7"]
    assert page.next_cursor is None
    # and unhiding brings one back
    services.feed.unhide(ALICE, "post-1")
    assert ids(services.feed.home(ALICE, limit=2)) == ["post-1", "post-3"]


def test_hiding_an_unknown_item_is_not_found(services: Services) -> None:
    with pytest.raises(NotFound, match="no-such-item"):
        services.feed.hide(ALICE, "no-such-item")


def test_removed_items_disappear_and_only_their_creator_or_an_admin_removes(services: Services) -> None:
    services.feed.publish(BOB, draft("bob-1"))
    services.feed.publish(BOB, draft("bob-2"))
    # When carol tries to remove bob's item, she may not
    with pytest.raises(Forbidden):
        services.feed.remove(CAROL, "bob-1")
    # When bob removes one and an admin the other, both are gone
    services.feed.remove(BOB, "bob-1")
    services.feed.remove(ADMIN, "bob-2")
    services.feed.remove(BOB, "bob-1")  # again: nothing more to do
    assert ids(services.feed.home(ALICE)) == []
    with pytest.raises(NotFound):
        services.feed.item("bob-1")
    with pytest.raises(NotFound):
        services.feed.remove(BOB, "never-published")


def test_publishing_is_idempotent_by_item_id(services: Services) -> None:
    first = services.feed.publish(BOB, draft("bob-1"))
    # A retry returns the same item
    assert services.feed.publish(BOB, draft("bob-1")) == first
    # Other content, another creator, or a removed item under the same id conflict
    with pytest.raises(Conflict, match="other content"):
        services.feed.publish(BOB, draft("bob-1", title="changed"))
    with pytest.raises(Conflict, match="another creator"):
        services.feed.publish(CAROL, draft("bob-1"))
    services.feed.remove(BOB, "bob-1")
    with pytest.raises(Conflict, match="removed"):
        services.feed.publish(BOB, draft("bob-1"))
    assert ids(services.feed.home(ALICE)) == []


def test_only_admins_import_for_others_or_in_the_past(services: Services) -> None:
    past = services.clock.now() - timedelta(days=1)
    with pytest.raises(Forbidden):
        services.feed.publish(BOB, draft("x"), creator_id="carol")
    with pytest.raises(Forbidden):
        services.feed.publish(BOB, draft("x"), published_at=past)
    with pytest.raises(InvalidInput, match="future"):
        services.feed.publish(ADMIN, draft("x"), creator_id="bob", published_at=past + timedelta(days=2))
    item = services.feed.publish(ADMIN, draft("x"), creator_id="bob", published_at=past)
    assert (item.creator_id, item.published_at) == ("bob", past)


def test_new_items_do_not_shift_a_pagination_and_appear_on_refresh(services: Services, clock: ManualClock) -> None:
    # Given 6 posts and alice's first page of 3
    for n in range(6):
        publish(services, "bob", f"post-{n}", minutes_ago=10 + n)
    first = services.feed.home(ALICE, limit=3)
    # When new items arrive, one newer than everything and one in the middle of the order
    clock.advance(timedelta(minutes=1))
    publish(services, "bob", "brand-new")
    publish(services, "bob", "late-import", minutes_ago=13)
    # Then the next page continues where the first stopped
    second = services.feed.home(ALICE, cursor=first.next_cursor, limit=3)
    assert ids(first) + ids(second) == [f"post-{n}" for n in range(6)]
    assert second.next_cursor is None
    # and a refresh shows them
    assert ids(services.feed.home(ALICE, limit=3)) == ["brand-new", "post-0", "post-1"]


def test_equal_rank_keys_are_ordered_by_id_without_gaps(services: Services) -> None:
    # Given 7 items published at the same instant by the same creator
    for name in ["b", "a", "c", "B", "a-2", "0", "z"]:
        publish(services, "bob", name)
    # When alice pages 2 at a time
    pages = all_pages(services, ALICE, limit=2)
    # Then the id (byte order, descending) breaks the tie, with no duplicate and no gap
    assert [item_id for page in pages for item_id in ids(page)] == ["z", "c", "b", "a-2", "a", "B", "0"]


def test_popular_creators_get_a_bounded_boost_in_for_you(services: Services) -> None:
    # Given carol has 3 followers (two doublings: a 20 minute boost) and bob none
    for follower in ["f1", "f2", "f3"]:
        services.feed.follow(Actor(follower), "carol")
    publish(services, "carol", "carol-old", minutes_ago=22)
    publish(services, "bob", "bob-new", minutes_ago=5)
    publish(services, "bob", "bob-newest", minutes_ago=0)
    # Then carol's older item ranks between bob's
    assert ids(services.feed.home(ALICE)) == ["bob-newest", "carol-old", "bob-new"]


def test_following_shows_only_followed_creators(services: Services) -> None:
    publish(services, "bob", "bob-1", minutes_ago=1)
    publish(services, "carol", "carol-1", minutes_ago=2)
    publish(services, "dave", "dave-1", ItemKind.PRODUCT, minutes_ago=3)
    # When alice follows bob and dave
    services.feed.follow(ALICE, "bob")
    services.feed.follow(ALICE, "dave")
    services.feed.follow(ALICE, "dave")
    # Then 'following' shows theirs, 'for_you' everyone's
    assert ids(services.feed.home(ALICE, "following")) == ["bob-1", "dave-1"]
    assert ids(services.feed.home(ALICE, "for_you")) == ["bob-1", "carol-1", "dave-1"]
    services.feed.unfollow(ALICE, "dave")
    assert ids(services.feed.home(ALICE, "following")) == ["bob-1"]
    with pytest.raises(InvalidInput, match="yourself"):
        services.feed.follow(ALICE, "alice")


@pytest.mark.parametrize("limit", [0, 101, -1])
def test_limit_out_of_range_is_rejected(services: Services, limit: int) -> None:
    with pytest.raises(InvalidInput, match="limit must be an integer from 1 to 100") as caught:
        services.feed.home(ALICE, limit=limit)
    assert caught.value.field == "limit"


def test_unknown_mode_is_rejected(services: Services) -> None:
    with pytest.raises(InvalidInput, match="unknown feed mode 'latest'") as caught:
        services.feed.home(ALICE, "latest")
    assert caught.value.field == "mode"


def test_bad_cursors_are_rejected_with_a_reason(services: Services, clock: ManualClock) -> None:
    # Given a cursor of alice's for_you feed
    for n in range(3):
        publish(services, "bob", f"post-{n}", minutes_ago=n)
    cursor = services.feed.home(ALICE, limit=1).next_cursor
    assert cursor is not None
    tampered = cursor[:-3] + ("AAA" if cursor[-3:] != "AAA" else "BBB")
    cases = [
        (ALICE, "following", cursor, "'for_you' feed, not 'following'"),
        (BOB, "for_you", cursor, "another list"),
        (ALICE, "for_you", tampered, "tampered"),
        (ALICE, "for_you", "x", "base64"),
        (ALICE, "for_you", "", "empty"),
    ]
    for viewer, mode, bad, reason in cases:
        with pytest.raises(InvalidCursor, match=reason):
            services.feed.home(viewer, mode, bad, 1)
    # and a day later it has expired
    clock.advance(timedelta(hours=25))
    with pytest.raises(InvalidCursor, match="expired"):
        services.feed.home(ALICE, "for_you", cursor, 1)


def test_a_failed_transaction_leaves_no_feed_change(services: Services) -> None:
    # Given alice hides an item and publishes, inside a transaction that then fails
    publish(services, "bob", "post-1")

    class Boom(Exception):
        pass

    with pytest.raises(Boom), services.uow.transaction(actor="alice"):
        services.feed.hide(ALICE, "post-1")
        services.feed.publish(ALICE, draft("alice-1"))
        services.feed.follow(ALICE, "bob")
        raise Boom
    # Then nothing of it happened
    assert ids(services.feed.home(ALICE)) == ["post-1"]
    assert ids(services.feed.home(ALICE, "following")) == []


def test_demo_feed_is_deterministic_and_seeding_twice_adds_nothing(services: Services) -> None:
    from townsquare.demo import DEMO_USERS
    from townsquare.demo.feed import seed

    # Given the demo feed, seeded twice
    seed(services)
    alice = Actor(DEMO_USERS["alice"])
    first = [ids(page) for page in all_pages(services, alice)]
    seed(services)
    # Then alice sees the same 195 items (200, less 3 in her cart and 2 she hid), 10 products a page at most
    pages = all_pages(services, alice)
    assert [ids(page) for page in pages] == first
    assert sum(len(page.items) for page in pages) == 195
    assert all(sum(item.kind is ItemKind.PRODUCT for item in page.items) <= 10 for page in pages)
    assert len(services.feed.cart(alice)) == 3
    assert {item.creator_id for item in services.feed.home(alice, "following").items} <= {
        DEMO_USERS["bob"],
        DEMO_USERS["carol"],
        "harbour-events",
    }
