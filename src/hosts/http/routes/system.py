"""Liveness, readiness and who-am-I: the system area, the one router outside /api/v1 (and ``/api/v1/me``)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from attrs import frozen
from litestar import Request, Response, Router
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

from townsquare.hosts.http.deps import ActorDep, ServicesDep
from townsquare.hosts.http.middleware import RateLimiter
from townsquare.hosts.http.openapi import one_of
from townsquare.hosts.http.routes import metrics
from townsquare.hosts.http.routes.declare import API, get

TAGS = ["system"]


@frozen
class Health:
    """The process answers.

    Attributes:
        status: always ``ok`` (a process that cannot answer sends nothing).
    """

    status: Annotated[str, one_of(["ok"])]


@frozen
class Readiness:
    """Whether every dependency answers (200), or which do not (503).

    Attributes:
        status: ``ok`` when every check passed, else ``unavailable``.
        checks: by dependency (``database``, ``broker`` ...): ``ok`` or ``unavailable: <error type>``.
    """

    status: Annotated[str, one_of(["ok", "unavailable"])]
    checks: dict[str, str]


@frozen
class Me:
    """The caller, as the token says.

    Attributes:
        user_id: the token's ``sub``.
        roles: the roles the token carries, sorted.
        is_admin: whether ``admin`` is among them.
    """

    user_id: str
    roles: list[str]
    is_admin: bool


@get("/health", summary="Liveness: the process answers")
async def health() -> Health:
    """Liveness: answers 200 while the process serves requests; it checks no dependency."""
    return Health(status="ok")


@get("/ready", summary="Readiness: the database, the broker and the rate-limit Redis answer")
async def ready(request: Request[Any, Any, Any], services: ServicesDep) -> Response[Readiness]:
    """Readiness: 200 when the database, the broker and the rate-limit Redis (each when configured)
    answer within 3 s, else 503 with the failing checks."""
    checks: dict[str, str] = {}
    limiter: RateLimiter = request.app.state.rate_limiter
    # Requests are still served while this Redis is down (each process counts on its own),
    # but the budgets are then per process: not ready is the honest answer.
    shared = await limiter.shared_reachable()
    if shared is not None:
        checks["rate_limit_redis"] = "ok" if shared else "unavailable"
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


@get(f"{API}/me", summary="The authenticated caller")
async def me(actor: ActorDep) -> Me:
    """Who the bearer token says the caller is: the user id (`sub`) and roles."""
    return Me(user_id=actor.user_id, roles=sorted(actor.roles), is_admin=actor.is_admin)


HANDLERS: list[Any] = [health, ready, me, metrics.scrape]


def router() -> Router:
    """The system routes at the root: liveness, readiness, ``/metrics`` and the caller."""
    return Router(path="/", route_handlers=HANDLERS, tags=TAGS)
