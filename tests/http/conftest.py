"""HTTP host fixtures: a test client over the app built for the adapter under test, and tokens."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from litestar.testing import TestClient

from townsquare.bootstrap import Services
from townsquare.hosts.http.app import create_app
from townsquare.hosts.http.auth import mint_token
from townsquare.settings import Settings

TokenFactory = Callable[..., dict[str, str]]


@pytest.fixture
def client(settings: Settings, services: Services) -> Iterator[TestClient]:  # type: ignore[type-arg]
    with TestClient(create_app(settings, services)) as test_client:
        yield test_client


@pytest.fixture
def auth(settings: Settings) -> TokenFactory:
    """``auth("alice")`` gives the headers of a valid token for user alice (``admin=True`` adds the role)."""

    def headers(user_id: str, *, admin: bool = False, ttl: timedelta = timedelta(hours=1)) -> dict[str, str]:
        # PyJWT checks expiry against the wall clock, so tokens are minted on it.
        token = mint_token(
            settings.jwt_secret, user_id, now=datetime.now(UTC), roles=["admin"] if admin else [], ttl=ttl
        )
        return {"Authorization": f"Bearer {token}"}

    return headers
