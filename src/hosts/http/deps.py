"""Dependencies handed to route handlers: the wired services and the acting user."""

from __future__ import annotations

from typing import Any, TypeAlias

from litestar import Request
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException

from townsquare.bootstrap import Services
from townsquare.core.identity import Actor

ServicesDep: TypeAlias = NamedDependency[Services]
"""Declare a handler parameter ``services: ServicesDep`` to receive the wired services."""
ActorDep: TypeAlias = NamedDependency[Actor]
"""Declare a handler parameter ``actor: ActorDep`` to receive the authenticated caller."""


def provide_actor(request: Request[Any, Any, Any]) -> Actor:
    """The authenticated caller (the auth middleware has put it on the request)."""
    user = request.scope.get("user")
    if not isinstance(user, Actor):
        raise NotAuthorizedException("authentication required")
    return user
