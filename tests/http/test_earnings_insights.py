"""Creator insights over HTTP, on both adapters: past balances, the tier outlook, bad instants, owners only."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar.testing import TestClient

from tests.conftest import EPOCH
from tests.http.conftest import TokenFactory
from tests.http.test_host import assert_problem
from townsquare.core.clock import ManualClock

Client = TestClient[Any]


def sale(client: Client, auth: TokenFactory, key: str, amount: int) -> str:
    body = {"creator_id": "alice", "kind": "sale", "amount": amount, "currency": "USD", "idempotency_key": key}
    response = client.post("/api/v1/earnings/events", json=body, headers=auth("shop", admin=True))
    assert response.status_code == 201, response.text
    earning_id: str = response.json()["id"]
    return earning_id


def test_a_past_balance_leaves_out_later_captures(client: Client, auth: TokenFactory, clock: ManualClock) -> None:
    earning_id = sale(client, auth, "s-1", 10_000)
    clock.advance(timedelta(hours=1))
    captured = client.post(
        f"/api/v1/earnings/events/{earning_id}/capture",
        json={"currency": "USD", "idempotency_key": "c-1"},
        headers=auth("shop", admin=True),
    )
    assert captured.status_code == 201, captured.text

    def cards(as_of: str) -> dict[str, Any]:
        response = client.get("/api/v1/earnings/summary", params={"as_of": as_of}, headers=auth("alice"))
        assert response.status_code == 200, response.text
        [usd] = response.json()["currencies"]
        return dict(usd)

    before = cards((EPOCH + timedelta(minutes=30)).isoformat())
    assert (before["captured"], before["pending"], before["events"]) == (0, 10_000, 1)
    after = cards(clock.now().isoformat().replace("+00:00", "Z"))
    assert (after["captured"], after["pending"], after["events"]) == (10_000, 0, 2)
    # Before anything was recorded there are no cards at all
    empty = client.get(
        "/api/v1/earnings/summary", params={"as_of": "2020-01-01T00:00:00Z"}, headers=auth("alice")
    ).json()
    assert empty == {"creator_id": "alice", "currencies": []}


def test_bad_instants_are_a_clear_400(client: Client, auth: TokenFactory, clock: ManualClock) -> None:
    future = (clock.now() + timedelta(seconds=1)).isoformat()
    for as_of in ["yesterday", "2026-01-15T00:00:00", future, ""]:
        response = client.get("/api/v1/earnings/summary", params={"as_of": as_of}, headers=auth("alice"))
        body = assert_problem(response, 400)
        assert "as_of" in response.text, body


def test_a_past_balance_and_outlook_are_the_owners_or_an_admins(client: Client, auth: TokenFactory) -> None:
    sale(client, auth, "s-1", 10_000)
    params = {"creator_id": "alice", "as_of": EPOCH.isoformat()}
    assert_problem(client.get("/api/v1/earnings/summary", params=params, headers=auth("bob")), 403)
    outlook_for = {"creator_id": "alice"}
    assert_problem(client.get("/api/v1/earnings/tier/outlook", params=outlook_for, headers=auth("bob")), 403)
    assert client.get("/api/v1/earnings/summary", params=params, headers=auth("root", admin=True)).status_code == 200
    admin = client.get("/api/v1/earnings/tier/outlook", params=outlook_for, headers=auth("root", admin=True))
    assert admin.status_code == 200, admin.text


def test_the_tier_outlook_as_data(client: Client, auth: TokenFactory, clock: ManualClock) -> None:
    earning_id = sale(client, auth, "s-1", 300_00)
    captured = client.post(
        f"/api/v1/earnings/events/{earning_id}/capture",
        json={"currency": "USD", "idempotency_key": "c-1"},
        headers=auth("shop", admin=True),
    )
    assert captured.status_code == 201, captured.text
    response = client.get("/api/v1/earnings/tier/outlook", headers=auth("alice"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["standing"]["current"]["name"] == "Bronze"
    assert [(m["tier"]["name"], m["reached"], m["remaining"]) for m in body["milestones"]] == [
        ("Bronze", True, 0),
        ("Silver", False, 700_00),
        ("Gold", False, 9_700_00),
        ("Platinum", False, 49_700_00),
    ]
    assert body["milestones"][1]["tier"]["unlocks"]
    # $700 to go at $300 per 30 days: 70 days from now
    assert body["countdown"]["remaining"] == 700_00
    assert body["countdown"]["pace"] == 300_00
    assert body["countdown"]["eta"].replace("Z", "+00:00") == (clock.now() + timedelta(days=70)).isoformat()


def test_missed_opportunities_and_what_if_over_http(client: Client, auth: TokenFactory) -> None:
    sale(client, auth, "s-1", 80_00)  # pending, never captured
    body = client.get("/api/v1/earnings/opportunities", headers=auth("alice")).json()
    assert [(each["rank"], each["kind"], each["amount"], each["action"]) for each in body["opportunities"]] == [
        (1, "pending", 80_00, "capture_pending")
    ]
    response = client.get("/api/v1/earnings/what-if", params={"capture_pending_bp": 2_500}, headers=auth("alice"))
    assert response.status_code == 200, response.text
    [usd] = response.json()["currencies"]
    assert usd["baseline"]["pending"] == 80_00
    assert (usd["projected"]["captured"], usd["projected"]["pending"], usd["delta"]["net"]) == (20_00, 60_00, 20_00)
    assert response.json()["assumptions"]["capture_pending_bp"] == 2_500


def test_what_if_refuses_bad_assumptions_and_other_creators(client: Client, auth: TokenFactory) -> None:
    sale(client, auth, "s-1", 80_00)
    for params in ({"capture_pending_bp": 10_001}, {"price_change_bp": -20_000}, {"avoid_refunds_bp": "half"}):
        response = client.get("/api/v1/earnings/what-if", params=params, headers=auth("alice"))
        assert_problem(response, 400)
        assert next(iter(params)) in response.text
    for path in ("/api/v1/earnings/what-if", "/api/v1/earnings/opportunities"):
        assert_problem(client.get(path, params={"creator_id": "alice"}, headers=auth("bob")), 403)
        assert client.get(path, params={"creator_id": "alice"}, headers=auth("root", admin=True)).status_code == 200
