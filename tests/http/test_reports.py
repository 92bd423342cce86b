"""Reports over HTTP, on both adapters: stats, the reconciliation list (producer and admin), and bad
input as problems naming the field, with nothing changed."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from tests.http.conftest import TokenFactory
from tests.http.test_events import published
from tests.http.test_host import assert_problem

Client = TestClient[Any]


def bought(client: Client, attendee: dict[str, str], key: str, quantity: int = 1) -> str:
    held = client.post(
        "/api/v1/events/jazz/registrations",
        json={"type_id": "standard", "quantity": quantity, "idempotency_key": key},
        headers=attendee,
    )
    assert held.status_code == 201, held.text
    rid: str = held.json()["registration_id"]
    confirmed = client.post(
        f"/api/v1/registrations/{rid}/confirm", json={"idempotency_key": f"p-{key}"}, headers=attendee
    )
    assert confirmed.status_code == 200, confirmed.text
    return rid


def test_stats_and_the_list_over_http(client: Client, auth: TokenFactory) -> None:
    producer = auth("pat")
    published(client, producer)
    first = bought(client, auth("alice"), "a1", quantity=2)
    second = bought(client, auth("bob"), "b1")
    refunded = client.post(
        f"/api/v1/registrations/{second}/refund", json={"reason": "sorry", "idempotency_key": "f1"}, headers=producer
    )
    assert refunded.status_code == 200, refunded.text

    stats = client.get("/api/v1/reports/events/jazz/stats", headers=producer)
    assert stats.status_code == 200, stats.text
    body = stats.json()
    assert body["registrations"]["confirmed"] == 1 and body["registrations"]["refunded"] == 1
    assert body["time_zone"] == "Europe/Paris"
    assert body["money"] == [
        {
            "currency": "EUR",
            "gross": 7_500,
            "discounts": 0,
            "captured": 0,
            "voided": 2_500,
            "refunded": 0,
            "pending": 5_000,
            "net": 0,
        }
    ]
    assert body["capacity"] == [{"type_id": "standard", "name": "Standard", "quota": 5, "held": 2, "left": 3}]
    assert [(day["day"], day["hours"], day["registrations"]) for day in body["days"]] == [("2026-01-15", 24, 2)]

    over_all = client.get(
        "/api/v1/reports/stats", params={"from": "2026-01-01", "to": "2026-01-31", "time_zone": "UTC"}, headers=producer
    )
    assert over_all.status_code == 200, over_all.text
    assert len(over_all.json()["days"]) == 31 and over_all.json()["money"] == body["money"]

    listed = client.get("/api/v1/reports/registrations", params={"status": "confirmed", "limit": 1}, headers=producer)
    assert listed.status_code == 200, listed.text
    assert [each["registration_id"] for each in listed.json()["registrations"]] == [first]
    assert listed.json()["next_cursor"] is None

    admin = client.get(
        "/api/v1/admin/reports/registrations", params={"producer_id": "pat"}, headers=auth("root", admin=True)
    )
    assert admin.status_code == 200, admin.text
    assert {each["registration_id"] for each in admin.json()["registrations"]} == {first, second}


@pytest.mark.parametrize(
    "case",
    [
        ("/api/v1/reports/stats", {"from": "2026-01-10", "to": "2026-01-09"}, 400, "to"),
        ("/api/v1/reports/stats", {"from": "2025-01-01", "to": "2026-01-09"}, 400, "to"),
        ("/api/v1/reports/stats", {"time_zone": "Mars/Olympus"}, 400, "time_zone"),
        ("/api/v1/reports/stats", {"producer_id": "pat"}, 403, "producer_id"),
        ("/api/v1/reports/events/jazz/stats", {}, 404, "event_id"),
        ("/api/v1/reports/events/jazz/stats", {"time_zone": "Nowhere"}, 404, "event_id"),
        ("/api/v1/reports/registrations", {"event_id": "jazz"}, 404, "event_id"),
        ("/api/v1/reports/registrations", {"status": "paid"}, 400, "status"),
        ("/api/v1/reports/registrations", {"from": "2026-01-10"}, 400, "to"),
        ("/api/v1/reports/registrations", {"cursor": "forged"}, 400, "cursor"),
        ("/api/v1/reports/registrations", {"limit": "0"}, 400, "limit"),
        ("/api/v1/admin/reports/registrations", {}, 403, None),  # the guard, then the core
    ],
)
def test_bad_input_is_a_problem_naming_the_field(
    client: Client, auth: TokenFactory, case: tuple[str, dict[str, str], int, str | None]
) -> None:
    path, params, status, field = case
    published(client, auth("pat"))
    refused = assert_problem(client.get(path, params=params, headers=auth("olga")), status)
    assert refused.get("field") == field


def test_an_unparseable_date_is_a_400(client: Client, auth: TokenFactory) -> None:
    assert_problem(client.get("/api/v1/reports/stats", params={"from": "yesterday"}, headers=auth("pat")), 400)


def test_a_bulk_refund_over_http_dry_run_first(client: Client, auth: TokenFactory, services: Any) -> None:
    from townsquare.core.jobs import JobRunner

    producer = auth("pat")
    published(client, producer)
    first = bought(client, auth("alice"), "a1", quantity=2)
    second = bought(client, auth("bob"), "b1")
    body = {"kind": "refund", "filter": {"event_id": "jazz"}}
    # a dry run: the count and the exact sum, nothing changed
    dry = client.post("/api/v1/reports/bulk-actions/preview", json=body, headers=producer)
    assert dry.status_code == 200, dry.text
    assert dry.json() == {"kind": "refund", "count": 2, "amounts": {"EUR": 7_500}}
    # no filter, an unknown kind, no reason, another producer's event: problems naming the field
    refusals = [
        ("/api/v1/reports/bulk-actions/preview", {"kind": "refund", "filter": {}}, 400, "filter"),
        ("/api/v1/reports/bulk-actions/preview", {"kind": "erase", "filter": {"event_id": "jazz"}}, 400, "kind"),
        ("/api/v1/reports/bulk-actions/preview", {**body, "filter": {"status": "paid"}}, 400, "status"),
        ("/api/v1/reports/bulk-actions", {**body, "reason": "", "idempotency_key": "k"}, 400, "reason"),
        ("/api/v1/reports/bulk-actions", {**body, "reason": "r", "idempotency_key": ""}, 400, "idempotency_key"),
        ("/api/v1/reports/bulk-actions", {"kind": "refund", "filter": {"status": "confirmed"}}, 400, None),
    ]
    for path, sent, status, field in refusals:
        refused = assert_problem(client.post(path, json=sent, headers=producer), status)
        if field is not None:
            assert refused.get("field") == field
    olga = assert_problem(
        client.post(
            "/api/v1/reports/bulk-actions", json={**body, "reason": "r", "idempotency_key": "k"}, headers=auth("olga")
        ),
        404,
    )
    assert olga["field"] == "event_id"
    # the action starts as a job; its progress is visible; the registrations end refunded
    started = client.post(
        "/api/v1/reports/bulk-actions", json={**body, "reason": "storm", "idempotency_key": "b1"}, headers=producer
    )
    assert started.status_code == 202, started.text
    action = started.json()
    assert (action["total"], action["pending"], action["finished"], action["amounts"]) == (2, 2, False, {"EUR": 7_500})
    JobRunner(services.jobs, services.job_handlers).run_due()
    polled = client.get(f"/api/v1/reports/bulk-actions/{action['action_id']}", headers=producer).json()
    assert (polled["done"], polled["failed"], polled["pending"], polled["finished"]) == (2, 0, 0, True)
    for rid in (first, second):
        assert client.get(f"/api/v1/registrations/{rid}", headers=producer).json()["status"] == "refunded"
    assert_problem(client.get(f"/api/v1/reports/bulk-actions/{action['action_id']}", headers=auth("olga")), 404)


def test_exports_over_http(client: Client, auth: TokenFactory) -> None:
    import csv
    import io

    producer = auth("pat")
    published(client, producer)
    rid = bought(client, auth("=alice"), "a1", quantity=2)
    exported = client.get("/api/v1/reports/registrations.csv", params={"event_id": "jazz"}, headers=producer)
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"].startswith("text/csv")
    assert "charset=utf-8" in exported.headers["content-type"]
    assert "attachment" in exported.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8"), newline="")))
    assert rows[0][:4] == ["registration_id", "event_id", "type_id", "attendee_id"]
    assert [(row[0], row[3]) for row in rows[1:]] == [(rid, "'=alice")]
    financials = client.get("/api/v1/reports/financials.csv", headers=producer)
    assert financials.status_code == 200, financials.text
    lines = list(csv.reader(io.StringIO(financials.text, newline="")))
    assert [(line[1], line[5], line[6]) for line in lines[1:]] == [(rid, "earning", "5000")]
    document = client.get("/api/v1/reports/financials.pdf", headers=producer)
    assert document.status_code == 200, document.text
    assert document.headers["content-type"] == "application/pdf"
    assert document.content.startswith(b"%PDF")
    assert client.get("/api/v1/reports/financials.pdf", headers=producer).content == document.content
    # bad input is a problem before anything is streamed
    for path, params, status, field in [
        ("/api/v1/reports/registrations.csv", {"status": "paid"}, 400, "status"),
        ("/api/v1/reports/financials.csv", {"from": "2026-01-02", "to": "2026-01-01"}, 400, "to"),
        ("/api/v1/reports/financials.pdf", {"time_zone": "Mars/Base"}, 400, "time_zone"),
        ("/api/v1/reports/financials.pdf", {"event_id": "jazz"}, 404, "event_id"),
    ]:
        headers = auth("olga") if status == 404 else producer
        assert assert_problem(client.get(path, params=params, headers=headers), status)["field"] == field
