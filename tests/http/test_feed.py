"""The feed over HTTP: every endpoint, on both adapters, and the problems bad input gets."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from tests.http.conftest import TokenFactory
from tests.http.test_host import assert_problem

Client = TestClient[Any]


def post_item(client: Client, headers: dict[str, str], item_id: str, kind: str = "post", **extra: Any) -> Any:
    body = {"item_id": item_id, "kind": kind, "title": f"title of {item_id}", **extra}
    if kind == "product":
        body.setdefault("price_cents", 2500)
        body.setdefault("currency", "EUR")
    return client.post("/api/v1/feed/items", json=body, headers=headers)


def page_ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["item_id"] for item in response.json()["items"]]


def test_publish_then_page_through_the_home_feed(client: Client, auth: TokenFactory) -> None:
    # Given bob publishes three posts and a product (admin-imported a minute apart)
    admin = auth("root", admin=True)
    for n, kind in enumerate(["post", "post", "product", "post"]):
        published_at = f"2026-01-15T11:5{9 - n}:00Z"
        created = post_item(client, admin, f"bob-{n}", kind, creator_id="bob", published_at=published_at)
        assert created.status_code == 201, created.text
    assert created.json()["creator_id"] == "bob"
    # When alice reads her feed two items at a time (a page of 2 has no room for a product)
    alice = auth("alice")
    first = client.get("/api/v1/feed/home", params={"limit": 2}, headers=alice)
    assert page_ids(first) == ["bob-0", "bob-1"]
    second = client.get("/api/v1/feed/home", params={"limit": 2, "cursor": first.json()["next_cursor"]}, headers=alice)
    assert page_ids(second) == ["bob-3"]
    assert second.json()["next_cursor"] is None
    # Then the product waits for a page with room for it: a page of 5
    assert page_ids(client.get("/api/v1/feed/home", params={"limit": 5}, headers=alice)) == [
        "bob-0",
        "bob-1",
        "bob-2",
        "bob-3",
    ]


def test_items_are_published_by_their_creator_and_removed_by_them(client: Client, auth: TokenFactory) -> None:
    bob, carol = auth("bob"), auth("carol")
    created = post_item(client, bob, "bob-1", "event", body="Saturday 10:00")
    assert created.status_code == 201
    assert created.json()["creator_id"] == "bob"
    assert post_item(client, bob, "bob-1", "event", body="Saturday 10:00").json() == created.json()
    assert client.get("/api/v1/feed/items/bob-1", headers=carol).json()["body"] == "Saturday 10:00"
    assert_problem(client.delete("/api/v1/feed/items/bob-1", headers=carol), 403)
    assert client.delete("/api/v1/feed/items/bob-1", headers=bob).status_code == 204
    assert_problem(client.get("/api/v1/feed/items/bob-1", headers=carol), 404)


def test_following_hiding_and_the_cart(client: Client, auth: TokenFactory) -> None:
    bob, alice = auth("bob"), auth("alice")
    post_item(client, bob, "bob-post")
    post_item(client, bob, "bob-mug", "product")
    post_item(client, auth("carol"), "carol-post")
    # Following
    assert client.put("/api/v1/feed/following/bob", headers=alice).status_code == 204
    following = client.get("/api/v1/feed/home", params={"mode": "following"}, headers=alice)
    assert sorted(page_ids(following)) == ["bob-mug", "bob-post"]
    assert client.delete("/api/v1/feed/following/bob", headers=alice).status_code == 204
    assert page_ids(client.get("/api/v1/feed/home", params={"mode": "following"}, headers=alice)) == []
    # Hiding
    assert client.put("/api/v1/feed/hidden/carol-post", headers=alice).status_code == 204
    assert "carol-post" not in page_ids(client.get("/api/v1/feed/home", headers=alice))
    assert client.delete("/api/v1/feed/hidden/carol-post", headers=alice).status_code == 204
    assert "carol-post" in page_ids(client.get("/api/v1/feed/home", headers=alice))
    # The cart
    assert client.put("/api/v1/feed/cart/bob-mug", headers=alice).status_code == 204
    assert "bob-mug" not in page_ids(client.get("/api/v1/feed/home", headers=alice))
    cart = client.get("/api/v1/feed/cart", headers=alice).json()
    assert [line["item"]["item_id"] for line in cart["items"]] == ["bob-mug"]
    assert cart["items"][0]["item"]["price_cents"] == 2500
    assert client.delete("/api/v1/feed/cart/bob-mug", headers=alice).status_code == 204
    assert client.get("/api/v1/feed/cart", headers=alice).json() == {"items": []}


def test_a_cursor_from_another_mode_or_viewer_is_a_400(client: Client, auth: TokenFactory) -> None:
    bob, alice = auth("bob"), auth("alice")
    for n in range(3):
        post_item(client, bob, f"bob-{n}")
    cursor = client.get("/api/v1/feed/home", params={"limit": 1}, headers=alice).json()["next_cursor"]
    other_mode = client.get("/api/v1/feed/home", params={"mode": "following", "cursor": cursor}, headers=alice)
    assert "'for_you' feed, not 'following'" in assert_problem(other_mode, 400)["detail"]
    other_viewer = client.get("/api/v1/feed/home", params={"cursor": cursor}, headers=bob)
    assert "another list" in assert_problem(other_viewer, 400)["detail"]
    tampered = client.get("/api/v1/feed/home", params={"cursor": cursor[:-2] + "xx"}, headers=alice)
    assert_problem(tampered, 400)


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"limit": 0}, "limit", "from 1 to 100"),
        ({"limit": 101}, "limit", "from 1 to 100"),
        ({"mode": "latest"}, "mode", "unknown feed mode"),
        ({"cursor": "not-a-cursor"}, "cursor", "cursor"),
    ],
)
def test_bad_home_queries_are_400_problems_naming_the_problem(
    client: Client, auth: TokenFactory, params: dict[str, Any], field: str, words: str
) -> None:
    body = assert_problem(client.get("/api/v1/feed/home", params=params, headers=auth("alice")), 400)
    assert words in body["detail"]
    assert body["field"] == field


def test_a_non_integer_limit_is_a_400(client: Client, auth: TokenFactory) -> None:
    assert_problem(client.get("/api/v1/feed/home", params={"limit": "many"}, headers=auth("alice")), 400)


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"item_id": "x", "kind": "poll", "title": "t"}, 400, "kind"),
        ({"item_id": "bad id!", "kind": "post", "title": "t"}, 400, "item_id"),
        ({"item_id": "x", "kind": "post", "title": "  "}, 400, "title"),
        ({"item_id": "x", "kind": "product", "title": "t"}, 400, "price_cents"),
        ({"item_id": "x", "kind": "product", "title": "t", "price_cents": "12", "currency": "EUR"}, 400, "price_cents"),
        ({"item_id": "x", "kind": "product", "title": "t", "price_cents": 12.5, "currency": "EUR"}, 400, "price_cents"),
        ({"item_id": "x", "kind": "product", "title": "t", "price_cents": 12, "currency": "euro"}, 400, "currency"),
        ({"item_id": "x", "kind": "post", "title": "t", "price_cents": 12, "currency": "EUR"}, 400, "price_cents"),
        ({"item_id": "x", "kind": "post", "title": "t", "creator_id": "carol"}, 403, None),
    ],
)
def test_bad_items_are_refused(
    client: Client, auth: TokenFactory, body: dict[str, Any], status: int, field: str | None
) -> None:
    problem = assert_problem(client.post("/api/v1/feed/items", json=body, headers=auth("bob")), status)
    assert problem.get("field") == field
    assert page_ids(client.get("/api/v1/feed/home", headers=auth("alice"))) == []


def test_missing_items_and_wrong_kinds_are_specific_problems(client: Client, auth: TokenFactory) -> None:
    alice = auth("alice")
    post_item(client, auth("bob"), "bob-post")
    assert "no-such" in assert_problem(client.put("/api/v1/feed/hidden/no-such", headers=alice), 404)["detail"]
    assert_problem(client.put("/api/v1/feed/cart/no-such", headers=alice), 404)
    assert "only products" in assert_problem(client.put("/api/v1/feed/cart/bob-post", headers=alice), 400)["detail"]
    assert_problem(client.put("/api/v1/feed/following/alice", headers=alice), 400)
    assert_problem(post_item(client, auth("carol"), "bob-post"), 409)


def test_the_feed_needs_a_token(client: Client) -> None:
    assert_problem(client.get("/api/v1/feed/home"), 401)


def test_feed_endpoints_are_documented(client: Client) -> None:
    paths = client.get("/schema/openapi.json").json()["paths"]
    assert {"/api/v1/feed/home", "/api/v1/feed/items", "/api/v1/feed/cart"} <= set(paths)
