"""How every area declares its routes: these verbs, inside one ``Router`` per area.

The area's router carries the path prefix, tags and guards once. A handler is a plain
function calling the services, which block (database round trips, locks), so a plain
function runs in a worker thread, off the event loop; an ``async def`` handler runs on the
loop. The verbs decide that from the function itself, so no handler spells it out.
Dependencies that never block (a value built once, the actor read off the request) are
declared with :func:`provided` and :func:`on_loop`, so they cost no thread either.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import litestar
from litestar.di import Provide
from litestar.handlers import HTTPRouteHandler

API = "/api/v1"
"""Where the API lives: each area's router path starts with it."""

Decorator = Callable[[Callable[..., Any]], HTTPRouteHandler]


def _verb(handler: type[HTTPRouteHandler]) -> Callable[..., Decorator]:
    def declare(path: str | Sequence[str] | None = None, **options: Any) -> Decorator:
        def decorate(function: Callable[..., Any]) -> HTTPRouteHandler:
            if not (inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function)):
                options.setdefault("sync_to_thread", True)
            return handler(path, **options)(function)

        return decorate

    return declare


get = _verb(litestar.get)
post = _verb(litestar.post)
put = _verb(litestar.put)
patch = _verb(litestar.patch)
delete = _verb(litestar.delete)


def provided(value: object) -> Provide:
    """A dependency that is ``value`` itself, built once by the app's factory."""
    return Provide(lambda: value, use_cache=True, sync_to_thread=False)


def on_loop(function: Callable[..., Any]) -> Provide:
    """A dependency computed on the event loop: ``function`` must not block (no I/O, no locks)."""
    return Provide(function, sync_to_thread=False)
