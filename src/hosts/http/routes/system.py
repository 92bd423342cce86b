"""Liveness, readiness and who-am-I."""

from __future__ import annotations

import asyncio
from typing import Any

from attrs import frozen
from litestar import Response, get
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

from townsquare.hosts.http.deps import ActorDep, ServicesDep


@frozen
class Health:
    status: str


@frozen
class Readiness:
    status: str
    checks: dict[str, str]


@frozen
class Me:
    user_id: str
    roles: list[str]
    is_admin: bool


@get("/health", summary="Liveness: the process answers", sync_to_thread=False, tags=["system"])
def health() -> Health:
    return Health(status="ok")


@get("/ready", summary="Readiness: the database and the broker answer", tags=["system"])
async def ready(services: ServicesDep) -> Response[Readiness]:
    checks: dict[str, str] = {}
    for name, check in services.readiness.items():
        try:
            await asyncio.wait_for(asyncio.to_thread(check), timeout=3)
            checks[name] = "ok"
        except Exception as exc:
            checks[name] = f"unavailable: {type(exc).__name__}"
    healthy = all(value == "ok" for value in checks.values())
    return Response(
        Readiness(status="ok" if healthy else "unavailable", checks=checks),
        status_code=HTTP_200_OK if healthy else HTTP_503_SERVICE_UNAVAILABLE,
    )


@get("/api/v1/me", summary="The authenticated caller", sync_to_thread=False, tags=["system"])
def me(actor: ActorDep) -> Me:
    return Me(user_id=actor.user_id, roles=sorted(actor.roles), is_admin=actor.is_admin)


ROUTES: list[Any] = [health, ready, me]
