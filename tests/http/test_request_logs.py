"""Every log line of a request carries its id: also the rejection lines of 401s and of 404s that
no route matched (answered before any middleware runs)."""

from __future__ import annotations

import json

import pytest
from litestar.testing import TestClient

from tests.conftest import memory_settings
from townsquare.bootstrap import bootstrap
from townsquare.hosts.http.app import create_app


def test_rejection_lines_carry_the_request_id(capsys: pytest.CaptureFixture[str]) -> None:
    settings = memory_settings(log_json=True)
    with TestClient(create_app(settings, bootstrap(settings))) as client:
        capsys.readouterr()
        # When a request no route matches, and one without a token, arrive with their ids
        assert client.get("/no/such/path", headers={"X-Request-ID": "req-404"}).status_code == 404
        assert client.get("/api/v1/me", headers={"X-Request-ID": "req-401"}).status_code == 401
        # and one without an id of its own
        anonymous = client.get("/also/missing")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    # Then each request's lines, the rejection included, carry its id
    rejected = [line for line in lines if line["event"] == "request.rejected"]
    assert {line["status"] for line in rejected} == {401, 404}
    assert {line["request_id"] for line in rejected} == {"req-404", "req-401", anonymous.headers["x-request-id"]}
    requests = {line["path"]: line["request_id"] for line in lines if line["event"] == "request"}
    assert requests == {
        "/no/such/path": "req-404",
        "/api/v1/me": "req-401",
        "/also/missing": anonymous.headers["x-request-id"],
    }
