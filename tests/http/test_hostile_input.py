"""Hostile input at the HTTP edge, on every route and both adapters: bodies that do not
decode, tokens that must not authenticate, floods of bad tokens, and the response headers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import jwt
import pytest
from litestar.testing import TestClient

from tests.conftest import memory_settings
from tests.http.conftest import TokenFactory
from tests.http.test_host import assert_problem
from townsquare.bootstrap import bootstrap
from townsquare.hosts.http.app import create_app
from townsquare.settings import DEV_JWT_SECRET, RateLimit

Client = TestClient[Any]

UNDECODABLE_BODIES = {
    "truncated": b'{"title": "a"',
    "not-utf-8": b'{"title": "\xff\xfe"}',
    "latin-1": '{"title": "café"}'.encode("latin-1"),
    "form": b"title=a&body=b",
    "xml": b"<?xml version='1.0'?><item><title>a</title></item>",
    "lone-surrogate": b'{"title": "\\ud800", "item_id": "x", "kind": "post"}',
    "nested-1000-deep": b"[" * 1000 + b"]" * 1000,
    "nested-object-100000-deep": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    "number-out-of-range": b'{"advance_seconds": 1e999}',
    "bare-garbage": b"\x00\x01\x02",
}


def body_operations(client: Client) -> list[tuple[str, str]]:
    """(method, path) of every operation with a request body, path parameters filled in."""
    spec = client.get("/schema/openapi.json").json()
    found = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if "requestBody" in operation:
                filled = path
                for parameter in operation.get("parameters", []):
                    if parameter["in"] == "path":
                        filled = filled.replace("{" + parameter["name"] + "}", "00000000-0000-4000-8000-000000000000")
                found.append((method.upper(), filled))
    return found


@pytest.mark.parametrize("content_type", ["application/json", "application/x-www-form-urlencoded", "text/xml"])
def test_every_route_refuses_a_body_that_does_not_decode_with_a_400(
    client: Client, auth: TokenFactory, content_type: str
) -> None:
    # Given every operation that takes a body, and an admin (so no guard answers first)
    operations = body_operations(client)
    assert len(operations) >= 12
    headers = {**auth("alice", admin=True), "content-type": content_type}
    for method, path in operations:
        for name, body in UNDECODABLE_BODIES.items():
            # When the body cannot be decoded as JSON
            response = client.request(method, path, content=body, headers=headers)
            # Then the answer is a 400 problem naming the body, whatever the route
            problem = assert_problem(response, 400)
            assert problem["field"] == "body", (method, path, name, problem)


def _signed(claims: Any, header: dict[str, Any] | None = None) -> str:
    """A token over any JSON claims (PyJWT refuses to encode some of these), signed with the dev secret."""

    def part(value: Any) -> str:
        raw = value if isinstance(value, bytes) else json.dumps(value).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    signing_input = part(header or {"alg": "HS256", "typ": "JWT"}) + "." + part(claims)
    signature = hmac.new(DEV_JWT_SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + part(signature)


FUTURE = 4102444800


@pytest.mark.parametrize(
    "token",
    [
        jwt.encode({"sub": "alice\u0000", "exp": FUTURE}, DEV_JWT_SECRET, algorithm="HS256"),
        jwt.encode({"sub": "alice\nadmin", "exp": FUTURE}, DEV_JWT_SECRET, algorithm="HS256"),
        jwt.encode({"sub": "alice\u202e", "exp": FUTURE}, DEV_JWT_SECRET, algorithm="HS256"),
        jwt.encode({"sub": "\u200balice", "exp": FUTURE}, DEV_JWT_SECRET, algorithm="HS256"),
        jwt.encode({"sub": "a" * 201, "exp": FUTURE}, DEV_JWT_SECRET, algorithm="HS256"),
        jwt.encode({"sub": "", "exp": FUTURE}, DEV_JWT_SECRET, algorithm="HS256"),
        _signed({"sub": "\ud800", "exp": FUTURE}),
        _signed({"sub": "alice", "exp": "4102444800"}),
        _signed({"sub": "alice", "exp": 4102444800.5}),
        _signed({"sub": "alice", "exp": True}),
        _signed({"sub": "alice", "exp": [4102444800]}),
        _signed({"sub": "alice", "exp": 1e999}),
        _signed({"sub": "alice", "exp": 10**30}),
        _signed({"sub": "alice", "exp": FUTURE, "nbf": 1e999}),
        _signed({"sub": "alice", "exp": FUTURE, "iat": "yesterday"}),
        _signed({"sub": "alice", "exp": FUTURE, "pad": "x" * 9000}),
        _signed(b"[" * 1000 + b"]" * 1000),
        _signed(b"\xff\xfe"),
        _signed(["alice"]),
        _signed({"sub": "alice", "exp": FUTURE}, {"alg": "HS256", "crit": ["x" * 10]}),
    ],
    ids=[
        "sub-nul",
        "sub-newline",
        "sub-bidi",
        "sub-zero-width",
        "sub-too-long",
        "sub-empty",
        "sub-surrogate",
        "exp-string",
        "exp-float",
        "exp-bool",
        "exp-list",
        "exp-infinite",
        "exp-past-year-9999",
        "nbf-infinite",
        "iat-string",
        "too-long",
        "payload-nested",
        "payload-not-utf-8",
        "payload-not-object",
        "unknown-crit-header",
    ],
)
def test_validly_signed_tokens_with_bad_claims_are_401(client: Client, token: str) -> None:
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert_problem(response, 401)


def test_a_flood_of_bad_tokens_from_one_address_gets_429() -> None:
    # Given a budget of 5 requests a minute per caller
    settings = memory_settings(rate_limit=RateLimit(count=5, per="minute"))
    with TestClient(create_app(settings, bootstrap(settings))) as test_client:
        # When one address sends 8 requests with tokens that do not verify
        statuses = [
            test_client.get("/api/v1/me", headers={"Authorization": f"Bearer forged.{i}.token"}).status_code
            for i in range(8)
        ]
        # Then the first 5 are 401 and the rest are refused before authentication
        assert statuses == [401] * 5 + [429] * 3
        limited = test_client.get("/api/v1/me")
        assert_problem(limited, 429)
        assert int(limited.headers["retry-after"]) >= 1


def test_responses_say_nosniff_and_api_answers_are_not_stored(client: Client, auth: TokenFactory) -> None:
    answers = [
        client.get("/api/v1/me", headers=auth("alice")),
        client.get("/api/v1/me"),  # a 401 problem
        client.get("/api/v1/no-such-route", headers=auth("alice")),
        client.get("/api/v1/notifications", headers=auth("alice")),
    ]
    for answer in answers:
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["cache-control"] == "no-store"
    assert client.get("/health").headers["x-content-type-options"] == "nosniff"


def test_the_docs_ui_loads_its_scripts_from_the_host(client: Client) -> None:
    # Given the docs pages the host serves
    for page in ("/schema/swagger", "/schema"):
        html = client.get(page).text
        # Then every script and stylesheet they load comes from the host itself
        sources = [
            chunk.split('"', 2)[1] for chunk in html.replace("'", '"').split("src=")[1:] + html.split("href=")[1:]
        ]
        assert sources, page
        for source in sources:
            assert not source.startswith(("http:", "https:", "//")), (page, source)
            if source.endswith((".js", ".css")):
                assert client.get(source).status_code == 200, source
