"""Events over HTTP, on both adapters: a producer's event, a hold, its confirmation into the ledger,
refunds, and bad input as problems naming the field."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from tests.http.conftest import TokenFactory
from tests.http.test_host import assert_problem

Client = TestClient[Any]
EVENT = {
    "title": "Jazz night",
    "starts_at": "2026-01-25T19:00:00Z",
    "ends_at": "2026-01-25T22:00:00Z",
    "time_zone": "Europe/Paris",
    "venue": "Le Caveau",
    "sales_start": "2026-01-14T00:00:00Z",
    "sales_end": "2026-01-24T00:00:00Z",
    "capacity": 10,
    "currency": "EUR",
    "event_id": "jazz",
}


def published(client: Client, producer: dict[str, str], quota: int = 5) -> None:
    created = client.post("/api/v1/events", json=EVENT, headers=producer)
    assert created.status_code == 201, created.text
    ticket = {"type_id": "standard", "name": "Standard", "price": 2_500, "quota": quota}
    added = client.post("/api/v1/events/jazz/ticket-types", json=ticket, headers=producer)
    assert added.status_code == 201, added.text
    assert client.post("/api/v1/events/jazz/publish", headers=producer).json()["status"] == "published"


def test_reserve_confirm_and_refund_over_http(client: Client, auth: TokenFactory) -> None:
    producer, alice = auth("pat"), auth("alice")
    published(client, producer)
    # When alice holds 2 tickets and confirms
    held = client.post(
        "/api/v1/events/jazz/registrations",
        json={"type_id": "standard", "quantity": 2, "idempotency_key": "r1"},
        headers=alice,
    )
    assert held.status_code == 201, held.text
    body = held.json()
    assert (body["status"], body["total"], body["currency"]) == ("reserved", 5_000, "EUR")
    rid = body["registration_id"]
    assert client.get("/api/v1/events/jazz/availability", headers=alice).json() == {"available": {"standard": 3}}
    confirmed = client.post(f"/api/v1/registrations/{rid}/confirm", json={"idempotency_key": "c1"}, headers=alice)
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "confirmed" and confirmed.json()["earning_id"]
    # Then she sees it in her list, bob cannot confirm or see it
    mine = client.get("/api/v1/registrations", headers=alice).json()
    assert [each["registration_id"] for each in mine["registrations"]] == [rid]
    assert_problem(client.get(f"/api/v1/registrations/{rid}", headers=auth("bob")), 404)
    # and the producer refunds it before capture in full (a void)
    refunded = client.post(
        f"/api/v1/registrations/{rid}/refund", json={"reason": "sorry", "idempotency_key": "f1"}, headers=producer
    )
    assert refunded.status_code == 200, refunded.text
    assert (refunded.json()["status"], refunded.json()["refunded"]) == ("refunded", 5_000)


def test_bad_input_is_a_problem_naming_the_field(client: Client, auth: TokenFactory) -> None:
    producer, alice = auth("pat"), auth("alice")
    bad_window = client.post("/api/v1/events", json={**EVENT, "sales_end": "2026-01-13T00:00:00Z"}, headers=producer)
    assert_problem(bad_window, 400)
    assert bad_window.json()["field"] == "sales_end"
    published(client, producer)
    for quantity in (0, 10_000):
        response = client.post(
            "/api/v1/events/jazz/registrations",
            json={"type_id": "standard", "quantity": quantity, "idempotency_key": "r1"},
            headers=alice,
        )
        assert_problem(response, 400)
        assert response.json()["field"] == "quantity"
    sold_out = client.post(
        "/api/v1/events/jazz/registrations",
        json={"type_id": "standard", "quantity": 6, "idempotency_key": "r2"},
        headers=alice,
    )
    assert_problem(sold_out, 409)
    assert sold_out.json()["field"] == "quantity"
    assert client.get("/api/v1/registrations", headers=alice).json()["registrations"] == []
    assert_problem(client.get("/api/v1/registrations?cursor=nonsense", headers=alice), 400)


def test_a_discount_code_over_http(client: Client, auth: TokenFactory) -> None:
    producer, alice = auth("pat"), auth("alice")
    published(client, producer)
    made = client.post(
        "/api/v1/discount-codes",
        json={
            "code": "jazz10",
            "kind": "percent",
            "value": 10,
            "valid_from": "2026-01-01T00:00:00Z",
            "valid_until": "2026-01-20T00:00:00Z",
            "event_id": "jazz",
            "max_uses": 1,
        },
        headers=producer,
    )
    assert made.status_code == 201, made.text
    assert made.json()["code"] == "JAZZ10"
    assert [each["code"] for each in client.get("/api/v1/discount-codes", headers=producer).json()["codes"]] == [
        "JAZZ10"
    ]
    url = "/api/v1/events/jazz/registrations"
    held = client.post(
        url, json={"type_id": "standard", "quantity": 2, "idempotency_key": "r", "code": "JAZZ10"}, headers=alice
    )
    assert held.status_code == 201, held.text
    assert (held.json()["discount"], held.json()["total"], held.json()["discount_code"]) == (500, 4_500, "JAZZ10")
    unknown = client.post(
        url, json={"type_id": "standard", "quantity": 1, "idempotency_key": "u", "code": "NOPE"}, headers=alice
    )
    assert_problem(unknown, 400)
    assert unknown.json()["field"] == "code"
    used_up = client.post(
        url, json={"type_id": "standard", "quantity": 1, "idempotency_key": "b", "code": "JAZZ10"}, headers=auth("bob")
    )
    assert_problem(used_up, 409)
    assert used_up.json()["field"] == "code"
