"""Memory mode and Postgres refuse the same hostile input with the same problem, on every write route.

Hypothesis puts hostile strings (NUL, unpaired surrogates, controls, bidi marks, very long,
blank) into each text field and path parameter of every write operation, and sends the same
request to a host over each adapter: the two answers must agree on the status, the problem
type and the field. A value the core let through and Postgres then refused (NUL in a title,
a price past bigint) shows up here as a 201 beside a 400.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient
from tests.conftest import memory_settings, postgres_settings

from townsquare.bootstrap import bootstrap
from townsquare.hosts.http.app import create_app
from townsquare.hosts.http.auth import mint_token
from townsquare.settings import DEV_JWT_SECRET, RateLimit

pytestmark = pytest.mark.postgres

EXAMPLES = int(os.environ.get("REFUSAL_EXAMPLES", "30"))
HOSTILE = st.one_of(
    st.sampled_from(
        ["\x00", "a\x00b", "\ud800", "x\udfff", "\u202e", "\x1b[2J", "\n", " ", "", "x" * 6000, "\ufeff", "a\r\nb"]
    ),
    st.text(st.characters(exclude_categories=()), max_size=12),  # surrogates and controls included
)
NUMBERS = st.one_of(
    st.sampled_from([10**400, 2**63, 2**63 - 1, 10**12 + 1, -1, 0]),
    st.integers(min_value=-(2**70), max_value=2**70),
)
EARNING = "00000000-0000-4000-8000-000000000000"


def write_requests(text: str, number: int) -> list[tuple[str, str, Any]]:
    """(method, path, JSON body) of every write operation, with ``text`` or ``number`` in one field each."""
    in_path = quote(text.encode("utf-8", "surrogatepass"), safe="")
    product = {"item_id": "p1", "kind": "product", "title": "t", "price_cents": 100, "currency": "EUR"}
    send = {"user_id": "bob", "channel": "inapp", "category": "follow", "title": "t"}
    record = {"creator_id": "carol", "kind": "sale", "amount": 500, "currency": "EUR", "idempotency_key": "k"}
    requests: list[tuple[str, str, Any]] = []
    for key in ("item_id", "title", "body", "currency", "creator_id"):
        requests.append(("POST", "/api/v1/feed/items", {**product, key: text}))
    requests.append(("POST", "/api/v1/feed/items", {**product, "price_cents": number}))
    for area in ("following", "hidden", "cart"):
        requests.append(("PUT", f"/api/v1/feed/{area}/{in_path}", None))
    requests.append(("DELETE", f"/api/v1/feed/items/{in_path}", None))
    for key in ("user_id", "channel", "category", "title", "body", "idempotency_key"):
        requests.append(("POST", "/api/v1/notifications/send", {**send, key: text}))
    requests.append(("POST", "/api/v1/notifications/send", {**send, "data": {text: text}}))
    requests.append(("POST", "/api/v1/notifications/read", {"ids": [text]}))
    requests.append(("POST", "/api/v1/notifications/read-all", {"lane": text}))
    requests.append(("POST", "/api/v1/notifications/test", {"category": text}))
    for key in ("email_address", "timezone", "digest_frequency"):
        requests.append(("PATCH", "/api/v1/notification-prefs", {key: text}))
    requests.append(("PATCH", "/api/v1/notification-prefs", {"quiet_hours": {"start": text}}))
    requests.append(("POST", "/api/v1/notification-digest/mark-sent", {"user_id": "bob", "period_key": text}))
    for key in ("creator_id", "kind", "currency", "idempotency_key"):
        requests.append(("POST", "/api/v1/earnings/events", {**record, key: text}))
    requests.append(("POST", "/api/v1/earnings/events", {**record, "amount": number}))
    requests.append(("POST", f"/api/v1/earnings/events/{in_path}/capture", {"currency": "EUR", "idempotency_key": "c"}))
    requests.append(
        ("POST", f"/api/v1/earnings/events/{EARNING}/capture", {"currency": "EUR", "idempotency_key": text})
    )
    requests.append(("POST", f"/api/v1/earnings/events/{EARNING}/void", {"idempotency_key": text}))
    requests.append(
        ("POST", f"/api/v1/earnings/events/{EARNING}/refunds", {"idempotency_key": "r", "reason": text, "amount": 1})
    )
    requests.append(("POST", f"/api/v1/admin/earnings/{in_path}/recompute", None))
    requests.append(("POST", "/api/v1/admin/jobs/test", {"fail": True, "idempotency_key": text}))
    requests.append(("POST", "/api/v1/admin/jobs/test", {"fail": True, "max_attempts": number}))
    return requests


def answer(client: TestClient[Any], method: str, path: str, body: Any, headers: dict[str, str]) -> tuple[Any, ...]:
    """What a client can compare: the status, and for a problem its type and field."""
    content = None if body is None else json.dumps(body).encode()
    response = client.request(method, path, content=content, headers=headers)
    assert response.status_code < 500, (method, path, body, response.text)
    if response.headers.get("content-type", "").startswith("application/problem+json"):
        problem = response.json()
        return (response.status_code, problem["type"], problem.get("field"))
    return (response.status_code,)


@pytest.fixture
def clients(pg_url: str) -> Iterator[tuple[TestClient[Any], TestClient[Any]]]:
    unlimited = RateLimit(count=10**9, per="minute")
    memory = memory_settings(rate_limit=unlimited)
    postgres = postgres_settings(pg_url, rate_limit=unlimited)
    memory_services, postgres_services = bootstrap(memory), bootstrap(postgres)
    try:
        with (
            TestClient(create_app(memory, memory_services)) as on_memory,
            TestClient(create_app(postgres, postgres_services)) as on_postgres,
        ):
            yield on_memory, on_postgres
    finally:
        memory_services.close()
        postgres_services.close()


def test_both_adapters_refuse_hostile_input_alike(clients: tuple[TestClient[Any], TestClient[Any]]) -> None:
    on_memory, on_postgres = clients
    token = mint_token(DEV_JWT_SECRET, "alice", now=datetime.now(UTC), roles=["admin"], ttl=timedelta(hours=2))
    headers = {"Authorization": f"Bearer {token}", "content-type": "application/json"}

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(text=HOSTILE, number=NUMBERS)
    def same_answers(text: str, number: int) -> None:
        for method, path, body in write_requests(text, number):
            # When the same request goes to a host over each adapter
            on_memory_answer = answer(on_memory, method, path, body, headers)
            on_postgres_answer = answer(on_postgres, method, path, body, headers)
            # Then both answer alike
            assert on_memory_answer == on_postgres_answer, (method, path, body)

    same_answers()
