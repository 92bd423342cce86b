"""The assistant over HTTP: own data only, streamed replies over SSE, model outages as problems."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest
from litestar.testing import TestClient

from tests.conftest import memory_settings
from tests.http.conftest import TokenFactory
from townsquare.bootstrap import Services, bootstrap
from townsquare.core.clock import ManualClock
from townsquare.hosts.http.app import create_app


def _events(body: str) -> list[tuple[str, dict[str, object]]]:
    found = []
    for block in body.replace("\r\n", "\n").strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in lines:
            found.append((lines["event"], json.loads(lines["data"])))
    return found


def test_memories_are_the_callers_own(client: TestClient, auth: TokenFactory) -> None:  # type: ignore[type-arg]
    made = client.post("/api/v1/assistant/memories", json={"text": "I like tea"}, headers=auth("alice"))
    assert made.status_code == 201 and made.json()["created"] is True
    memory_id = made.json()["memory"]["id"]
    recalled = client.get("/api/v1/assistant/memories/recall", params={"q": "tea", "k": 5}, headers=auth("alice"))
    assert [hit["memory"]["id"] for hit in recalled.json()["hits"]] == [memory_id]
    assert client.get(f"/api/v1/assistant/memories/{memory_id}", headers=auth("bob")).status_code == 404
    assert client.delete(f"/api/v1/assistant/memories/{memory_id}", headers=auth("bob")).status_code == 404
    bobs = client.get("/api/v1/assistant/memories/recall", params={"q": "tea"}, headers=auth("bob"))
    assert bobs.json()["hits"] == []
    assert client.delete(f"/api/v1/assistant/memories/{memory_id}", headers=auth("alice")).status_code == 204


def test_bad_recalls_are_problems_naming_the_field(client: TestClient, auth: TokenFactory) -> None:  # type: ignore[type-arg]
    for params, field in (({"q": "tea", "k": 0}, "k"), ({"q": "tea", "k": 10_000}, "k"), ({"q": " "}, "query")):
        answer = client.get("/api/v1/assistant/memories/recall", params=params, headers=auth("alice"))
        assert answer.status_code == 400 and answer.json()["field"] == field
        assert answer.headers["content-type"].startswith("application/problem+json")


def test_an_empty_memory_is_a_400_and_a_huge_one_is_refused(client: TestClient, auth: TokenFactory) -> None:  # type: ignore[type-arg]
    empty = client.post("/api/v1/assistant/memories", json={"text": ""}, headers=auth("alice"))
    assert empty.status_code == 400 and empty.json()["field"] == "text"
    huge = client.post("/api/v1/assistant/memories", json={"text": "x" * 1_048_576}, headers=auth("alice"))
    assert huge.status_code in (400, 413)
    assert client.get("/api/v1/assistant/memories", headers=auth("alice")).json()["memories"] == []


def test_a_reply_streams_over_sse_without_proxy_buffering(client: TestClient, auth: TokenFactory) -> None:  # type: ignore[type-arg]
    conversation = client.post("/api/v1/assistant/conversations", json={"title": "t"}, headers=auth("alice")).json()
    url = f"/api/v1/assistant/conversations/{conversation['id']}/messages"
    with client.stream("POST", url, json={"content": "How many unread notifications?"}, headers=auth("alice")) as r:
        assert r.status_code == 200
        assert r.headers["x-accel-buffering"] == "no"
        assert r.headers["content-type"].startswith("text/event-stream")
        body = "".join(r.iter_text())
    events = _events(body)
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "turn" and kinds[1] == "tool" and kinds[-1] == "done"
    assert events[1][1]["name"] == "notifications_counts" and events[1][1]["ok"] is True
    assert json.loads(str(events[1][1]["result"]))["result"]["total"] == 0
    assert events[-1][1]["status"] == "complete"
    stored = client.get(url, headers=auth("alice")).json()["messages"]
    assert [m["role"] for m in stored] == ["user", "assistant", "tool"]
    assert stored[2]["tool_name"] == "notifications_counts"
    assert client.get(url, headers=auth("bob")).status_code == 404


def test_a_reply_can_be_asked_for_as_json(client: TestClient, auth: TokenFactory) -> None:  # type: ignore[type-arg]
    conversation = client.post("/api/v1/assistant/conversations", json={}, headers=auth("alice")).json()
    url = f"/api/v1/assistant/conversations/{conversation['id']}/replies"
    reply = client.post(url, json={"content": "what is my tier?"}, headers=auth("alice")).json()
    assert reply["status"] == "complete" and "Bronze" in reply["text"]
    assert [call["name"] for call in reply["tool_calls"]] == ["earnings_tier"]


@pytest.fixture
def down_client() -> Iterator[tuple[TestClient, Services]]:  # type: ignore[type-arg]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = memory_settings(assistant_model_url=f"http://127.0.0.1:{port}/v1", assistant_model_timeout=1.0)
    services = bootstrap(settings, clock=ManualClock(settings.frozen_clock))  # type: ignore[arg-type]
    with TestClient(create_app(settings, services)) as test_client:
        yield test_client, services
    services.close()


def test_a_model_that_is_down_is_a_503_and_nothing_is_stored_as_complete(
    down_client: tuple[TestClient, Services],  # type: ignore[type-arg]
    auth: TokenFactory,
) -> None:
    client, services = down_client
    memory = client.post("/api/v1/assistant/memories", json={"text": "tea"}, headers=auth("alice"))
    assert memory.status_code == 503 and memory.json()["type"].endswith("model_unavailable")
    assert "retry-after" in memory.headers
    conversation = services.assistant.chat.start(__import__("townsquare.core.identity").core.identity.Actor("alice"))
    url = f"/api/v1/assistant/conversations/{conversation.id}/messages"
    answer = client.post(url, json={"content": "hi"}, headers=auth("alice"))
    assert answer.status_code == 503
    stored = client.get(url, headers=auth("alice")).json()["messages"]
    assert [(m["role"], m["status"]) for m in stored] == [("user", "complete"), ("assistant", "incomplete")]
    assert "unreachable" in stored[1]["error"]


def test_a_tool_is_refused_exactly_where_the_users_own_http_call_is(
    client: TestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    services: Services,
) -> None:
    from tests.contract.test_events_waitlist import FANS, join_all, sold_out_event
    from townsquare.core.assistant.models import ToolCall
    from townsquare.core.identity import Actor

    sold_out_event(services, quota=2)
    join_all(services, FANS[:3])
    chat = services.assistant.chat
    # (the user's HTTP call, the tool doing the same): for a fan and for the producer
    pairs = [
        (("GET", "/api/v1/reports/events/jazz/stats", None), ("reports_event_stats", {"event_id": "jazz"})),
        (
            ("PUT", "/api/v1/events/jazz/ticket-types/standard", {"quota": 5}),
            ("events_raise_quota", {"event_id": "jazz", "type_id": "standard", "quota": 5}),
        ),
        (("GET", "/api/v1/reports/stats", None), ("reports_stats", {})),
    ]
    statuses: dict[str, list[int]] = {}
    for user in (FANS[0].user_id, "pat"):
        conversation = chat.start(Actor(user))
        for index, ((method, path, body), (tool, arguments)) in enumerate(pairs):
            answer = client.request(method, path, json=body, headers=auth(user))
            statuses.setdefault(user, []).append(answer.status_code)
            result = chat.run_tool(
                Actor(user), conversation.id, ToolCall(id=f"{user}{index}", name=tool, arguments=arguments), [tool]
            )
            if answer.status_code < 400:
                assert result.ok, (user, tool, result.content)
            else:
                problem = answer.json()
                refusal = json.loads(result.content)
                assert not result.ok and problem["type"].endswith("/" + refusal["error"]), (user, tool)
                assert problem.get("field") == refusal.get("field"), (user, tool)
    # The fan was refused both ways (the event's stats and quota are the producer's); the producer was not
    assert statuses == {FANS[0].user_id: [404, 404, 200], "pat": [200, 200, 200]}
    assert [t.quota for t in services.events.ticket_types(Actor("pat"), "jazz")] == [5]
