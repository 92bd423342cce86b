"""The HTTP host's frame: auth, problem details, rate limits, health, schema, test-only routes."""

from __future__ import annotations

import base64
import json
import warnings
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from jwt.warnings import InsecureKeyLengthWarning
from litestar import get
from litestar.testing import TestClient, create_test_client

from tests.conftest import memory_settings
from tests.http.conftest import TokenFactory
from townsquare.bootstrap import bootstrap
from townsquare.hosts.http.app import create_app
from townsquare.hosts.http.auth import TokenVerifier, admin_guard
from townsquare.hosts.http.problems import EXCEPTION_HANDLERS
from townsquare.settings import DEV_JWT_SECRET, RateLimit

Client = TestClient[Any]


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text
    return body


def test_health_and_ready(client: Client) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ok"


def test_ready_reports_a_database_per_mode(client: Client, adapter: str) -> None:
    checks = client.get("/ready").json()["checks"]
    assert ("database" in checks) == (adapter == "postgres")


def test_a_minted_token_reaches_an_authenticated_endpoint(client: Client, auth: TokenFactory) -> None:
    # Given a token for alice
    # When she asks who she is
    response = client.get("/api/v1/me", headers=auth("alice"))
    # Then the host knows her and her roles
    assert response.status_code == 200
    assert response.json() == {"user_id": "alice", "roles": ["authenticated"], "is_admin": False}
    assert client.get("/api/v1/me", headers=auth("root", admin=True)).json()["is_admin"] is True


def test_hosted_platform_tokens_keep_working(client: Client) -> None:
    # A token shaped like the hosted-Postgres platform's: aud, role, app_metadata.roles.
    now = int(datetime.now(UTC).timestamp())
    claims = {
        "sub": "5f0c-user",
        "aud": "authenticated",
        "role": "authenticated",
        "exp": now + 600,
        "iat": now,
        "app_metadata": {"provider": "email", "roles": ["admin"]},
        "email": "x@example.com",
    }
    token = jwt.encode(claims, DEV_JWT_SECRET, algorithm="HS256")
    body = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert body == {"user_id": "5f0c-user", "roles": ["admin", "authenticated"], "is_admin": True}


def _none_alg_token() -> str:
    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part({'sub': 'mallory', 'exp': 4102444800})}."


def _hs384_token() -> str:
    # The right secret under an algorithm the host doesn't accept. PyJWT warns that the dev
    # secret is short for HS384; the point here is the refusal, so the warning is noise.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode({"sub": "a", "exp": 4102444800}, DEV_JWT_SECRET, algorithm="HS384")


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        (None, "bearer token"),
        ("Basic dXNlcjpwdw==", "bearer token"),
        ("Bearer not-a-jwt", "invalid"),
        ("Bearer " + jwt.encode({"sub": "a", "exp": 4102444800}, "x" * 32, algorithm="HS256"), "invalid"),
        ("Bearer " + jwt.encode({"sub": "a", "exp": 1}, DEV_JWT_SECRET, algorithm="HS256"), "expired"),
        ("Bearer " + jwt.encode({"exp": 4102444800}, DEV_JWT_SECRET, algorithm="HS256"), "invalid"),
        ("Bearer " + jwt.encode({"sub": "a"}, DEV_JWT_SECRET, algorithm="HS256"), "invalid"),
        ("Bearer " + jwt.encode({"sub": 7, "exp": 4102444800}, DEV_JWT_SECRET, algorithm="HS256"), "invalid"),
        ("Bearer " + _hs384_token(), "invalid"),
        ("Bearer " + _none_alg_token(), "invalid"),
    ],
    ids=["missing", "basic", "garbage", "forged", "expired", "no-sub", "no-exp", "int-sub", "hs384", "alg-none"],
)
def test_bad_tokens_are_401_problems(client: Client, header: str | None, detail: str) -> None:
    headers = {"Authorization": header} if header else {}
    body = assert_problem(client.get("/api/v1/me", headers=headers), 401)
    assert detail in body["detail"]


def test_audience_is_enforced_when_configured() -> None:
    verifier = TokenVerifier(DEV_JWT_SECRET, roles_claim="app_metadata.roles", audience="authenticated")
    good = jwt.encode({"sub": "a", "exp": 4102444800, "aud": "authenticated"}, DEV_JWT_SECRET, algorithm="HS256")
    other = jwt.encode({"sub": "a", "exp": 4102444800, "aud": "elsewhere"}, DEV_JWT_SECRET, algorithm="HS256")
    assert verifier.verify(good).user_id == "a"
    with pytest.raises(Exception, match=r"(?i)audience"):
        verifier.verify(other)


def test_admin_guard_refuses_non_admins(auth: TokenFactory) -> None:
    @get("/admin-only", guards=[admin_guard], sync_to_thread=False)
    def admin_only() -> dict[str, str]:
        return {"ok": "yes"}

    from litestar.middleware import DefineMiddleware

    from townsquare.hosts.http.auth import JWTAuthenticationMiddleware
    from townsquare.hosts.http.middleware import RateLimiter

    verifier = TokenVerifier(DEV_JWT_SECRET, roles_claim="app_metadata.roles")
    limiter = RateLimiter(RateLimit(count=100, per="minute"), None)
    with create_test_client(
        [admin_only],
        middleware=[DefineMiddleware(JWTAuthenticationMiddleware, verifier=verifier, limiter=limiter, exclude=[])],
        exception_handlers=EXCEPTION_HANDLERS,
    ) as test_client:
        refused = test_client.get("/admin-only", headers=auth("alice"))
        assert refused.status_code == 403
        assert "admin role" in refused.json()["detail"]
        assert test_client.get("/admin-only", headers=auth("boss", admin=True)).json() == {"ok": "yes"}


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("GET", "/no/such/route", {}, 404),
        ("DELETE", "/health", {}, 405),
        (
            "POST",
            "/api/v1/testing/clock",
            {"content": b"{not json", "headers": {"content-type": "application/json"}},
            400,
        ),
        ("POST", "/api/v1/testing/clock", {"json": {"advance_seconds": "soon"}}, 400),
        ("POST", "/api/v1/testing/clock", {"json": {"advance_seconds": -5}}, 400),
        ("POST", "/api/v1/testing/clock", {"json": {"now": "9999-01-01T00:00:00Z"}}, 400),
        ("POST", "/api/v1/testing/clock", {"json": {"advance_seconds": 1e300}}, 400),
        ("POST", "/api/v1/testing/clock", {"json": {}}, 400),
        ("POST", "/api/v1/testing/clock", {"json": [1, 2]}, 400),
        ("POST", "/api/v1/testing/clock", {"content": b"x" * 2_000_000}, 413),
    ],
)
def test_bad_requests_are_specific_problems(method: str, path: str, kwargs: dict[str, Any], status: int) -> None:
    settings = memory_settings()
    with TestClient(create_app(settings, bootstrap(settings))) as test_client:
        assert_problem(test_client.request(method, path, **kwargs), status)


def test_an_unexpected_error_is_a_500_problem_without_internals() -> None:
    @get("/boom", sync_to_thread=False)
    def boom() -> None:
        raise RuntimeError("secret internals")

    with create_test_client([boom], exception_handlers=EXCEPTION_HANDLERS) as test_client:
        response = test_client.get("/boom")
    assert response.status_code == 500
    assert "secret internals" not in response.text
    assert response.json()["type"].endswith("internal_error")


def test_rate_limit_answers_429_with_retry_after(auth: TokenFactory) -> None:
    settings = memory_settings(rate_limit=RateLimit(count=3, per="minute"))
    with TestClient(create_app(settings, bootstrap(settings))) as test_client:
        statuses = [test_client.get("/api/v1/me", headers=auth("alice")).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        limited = test_client.get("/api/v1/me", headers=auth("alice"))
        assert_problem(limited, 429)
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        # Another user has a budget of their own.
        assert test_client.get("/api/v1/me", headers=auth("bob")).status_code == 200


def test_request_ids_are_echoed_or_made(client: Client) -> None:
    assert client.get("/health", headers={"x-request-id": "abc-123"}).headers["x-request-id"] == "abc-123"
    assert len(client.get("/health", headers={"x-request-id": "bad id\n"}).headers["x-request-id"]) == 32


def test_openapi_schema_is_served(client: Client) -> None:
    schema = client.get("/schema/openapi.json").json()
    assert schema["info"]["title"] == "townsquare"
    assert "/api/v1/me" in schema["paths"]
    assert schema["components"]["securitySchemes"]["BearerToken"]["scheme"] == "bearer"


def test_test_only_routes_exist_in_memory_mode_only(client: Client, adapter: str) -> None:
    response = client.post("/api/v1/testing/clock", json={"advance_seconds": 90})
    if adapter == "memory":
        # (the clock passed 12:01, the due time of the two every-minute jobs, the outbox sweep
        # and the waitlist's offer expiry: they ran)
        jobs = {"completed": 2, "failed": 0, "stale": 0, "rescued": 0, "scheduled": 2}
        assert response.json() == {"now": "2026-01-15T12:01:30Z", "jobs": jobs}
        assert client.post("/api/v1/testing/reset").json() == {"status": "reset"}
    else:
        assert_problem(response, 404)
        assert "/api/v1/testing/reset" not in client.get("/schema/openapi.json").json()["paths"]


def test_clock_can_be_set() -> None:
    settings = memory_settings()
    with TestClient(create_app(settings, bootstrap(settings))) as test_client:
        response = test_client.post("/api/v1/testing/clock", json={"now": "2026-02-01T00:00:00Z"})
        assert response.json()["now"] == "2026-02-01T00:00:00Z"
        assert test_client.get("/api/v1/testing/clock").json()["now"] == "2026-02-01T00:00:00Z"


def test_a_missing_body_says_so() -> None:
    settings = memory_settings()
    with TestClient(create_app(settings, bootstrap(settings))) as test_client:
        body = assert_problem(test_client.post("/api/v1/testing/clock"), 400)
    assert "needs a JSON body" in body["detail"]
