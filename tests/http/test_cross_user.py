"""Cross-user security through the API: no route lets one user read or change another's data,
and every admin route refuses everyone but admins. Runs on both adapters (RLS on in Postgres).
"""

from __future__ import annotations

import re
from typing import Any

from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import TestClient

from tests.http.conftest import TokenFactory
from tests.http.test_host import assert_problem
from townsquare.hosts.http.auth import admin_guard

Client = TestClient[Any]
_PATH_PARAMETER = re.compile(r"\{(\w+):(\w+)\}")
_SAMPLE_BY_TYPE = {"int": "1", "str": "alice", "uuid": "00000000-0000-0000-0000-000000000001"}


def _admin_guarded(handler: Any) -> bool:
    # The guards of the handler and of every router and app layer above it.
    return any(admin_guard in (layer.guards or ()) for layer in handler.ownership_layers)


def _admin_operations(app: Litestar) -> list[tuple[str, str]]:
    """Every (method, path) whose handler carries the admin guard, with sample path parameters."""
    operations: list[tuple[str, str]] = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if _admin_guarded(handler):
                path = _PATH_PARAMETER.sub(lambda match: _SAMPLE_BY_TYPE[match.group(2)], route.path)
                # OPTIONS is Litestar's own preflight answer: no token, no data (checked below).
                operations.extend((method, path) for method in sorted(handler.http_methods - {"OPTIONS"}))
    return operations


def test_every_admin_route_refuses_non_admins(client: Client, auth: TokenFactory) -> None:
    # Given every operation of the host guarded for admins
    operations = _admin_operations(client.app)
    guarded_templates = {
        _PATH_PARAMETER.sub(r"{\1}", route.path)
        for route in client.app.routes
        if isinstance(route, HTTPRoute) and any(_admin_guarded(handler) for handler in route.route_handlers)
    }
    schema_admin_paths = {path for path in client.get("/schema/openapi.json").json()["paths"] if "/admin/" in path}
    # Then every /api/v1/admin/ path of the schema is among them
    assert schema_admin_paths, "the schema lists no admin path"
    assert schema_admin_paths <= guarded_templates
    for method, path in operations:
        # When a signed-in user who is not an admin calls it (with a body that would be valid JSON)
        response = client.request(method, path, json={}, headers=auth("mallory"))
        # Then it is refused as forbidden, and anonymously as unauthenticated
        assert_problem(response, 403)
        assert_problem(client.request(method, path, json={}), 401)
        # And a CORS preflight is answered with the allowed methods alone
        preflight = client.options(path)
        assert preflight.status_code == 204 and method in preflight.headers["allow"] and not preflight.content


def test_notifications_stay_with_their_recipient(client: Client, auth: TokenFactory) -> None:
    # Given alice has an unread notification
    sent = client.post(
        "/api/v1/notifications/send",
        json={"user_id": "alice", "channel": "inapp", "category": "sale", "title": "You sold a mug"},
        headers=auth("root", admin=True),
    ).json()
    alices = sent["notification_id"]
    bob = auth("bob")
    # When bob reads his inbox, and tries to mark alice's notification (and everything) read
    inbox = client.get("/api/v1/notifications", headers=bob).json()
    counts = client.get("/api/v1/notifications/counts", headers=bob).json()
    marked = client.post("/api/v1/notifications/read", json={"ids": [alices]}, headers=bob)
    everything = client.post("/api/v1/notifications/read-all", json={}, headers=bob)
    # Then he saw nothing of hers and changed nothing: she still has it unread
    assert inbox["items"] == [] and counts["total"] == 0
    assert_problem(marked, 404)  # someone else's notification is no notification of his
    assert everything.status_code == 200 and everything.json()["marked"] == 0
    [item] = client.get("/api/v1/notifications", headers=auth("alice")).json()["items"]
    assert (item["id"], item["is_read"]) == (alices, False)


def test_preferences_are_each_users_own(client: Client, auth: TokenFactory) -> None:
    # Given alice keeps Paris time
    alice, bob = auth("alice"), auth("bob")
    assert (
        client.patch("/api/v1/notification-prefs", json={"timezone": "Europe/Paris"}, headers=alice).status_code == 200
    )
    # When bob changes his own preferences (no route takes another user's id)
    changed = client.patch("/api/v1/notification-prefs", json={"timezone": "Asia/Tokyo"}, headers=bob)
    # Then his changed and hers did not
    assert changed.json()["preferences"]["timezone"] == "Asia/Tokyo"
    assert client.get("/api/v1/notification-prefs", headers=alice).json()["preferences"]["timezone"] == "Europe/Paris"


def test_earnings_are_visible_and_refundable_only_by_their_creator(client: Client, auth: TokenFactory) -> None:
    # Given the commerce backend records and captures a sale for alice
    shop = auth("shop", admin=True)
    earning = client.post(
        "/api/v1/earnings/events",
        json={"creator_id": "alice", "kind": "sale", "amount": 5_000, "currency": "USD", "idempotency_key": "o-1"},
        headers=shop,
    ).json()
    capture = {"currency": "USD", "idempotency_key": "c-1"}
    assert (
        client.post(f"/api/v1/earnings/events/{earning['id']}/capture", json=capture, headers=shop).status_code == 201
    )
    alice, bob = auth("alice"), auth("bob")
    before = client.get("/api/v1/earnings/summary", headers=alice).json()
    event = f"/api/v1/earnings/events/{earning['id']}"
    # When bob asks for her summary, timeline, tier and earning, and tries to move her money
    for path in ("/api/v1/earnings/summary", "/api/v1/earnings/timeline", "/api/v1/earnings/tier"):
        assert_problem(client.get(path, params={"creator_id": "alice"}, headers=bob), 403)
    assert_problem(client.get(event, headers=bob), 404)
    refund = {"currency": "USD", "reason": "mine now", "idempotency_key": "r-1"}
    assert_problem(client.post(f"{event}/refunds", json=refund, headers=bob), 404)
    assert_problem(client.post(f"{event}/capture", json={**capture, "idempotency_key": "c-2"}, headers=bob), 403)
    assert_problem(client.post(f"{event}/void", json={"idempotency_key": "v-1"}, headers=bob), 403)
    forged = {"creator_id": "alice", "kind": "tip", "amount": 1, "currency": "USD", "idempotency_key": "t-1"}
    assert_problem(client.post("/api/v1/earnings/events", json=forged, headers=bob), 403)
    own = client.post("/api/v1/earnings/recompute", headers=bob)
    # Then all of it is refused, his own recompute found nothing of hers, and her ledger is unchanged
    assert own.status_code in (200, 201) and own.json()["creator_id"] == "bob"
    assert client.get("/api/v1/earnings/summary", headers=alice).json() == before
    assert client.get(event, headers=alice).json()["captured"] == 5_000


def test_hidden_items_carts_and_follows_are_the_viewers_own(client: Client, auth: TokenFactory) -> None:
    # Given carol's posts and product; alice hides the post, puts the product in her cart and follows carol
    carol, alice, bob = auth("carol"), auth("alice"), auth("bob")
    post = {"item_id": "carol-post", "kind": "post", "title": "Kiln day"}
    product = {"item_id": "carol-mug", "kind": "product", "title": "Mug", "price_cents": 2500, "currency": "EUR"}
    news = {"item_id": "carol-news", "kind": "post", "title": "Open studio"}
    for body in (post, product, news):
        assert client.post("/api/v1/feed/items", json=body, headers=carol).status_code == 201
    assert client.put("/api/v1/feed/hidden/carol-post", headers=alice).status_code == 204
    assert client.put("/api/v1/feed/cart/carol-mug", headers=alice).status_code == 204
    assert client.put("/api/v1/feed/following/carol", headers=alice).status_code == 204
    # When bob reads his cart and unhides, uncarts and unfollows the same things
    bobs_cart = client.get("/api/v1/feed/cart", headers=bob).json()
    assert client.delete("/api/v1/feed/hidden/carol-post", headers=bob).status_code == 204
    assert client.delete("/api/v1/feed/cart/carol-mug", headers=bob).status_code == 204
    assert client.delete("/api/v1/feed/following/carol", headers=bob).status_code == 204
    # ... and tries to remove carol's item or publish in her name
    assert_problem(client.delete("/api/v1/feed/items/carol-post", headers=bob), 403)
    forged = {"item_id": "bob-as-carol", "kind": "post", "title": "Sale!", "creator_id": "carol"}
    assert_problem(client.post("/api/v1/feed/items", json=forged, headers=bob), 403)
    # Then bob saw an empty cart and alice's feed, cart and follows are untouched
    assert bobs_cart == {"items": []}
    assert [line["item"]["item_id"] for line in client.get("/api/v1/feed/cart", headers=alice).json()["items"]] == [
        "carol-mug"
    ]
    home = client.get("/api/v1/feed/home", params={"mode": "following"}, headers=alice).json()
    assert [item["item_id"] for item in home["items"]] == ["carol-news"]  # the post hidden, the mug in her cart
    assert client.get("/api/v1/feed/items/carol-post", headers=bob).status_code == 200
