"""API fuzzing: schemathesis drives every operation of the host's own OpenAPI schema, with a
valid user token and with an admin token. No response may be a 5xx, and every response must
match the schema (status codes, content types, bodies).

The example count is bounded here (``FUZZ_EXAMPLES``, default 25 per operation) to keep the
suite fast; a longer run: ``FUZZ_EXAMPLES=500 pytest tests/http/test_fuzz.py``.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import memory_settings
from townsquare.bootstrap import bootstrap
from townsquare.demo import DEMO_USERS
from townsquare.hosts.http.app import create_app
from townsquare.hosts.http.auth import mint_token
from townsquare.settings import DEV_JWT_SECRET, RateLimit

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))


@pytest.fixture(scope="module")
def app() -> Any:
    app_settings = memory_settings(rate_limit=RateLimit(count=1_000_000, per="minute"), seed_demo_data=True)
    services = bootstrap(app_settings)
    from townsquare.demo import seed_demo_data

    seed_demo_data(services)
    return create_app(app_settings, services)


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def headers(*, admin: bool) -> dict[str, str]:
    """A valid token of demo user alice, with or without the admin role."""
    roles = ["admin"] if admin else []
    minted = mint_token(DEV_JWT_SECRET, DEMO_USERS["alice"], now=datetime.now(UTC), roles=roles)
    return {"Authorization": f"Bearer {minted}"}


@pytest.mark.parametrize("admin", [False, True], ids=["user", "admin"])
def test_every_operation(app: Any, admin: bool) -> None:
    # Given the host's own schema and a valid token
    schema = schemathesis.openapi.from_asgi("/schema/openapi.json", app)
    auth = headers(admin=admin)
    # Server-sent event streams never end; tests/http/test_notifications.py covers them.
    operations = [
        op for op in (result.ok() for result in schema.get_all_operations()) if not op.path.endswith("/stream")
    ]
    assert len(operations) >= 3
    for operation in operations:
        # When schemathesis sends generated requests to the operation
        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def fuzz(case: Any) -> None:
            # Then no response is a 5xx and every response matches the schema
            case.call_and_validate(headers=auth, checks=CHECKS)

        fuzz()
