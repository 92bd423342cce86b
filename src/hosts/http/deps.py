"""Dependencies handed to route handlers: the wired services and the acting user."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.exceptions import NotAuthorizedException

from townsquare.core.identity import Actor


def provide_actor(request: Request[Any, Any, Any]) -> Actor:
    """The authenticated caller (the auth middleware has put it on the request)."""
    user = request.scope.get("user")
    if not isinstance(user, Actor):
        raise NotAuthorizedException("authentication required")
    return user
