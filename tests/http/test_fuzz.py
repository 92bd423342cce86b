"""API fuzzing: schemathesis drives every operation of the host's own OpenAPI schema, with a
valid user token and with an admin token. No response may be a 5xx, and every response must
match the schema (status codes, content types, bodies).

The example count is bounded here (``FUZZ_EXAMPLES``, default 25 per operation) to keep the
suite fast; a longer run: ``FUZZ_EXAMPLES=500 pytest tests/http/test_fuzz.py``.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from townsquare.bootstrap import Services
from townsquare.demo import DEMO_USERS, seed_demo_data
from townsquare.hosts.http.app import create_app
from townsquare.hosts.http.auth import mint_token
from townsquare.settings import DEV_JWT_SECRET, RateLimit, Settings

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))


@pytest.fixture
def app(settings: Settings, services: Services) -> Any:
    """The host over the adapter under test, with the demo data and a limit fuzzing won't reach."""
    seed_demo_data(services)
    return create_app(attrs.evolve(settings, rate_limit=RateLimit(count=1_000_000, per="minute")), services)


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def headers(*, admin: bool) -> dict[str, str]:
    """A valid token of demo user alice, with or without the admin role."""
    roles = ["admin"] if admin else []
    minted = mint_token(DEV_JWT_SECRET, DEMO_USERS["alice"], now=datetime.now(UTC), roles=roles)
    return {"Authorization": f"Bearer {minted}"}


def test_every_operation_as_a_user(app: Any) -> None:
    fuzz_every_operation(app, admin=False)


def fuzz_every_operation(app: Any, *, admin: bool) -> None:
    """The check itself; the admin half lives in test_fuzz_admin.py so that two test workers
    share the suite's longest file (pytest-xdist gives each file to one worker)."""
    # Given the host's own schema and a valid token
    schema = schemathesis.openapi.from_asgi("/schema/openapi.json", app)
    auth = headers(admin=admin)
    # Server-sent event streams never end; tests/http/test_notifications.py covers them.
    operations = [
        op for op in (result.ok() for result in schema.get_all_operations()) if not op.path.endswith("/stream")
    ]
    assert len(operations) >= 40
    statuses: Counter[int] = Counter()
    for operation in operations:
        # When schemathesis sends generated requests to the operation
        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def fuzz(case: Any) -> None:
            # Then no response is a 5xx and every response matches the schema
            response = case.call_and_validate(headers=auth, checks=CHECKS)
            statuses[response.status_code] += 1

        fuzz()
    print(
        json.dumps(
            {
                "operations": len(operations),
                "requests": statuses.total(),
                "server_errors": sum(n for code, n in statuses.items() if code >= 500),
                "statuses": dict(sorted(statuses.items())),
            }
        )
    )
