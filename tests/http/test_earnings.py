"""The earnings endpoints over HTTP, on both adapters: roles, bad input as problems, paging."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from tests.http.conftest import TokenFactory
from tests.http.test_host import assert_problem
from townsquare.bootstrap import Services
from townsquare.core.identity import system_actor
from townsquare.core.jobs import JobRunner, JobStatus

OPERATOR = system_actor("tests")


Client = TestClient[Any]
SALE = {"creator_id": "alice", "kind": "sale", "amount": 10_000, "currency": "USD", "idempotency_key": "order-1"}


def record(client: Client, auth: TokenFactory, **changes: object) -> dict[str, Any]:
    response = client.post("/api/v1/earnings/events", json={**SALE, **changes}, headers=auth("shop", admin=True))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_the_refund_flow_end_to_end(client: Client, auth: TokenFactory) -> None:
    # Given the commerce backend records and captures a $100 sale for alice
    earning = record(client, auth)
    assert (earning["type"], earning["amount"], earning["currency"]) == ("earning", 10_000, "USD")
    captured = client.post(
        f"/api/v1/earnings/events/{earning['id']}/capture",
        json={"currency": "USD", "amount": 8_000, "idempotency_key": "cap-1"},
        headers=auth("shop", admin=True),
    )
    assert captured.status_code == 201, captured.text
    # When alice refunds $25 with a reason
    refund = client.post(
        f"/api/v1/earnings/events/{earning['id']}/refunds",
        json={"currency": "USD", "amount": 2_500, "reason": "arrived late", "idempotency_key": "r-1"},
        headers=auth("alice"),
    )
    assert refund.status_code == 201, refund.text
    assert refund.json()["reason"] == "arrived late"
    # Then her summary, earning balance and timeline show it
    summary = client.get("/api/v1/earnings/summary", headers=auth("alice")).json()
    assert summary == {
        "creator_id": "alice",
        "currencies": [
            {
                "currency": "USD",
                "total": 10_000,
                "captured": 8_000,
                "pending": 2_000,
                "voided": 0,
                "missed": 2_000,
                "refunded": 2_500,
                "net": 5_500,
                "events": 3,
            }
        ],
    }
    balance = client.get(f"/api/v1/earnings/events/{earning['id']}", headers=auth("alice")).json()
    assert (balance["status"], balance["refundable"], balance["uncaptured"]) == ("partially_captured", 5_500, 2_000)
    timeline = client.get("/api/v1/earnings/timeline", params={"type": "refund"}, headers=auth("alice")).json()
    assert [event["amount"] for event in timeline["events"]] == [2_500]
    tier = client.get("/api/v1/earnings/tier", headers=auth("alice")).json()
    assert (tier["current"]["name"], tier["next"]["name"], tier["net"]) == ("Bronze", "Silver", 5_500)
    assert tier["progress_basis_points"] == 5_500 * 10_000 // 100_000


def test_a_replayed_record_returns_the_same_event(client: Client, auth: TokenFactory) -> None:
    first = record(client, auth)
    assert record(client, auth) == first
    conflict = client.post("/api/v1/earnings/events", json={**SALE, "amount": 1}, headers=auth("shop", admin=True))
    assert "already used" in assert_problem(conflict, 409)["detail"]


@pytest.mark.parametrize(
    ("change", "status", "words"),
    [
        ({"amount": 12.5}, 400, "amount"),
        ({"amount": 12.0}, 400, "amount"),
        ({"amount": "1250"}, 400, "amount"),
        ({"amount": 0}, 400, "positive"),
        ({"amount": -100}, 400, "positive"),
        ({"currency": "XXX"}, 400, "unknown currency"),
        ({"kind": "gift"}, 400, "unknown earning kind"),
        ({"idempotency_key": ""}, 400, "idempotency_key"),
        ({"creator_id": None}, 400, "creator_id"),
    ],
    ids=["float", "float-integral", "string", "zero", "negative", "currency", "kind", "empty-key", "no-creator"],
)
def test_bad_earnings_are_400_problems_and_write_nothing(
    client: Client, auth: TokenFactory, change: dict[str, object], status: int, words: str
) -> None:
    response = client.post("/api/v1/earnings/events", json={**SALE, **change}, headers=auth("shop", admin=True))
    body = assert_problem(response, status)
    assert words in body["detail"] + str(body.get("invalid_params", "")) + str(body.get("field", ""))
    assert client.get("/api/v1/earnings/summary", headers=auth("alice")).json()["currencies"] == []


@pytest.mark.parametrize(
    "body", [b"{not json", b"[1, 2]", b'"sale"', b""], ids=["malformed", "array", "string", "empty"]
)
def test_bodies_that_are_not_json_objects_are_400_problems(client: Client, auth: TokenFactory, body: bytes) -> None:
    headers = {**auth("shop", admin=True), "content-type": "application/json"}
    assert_problem(client.post("/api/v1/earnings/events", content=body, headers=headers), 400)


def test_bad_follow_ups_are_clear_problems(client: Client, auth: TokenFactory) -> None:
    earning = record(client, auth)
    url = f"/api/v1/earnings/events/{earning['id']}"
    shop = auth("shop", admin=True)
    # Refund of more than was captured: 409, nothing written
    over = client.post(
        f"{url}/refunds",
        json={"currency": "USD", "amount": 1, "reason": "x", "idempotency_key": "r"},
        headers=auth("alice"),
    )
    assert "exceeds the refundable 0" in assert_problem(over, 409)["detail"]
    # Mismatched currency: 400
    other = client.post(f"{url}/capture", json={"currency": "EUR", "amount": 5, "idempotency_key": "c"}, headers=shop)
    assert "does not match" in assert_problem(other, 400)["detail"]
    # Capture of a voided earning: 409
    assert client.post(f"{url}/void", json={"idempotency_key": "v"}, headers=shop).status_code == 201
    voided = client.post(f"{url}/capture", json={"currency": "USD", "idempotency_key": "c2"}, headers=shop)
    assert "voided" in assert_problem(voided, 409)["detail"]
    # A float refund amount: 400
    floaty = client.post(
        f"{url}/refunds",
        json={"currency": "USD", "amount": 1.5, "reason": "x", "idempotency_key": "r"},
        headers=auth("alice"),
    )
    assert_problem(floaty, 400)
    # Unknown earnings: 404
    assert_problem(
        client.post(
            "/api/v1/earnings/events/nope/capture", json={"currency": "USD", "idempotency_key": "c"}, headers=shop
        ),
        404,
    )
    summary = client.get("/api/v1/earnings/summary", headers=auth("alice")).json()["currencies"][0]
    assert (summary["captured"], summary["refunded"], summary["voided"], summary["events"]) == (0, 0, 10_000, 2)


def test_creators_read_only_their_own_and_cannot_record(client: Client, auth: TokenFactory) -> None:
    record(client, auth)
    assert_problem(client.get("/api/v1/earnings/summary", params={"creator_id": "alice"}, headers=auth("bob")), 403)
    assert_problem(client.get("/api/v1/earnings/timeline", params={"creator_id": "alice"}, headers=auth("bob")), 403)
    assert_problem(client.post("/api/v1/earnings/events", json={**SALE, "creator_id": "bob"}, headers=auth("bob")), 403)
    admin_view = client.get(
        "/api/v1/earnings/summary", params={"creator_id": "alice"}, headers=auth("root", admin=True)
    )
    assert admin_view.json()["currencies"][0]["total"] == 10_000


def test_admin_recomputes_anyone_and_creators_only_themselves(client: Client, auth: TokenFactory) -> None:
    record(client, auth)
    assert_problem(client.post("/api/v1/admin/earnings/alice/recompute", headers=auth("bob")), 403)
    report = client.post("/api/v1/admin/earnings/alice/recompute", headers=auth("root", admin=True))
    assert report.status_code == 201, report.text
    assert report.json() == {"creator_id": "alice", "events": 1, "corrected": False, "corrections": []}
    own = client.post("/api/v1/earnings/recompute", headers=auth("alice")).json()
    assert (own["creator_id"], own["events"]) == ("alice", 1)


def test_admin_queues_a_recompute_for_the_worker(client: Client, auth: TokenFactory, services: Services) -> None:
    # Given a sale and an admin who queues a recompute of alice's totals
    record(client, auth)
    assert_problem(client.post("/api/v1/admin/earnings/alice/recompute/jobs", headers=auth("alice")), 403)
    queued = client.post("/api/v1/admin/earnings/alice/recompute/jobs", headers=auth("root", admin=True))
    assert queued.status_code == 201, queued.text
    # When the worker runs due jobs
    report = JobRunner(services.jobs, services.job_handlers).run_due()
    # Then the recompute job ran and succeeded
    assert report.completed >= 1
    assert services.jobs.get(OPERATOR, queued.json()["job_id"]).status is JobStatus.COMPLETED


def test_a_recompute_for_a_malformed_creator_is_refused_before_queueing(
    client: Client, auth: TokenFactory, services: Services
) -> None:
    # When an admin queues a recompute for a creator id no user can have
    refused = client.post("/api/v1/admin/earnings/%01bad/recompute/jobs", headers=auth("root", admin=True))
    # Then the request is a 400 naming the field, and no job waits to fail in the worker
    assert assert_problem(refused, 400)["field"] == "creator_id"
    assert services.jobs.stats(OPERATOR).by_status[JobStatus.PENDING] == 0


def test_timeline_pages_and_rejects_bad_filters(client: Client, auth: TokenFactory) -> None:
    for n in range(5):
        record(client, auth, idempotency_key=f"order-{n}", amount=100 + n)
    first = client.get("/api/v1/earnings/timeline", params={"limit": 3}, headers=auth("alice")).json()
    assert len(first["events"]) == 3
    rest = client.get(
        "/api/v1/earnings/timeline", params={"limit": 3, "cursor": first["next_cursor"]}, headers=auth("alice")
    ).json()
    assert len(rest["events"]) == 2
    assert rest["next_cursor"] is None
    assert {e["id"] for e in first["events"]}.isdisjoint({e["id"] for e in rest["events"]})
    bad = [
        {"kind": "gift"},
        {"type": "payout"},
        {"since": "yesterday"},
        {"since": "2026-01-15T00:00:00"},
        {"since": "2026-01-16T00:00:00Z", "until": "2026-01-15T00:00:00Z"},
        {"limit": 0},
        {"limit": 500},
        {"cursor": "garbage"},
        {"cursor": first["next_cursor"], "kind": "tip"},
    ]
    for params in bad:
        assert_problem(client.get("/api/v1/earnings/timeline", params=params, headers=auth("alice")), 400)


def test_the_endpoints_are_documented(client: Client) -> None:
    paths = client.get("/schema/openapi.json").json()["paths"]
    for path in [
        "/api/v1/earnings/summary",
        "/api/v1/earnings/timeline",
        "/api/v1/earnings/tier",
        "/api/v1/earnings/events",
        "/api/v1/earnings/events/{earning_id}/refunds",
        "/api/v1/admin/earnings/{creator_id}/recompute",
    ]:
        assert path in paths
