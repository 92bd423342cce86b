"""The waitlist over HTTP, on both adapters: joining a sold-out type, an offer confirmed like any hold,
manual approvals, and bad input as problems naming the field with nothing changed."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from tests.http.conftest import TokenFactory
from tests.http.test_events import EVENT
from tests.http.test_host import assert_problem
from townsquare.bootstrap import Services
from townsquare.core.jobs import JobRunner

Client = TestClient[Any]


def sold_out(client: Client, producer: dict[str, str], buyer: dict[str, str], *, mode: str = "automatic") -> str:
    """Publish an event with 1 standard ticket, bought by ``buyer``; the registration's id."""
    created = client.post("/api/v1/events", json={**EVENT, "waitlist_mode": mode, "offer_hours": 2}, headers=producer)
    assert created.status_code == 201, created.text
    assert (created.json()["waitlist_mode"], created.json()["offer_hours"]) == (mode, 2)
    ticket = {"type_id": "standard", "name": "Standard", "price": 2_500, "quota": 1}
    assert client.post("/api/v1/events/jazz/ticket-types", json=ticket, headers=producer).status_code == 201
    assert client.post("/api/v1/events/jazz/publish", headers=producer).status_code == 200
    held = client.post(
        "/api/v1/events/jazz/registrations",
        json={"type_id": "standard", "quantity": 1, "idempotency_key": "b"},
        headers=buyer,
    ).json()
    paid = client.post(
        f"/api/v1/registrations/{held['registration_id']}/confirm", json={"idempotency_key": "p"}, headers=buyer
    )
    assert paid.status_code == 200, paid.text
    return str(held["registration_id"])


def join(client: Client, fan: dict[str, str]) -> dict[str, Any]:
    joined = client.post("/api/v1/events/jazz/waitlist", json={"type_id": "standard"}, headers=fan)
    assert joined.status_code == 201, joined.text
    body: dict[str, Any] = joined.json()
    return body


def run_jobs(services: Services) -> None:
    JobRunner(services.jobs, services.job_handlers).run_due(schedules=[])


def test_an_offer_over_http(client: Client, auth: TokenFactory, services: Services) -> None:
    producer, ann, fan, fan2 = auth("pat"), auth("ann"), auth("fan"), auth("fan2")
    bought = sold_out(client, producer, ann)
    # Given two fans in line
    first, second = join(client, fan), join(client, fan2)
    assert (first["status"], first["position"], second["position"]) == ("waiting", 1, 2)
    assert [each["entry_id"] for each in client.get("/api/v1/waitlist", headers=fan).json()["entries"]] == [
        first["entry_id"]
    ]
    line = client.get("/api/v1/events/jazz/waitlist", headers=producer).json()
    assert [each["entry_id"] for each in line["entries"]] == [first["entry_id"], second["entry_id"]]
    # When the buyer cancels, the first in line gets an offer
    assert client.post(f"/api/v1/registrations/{bought}/cancel", headers=ann).status_code == 200
    run_jobs(services)
    offered = client.get(f"/api/v1/waitlist/{first['entry_id']}", headers=fan).json()
    assert offered["status"] == "offered" and offered["position"] is None and offered["offer_expires_at"]
    assert client.get(f"/api/v1/waitlist/{second['entry_id']}", headers=fan2).json()["position"] == 1
    # Then the fan confirms it like any hold
    confirmed = client.post(
        f"/api/v1/registrations/{offered['registration_id']}/confirm", json={"idempotency_key": "c"}, headers=fan
    )
    assert confirmed.status_code == 200, confirmed.text
    assert client.get(f"/api/v1/waitlist/{first['entry_id']}", headers=fan).json()["status"] == "accepted"
    # and the second leaves the line
    left = client.post(f"/api/v1/waitlist/{second['entry_id']}/leave", headers=fan2)
    assert left.status_code == 200 and left.json()["status"] == "left"


def test_manual_approval_over_http(client: Client, auth: TokenFactory, services: Services) -> None:
    producer, ann, fan = auth("pat"), auth("ann"), auth("fan")
    bought = sold_out(client, producer, ann, mode="manual")
    entry = join(client, fan)
    client.post(f"/api/v1/registrations/{bought}/cancel", headers=ann)
    run_jobs(services)
    assert client.get(f"/api/v1/waitlist/{entry['entry_id']}", headers=fan).json()["status"] == "waiting"
    approved = client.post(
        "/api/v1/events/jazz/waitlist/approve", json={"entry_ids": [entry["entry_id"]]}, headers=producer
    )
    assert approved.status_code == 200, approved.text
    assert [each["status"] for each in approved.json()["entries"]] == ["offered"]
    declined = client.post(f"/api/v1/waitlist/{entry['entry_id']}/decline", headers=fan)
    assert declined.status_code == 200 and declined.json()["status"] == "declined"


def test_bad_waitlist_input_is_a_problem_naming_the_field(client: Client, auth: TokenFactory) -> None:
    producer, ann, fan, olga = auth("pat"), auth("ann"), auth("fan"), auth("olga")
    sold_out(client, producer, ann)
    entry = join(client, fan)

    def unchanged() -> None:
        line = client.get("/api/v1/events/jazz/waitlist?all=true", headers=producer).json()["entries"]
        assert [(each["entry_id"], each["status"]) for each in line] == [(entry["entry_id"], "waiting")]

    # Joining twice
    twice = client.post("/api/v1/events/jazz/waitlist", json={"type_id": "standard"}, headers=fan)
    assert assert_problem(twice, 409)["field"] == "type_id"
    # Approving in automatic mode
    auto = client.post(
        "/api/v1/events/jazz/waitlist/approve", json={"entry_ids": [entry["entry_id"]]}, headers=producer
    )
    assert assert_problem(auto, 409)["field"] == "waitlist_mode"
    # Another producer's event
    foreign = client.post("/api/v1/events/jazz/waitlist/reject", json={"entry_ids": [entry["entry_id"]]}, headers=olga)
    assert assert_problem(foreign, 404)["field"] == "event_id"
    assert assert_problem(client.get("/api/v1/events/jazz/waitlist", headers=olga), 404)["field"] == "event_id"
    # Unknown ids, an unknown type, someone else's entry
    ghost = client.post("/api/v1/waitlist/ghost/leave", headers=fan)
    assert assert_problem(ghost, 404)["field"] == "entry_id"
    stranger = client.post(f"/api/v1/waitlist/{entry['entry_id']}/leave", headers=olga)
    assert assert_problem(stranger, 404)["field"] == "entry_id"
    vip = client.post("/api/v1/events/jazz/waitlist", json={"type_id": "vip"}, headers=olga)
    assert assert_problem(vip, 404)["field"] == "type_id"
    no_event = client.post("/api/v1/events/nope/waitlist", json={"type_id": "standard"}, headers=olga)
    assert assert_problem(no_event, 404)["field"] == "event_id"
    # Declining without an offer, a bad mode, bad hours
    early = client.post(f"/api/v1/waitlist/{entry['entry_id']}/decline", headers=fan)
    assert assert_problem(early, 409)["field"] == "entry_id"
    for change, field in (({"waitlist_mode": "lottery"}, "waitlist_mode"), ({"offer_hours": 0}, "offer_hours")):
        bad = client.put("/api/v1/events/jazz", json={**EVENT, **change}, headers=producer)
        assert assert_problem(bad, 400)["field"] == field
    # Your own entries: a bad cursor or limit
    for query, field in (("cursor=garbage", "cursor"), ("limit=0", "limit"), ("limit=501", "limit")):
        assert assert_problem(client.get(f"/api/v1/waitlist?{query}", headers=fan), 400)["field"] == field
    unchanged()


def test_joining_a_type_that_is_not_sold_out_is_refused(client: Client, auth: TokenFactory) -> None:
    producer, fan = auth("pat"), auth("fan")
    assert client.post("/api/v1/events", json=EVENT, headers=producer).status_code == 201
    ticket = {"type_id": "standard", "name": "Standard", "price": 2_500, "quota": 3}
    client.post("/api/v1/events/jazz/ticket-types", json=ticket, headers=producer)
    client.post("/api/v1/events/jazz/publish", headers=producer)
    refused = client.post("/api/v1/events/jazz/waitlist", json={"type_id": "standard"}, headers=fan)
    assert assert_problem(refused, 409)["field"] == "type_id"
    assert client.get("/api/v1/waitlist", headers=fan).json()["entries"] == []


def test_bad_approval_bodies_name_entry_ids(client: Client, auth: TokenFactory) -> None:
    producer, ann, fan = auth("pat"), auth("ann"), auth("fan")
    sold_out(client, producer, ann, mode="manual")
    entry = join(client, fan)
    url = "/api/v1/events/jazz/waitlist/approve"
    for body, status in (
        ({"entry_ids": []}, 400),
        ({"entry_ids": [entry["entry_id"], entry["entry_id"]]}, 400),
        ({"entry_ids": ["ghost"]}, 404),
        ({"entry_ids": [entry["entry_id"]]}, 409),  # no seat is free
    ):
        refused = client.post(url, json=body, headers=producer)
        assert assert_problem(refused, status)["field"] == "entry_ids", refused.text
    line = client.get("/api/v1/events/jazz/waitlist", headers=producer).json()["entries"]
    assert [each["status"] for each in line] == ["waiting"]
