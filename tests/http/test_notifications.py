"""The notification endpoints: own data only, clear 4xx problems, the test helpers, live counts."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from typing import Any

import httpx
import pytest
import uvicorn
from litestar.testing import TestClient

from tests.http.conftest import TokenFactory
from tests.http.test_host import assert_problem
from townsquare.bootstrap import Services
from townsquare.core.identity import Actor
from townsquare.hosts.http.app import create_app
from townsquare.hosts.http.routes import notifications as notification_routes
from townsquare.settings import Settings

SENDER = Actor("test-sender", roles=["service"])

Client = TestClient[Any]


def send(client: Client, auth: TokenFactory, user: str, **body: Any) -> dict[str, Any]:
    payload = {"user_id": user, "channel": "inapp", "category": "follow", "title": "Hi", **body}
    response = client.post("/api/v1/notifications/send", json=payload, headers=auth("root", admin=True))
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_the_inbox_counts_and_marking_read(client: Client, auth: TokenFactory) -> None:
    # Given alice has two social notifications and one commerce one
    first = send(client, auth, "alice", idempotency_key="a1")
    send(client, auth, "alice", category="comment")
    send(client, auth, "alice", category="sale", data={"order": 1})
    assert first["sent"] and first["reason"] is None
    # When she reads her social lane, 1 per page
    page = client.get("/api/v1/notifications", params={"lane": "social", "limit": 1}, headers=auth("alice")).json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    rest = client.get(
        "/api/v1/notifications", params={"lane": "social", "cursor": page["next_cursor"]}, headers=auth("alice")
    ).json()
    ids = [item["id"] for item in page["items"] + rest["items"]]
    assert len(set(ids)) == 2 and first["notification_id"] in ids
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    # Then her counts say so, and marking read updates them
    counts = client.get("/api/v1/notifications/counts", headers=auth("alice")).json()
    assert counts == {"lanes": {"social": 2, "commerce": 1, "events": 0, "system": 0}, "total": 3}
    marked = client.post("/api/v1/notifications/read", json={"ids": [first["notification_id"]]}, headers=auth("alice"))
    assert marked.json()["marked"] == 1 and marked.json()["counts"]["total"] == 2
    lane = client.post("/api/v1/notifications/read-all", json={"lane": "commerce"}, headers=auth("alice")).json()
    assert lane["marked"] == 1 and lane["counts"]["lanes"]["commerce"] == 0
    everything = client.post("/api/v1/notifications/read-all", json={}, headers=auth("alice")).json()
    assert everything == {
        "marked": 1,
        "counts": {"lanes": {"social": 0, "commerce": 0, "events": 0, "system": 0}, "total": 0},
    }


def test_a_user_cannot_touch_anothers_notifications(client: Client, auth: TokenFactory) -> None:
    bobs = send(client, auth, "bob")["notification_id"]
    response = client.post("/api/v1/notifications/read", json={"ids": [bobs]}, headers=auth("alice"))
    assert assert_problem(response, 404)["detail"].startswith("no such notification")
    assert client.get("/api/v1/notifications/counts", headers=auth("bob")).json()["total"] == 1
    assert client.get("/api/v1/notifications", headers=auth("alice")).json()["items"] == []


def test_only_admins_send_to_others(client: Client, auth: TokenFactory) -> None:
    payload = {"user_id": "bob", "channel": "inapp", "category": "follow", "title": "Hi"}
    assert_problem(client.post("/api/v1/notifications/send", json=payload, headers=auth("alice")), 403)
    assert_problem(client.post("/api/v1/notification-digest/enqueue-due", headers=auth("alice")), 403)


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "field"),
    [
        ("GET", "/api/v1/notifications?lane=gossip", None, 400, "lane"),
        ("GET", "/api/v1/notifications?limit=0", None, 400, "limit"),
        ("GET", "/api/v1/notifications?cursor=garbage", None, 400, "cursor"),
        ("POST", "/api/v1/notifications/read", {"ids": ["nope"]}, 400, "ids"),
        ("POST", "/api/v1/notifications/read", {"ids": []}, 400, "ids"),
        ("POST", "/api/v1/notifications/read", {"ids": "x"}, 400, None),
        ("POST", "/api/v1/notifications/read-all", {"lane": "gossip"}, 400, "lane"),
        ("POST", "/api/v1/notifications/test", {"category": "gossip"}, 400, "category"),
        ("PATCH", "/api/v1/notification-prefs", {"quiet_hours": {"start": "25:00"}}, 400, "quiet_hours.start"),
        ("PATCH", "/api/v1/notification-prefs", {"timezone": "Nowhere/Land"}, 400, "timezone"),
        ("PATCH", "/api/v1/notification-prefs", {"volume": 11}, 400, "volume"),
        ("PATCH", "/api/v1/notification-prefs", [1], 400, None),
        ("POST", "/api/v1/notification-digest/send-test", None, 400, "email_address"),
    ],
)
# The HTTP layer's problems do not depend on the adapter (the contract suite checks the
# domain errors on both), so these cases run on memory only.
@pytest.mark.parametrize("adapter", ["memory"], indirect=True)
def test_bad_input_is_a_specific_problem(  # noqa: PLR0917
    client: Client, auth: TokenFactory, method: str, path: str, body: Any, status: int, field: str | None
) -> None:
    response = client.request(method, path, json=body, headers=auth("alice"))
    problem = assert_problem(response, status)
    if field is not None:
        assert problem.get("field") == field or field in problem["detail"], problem
    # And nothing changed
    assert client.get("/api/v1/notification-prefs", headers=auth("alice")).json()["preferences"]["timezone"] == "UTC"


def test_bad_sends_are_problems_and_soft_refusals_are_not(client: Client, auth: TokenFactory) -> None:
    admin = auth("root", admin=True)
    bad = {"user_id": "bob", "channel": "sms", "category": "follow", "title": "Hi"}
    assert assert_problem(client.post("/api/v1/notifications/send", json=bad, headers=admin), 400)["field"] == "channel"
    client.patch("/api/v1/notification-prefs", json={"channels": {"push": False}}, headers=auth("bob"))
    refused = send(client, auth, "bob", channel="push")
    assert refused == {"sent": False, "notification_id": None, "reason": "channel_off", "duplicate": False}


def test_preferences_merge_and_digest_helpers(client: Client, auth: TokenFactory, services: Services) -> None:
    headers = auth("carol")
    client.patch("/api/v1/notification-prefs", json={"digest": {"frequency": "weekly"}}, headers=headers)
    merged = client.patch(
        "/api/v1/notification-prefs",
        json={"digest": {"hour": 7}, "email_address": "carol@example.com"},
        headers=headers,
    ).json()
    assert merged["preferences"]["digest"] == {"frequency": "weekly", "hour": 7, "weekday": "monday"}
    assert merged["digest_next_at"] == "2026-01-19T07:00:00Z"
    # The new address is unconfirmed: a code went to it, and no test digest may follow yet
    assert merged["email_verified"] is False
    [verification] = services.notifications.outbox(Actor("carol"))
    assert verification.message.to == "carol@example.com"
    refused = client.post("/api/v1/notification-digest/send-test", headers=headers)
    assert assert_problem(refused, 400)["field"] == "email_address"
    wrong = client.post("/api/v1/notification-prefs/email/verify", json={"code": "1234567"}, headers=headers)
    assert assert_problem(wrong, 400)["field"] == "code"
    code = re.search(r"\b(\d{6})\b", verification.message.text)
    assert code is not None
    verified = client.post("/api/v1/notification-prefs/email/verify", json={"code": code.group(1)}, headers=headers)
    assert verified.status_code == 200 and verified.json()["email_verified"] is True
    assert client.get("/api/v1/notification-prefs", headers=headers).json()["email_verified"] is True
    # The seeds' helpers: a test notification, a digest preview and a test digest
    assert client.post("/api/v1/notifications/test", json={}, headers=headers).json()["sent"] is True
    preview = client.get("/api/v1/notification-digest/preview", headers=headers).json()
    assert preview["counts"]["total"] == 1 and preview["items"][0]["category"] == "test"
    queued = client.post("/api/v1/notification-digest/send-test", headers=headers)
    assert queued.status_code == 202 and queued.json()["to"] == "carol@example.com"
    assert {m.id for m in services.notifications.outbox(Actor("carol"))} == {
        verification.id,
        queued.json()["outbox_id"],
    }
    mail = next(
        m for m in client.get("/api/v1/notifications/mail", headers=headers).json() if m["id"] != verification.id
    )
    assert (mail["id"], mail["status"]) == (queued.json()["outbox_id"], "pending")
    assert client.get("/api/v1/notifications/mail", headers=auth("alice")).json() == []
    assert client.get("/api/v1/notification-digest/runs", headers=headers).json() == []


def test_the_stream_sends_counts_now_and_on_change(
    settings: Settings, services: Services, adapter: str, auth: TokenFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A real server: the test client buffers whole responses, and a stream never ends.
    monkeypatch.setattr(notification_routes, "KEEPALIVE_SECONDS", 0.5)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, services), port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        events: list[dict[str, Any]] = []
        url = f"http://127.0.0.1:{port}/api/v1/notifications/stream"
        with httpx.stream("GET", url, headers=auth("alice"), timeout=10) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue
                events.append(json.loads(line[5:]))
                if len(events) == 2:
                    break
                # When a notification arrives for alice (and one for bob, which she never hears of)
                services.notifications.send(SENDER, "bob", "inapp", "tip", title="not alice's")
                services.notifications.send(SENDER, "alice", "inapp", "tip", title="a tip")
        # Then she got her counts at once, and again when they changed
        assert [event["total"] for event in events] == [0, 1]
        assert events[1]["lanes"]["commerce"] == 1
    finally:
        server.should_exit = True
        thread.join(timeout=10)
