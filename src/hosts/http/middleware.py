"""ASGI middleware of the HTTP host: request ids with request logs, and rate limiting."""

from __future__ import annotations

import math
import random
import re
import time
from typing import Any

import structlog
from limits import RateLimitItemPerDay, RateLimitItemPerHour, RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.exceptions import TooManyRequestsException
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from townsquare.core.identity import Actor
from townsquare.settings import RateLimit

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_ITEMS = {
    "second": RateLimitItemPerSecond,
    "minute": RateLimitItemPerMinute,
    "hour": RateLimitItemPerHour,
    "day": RateLimitItemPerDay,
}
log = structlog.get_logger("townsquare.http")


class RequestContextMiddleware:
    """Gives every request an id (the client's ``X-Request-ID`` when sane) and binds it to the
    log context; :func:`finish_request` echoes it and logs the request line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["request_id"] = _request_id(scope)
        state["request_started"] = time.perf_counter()
        structlog.contextvars.bind_contextvars(request_id=state["request_id"])
        try:
            await self.app(scope, receive, send)
        finally:
            structlog.contextvars.unbind_contextvars("request_id")


async def finish_request(message: Message, scope: Scope) -> None:
    """``before_send`` hook: runs for every response, also those made from exceptions raised
    in middleware or routing (which never pass through a middleware's send wrapper)."""
    if message["type"] != "http.response.start":
        return
    state = scope.setdefault("state", {})
    request_id = request_id_of(scope)
    MutableScopeHeaders(message)["x-request-id"] = request_id
    started = state.get("request_started")
    log.info(
        "request",
        method=scope.get("method"),
        path=scope.get("path"),
        status=message["status"],
        duration_ms=round((time.perf_counter() - started) * 1000, 2) if started else None,
        request_id=request_id,
    )


def request_id_of(scope: Scope) -> str:
    """The request's id, made now (the client's when sane) if the middleware never saw it:
    routing errors (404, 405) are answered before any middleware runs."""
    state = scope.setdefault("state", {})
    request_id = state.get("request_id")
    if request_id is None:
        request_id = state["request_id"] = _request_id(scope)
    return str(request_id)


def _request_id(scope: Scope) -> str:
    incoming = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"x-request-id"), "")
    return incoming if _SAFE_REQUEST_ID.match(incoming) else new_request_id()


def new_request_id() -> str:
    """32 random hex digits, shaped like ``uuid4().hex``.

    An id only has to be unique, not secret, so it comes from the process's PRNG (seeded from
    the OS at start): ``uuid4()`` reads ``os.urandom``, a system call that releases the GIL on
    the event loop thread, which then waits behind the handler threads to take it back.
    """
    return f"{random.getrandbits(128):032x}"


def rate_limit_storage(redis_url: str) -> Storage:
    """Counters in Redis when configured (shared by every host process), else in this process."""
    if redis_url:
        return RedisStorage("async+" + redis_url, implementation="redispy")
    return MemoryStorage()


class RateLimitMiddleware(ASGIMiddleware):
    """Limits every endpoint per caller (user id when authenticated, else client address).

    Over the limit: 429 with ``Retry-After``. Runs after authentication so users behind one
    address don't share a budget.
    """

    scopes = (ScopeType.HTTP,)

    def __init__(self, limit: RateLimit, storage: Storage) -> None:
        self._item = _ITEMS[limit.per](limit.count)
        self._limiter = SlidingWindowCounterRateLimiter(storage)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        key = self._caller(scope)
        if not await self._limiter.hit(self._item, key):
            stats = await self._limiter.get_window_stats(self._item, key)
            retry_after = max(1, math.ceil(stats.reset_time - time.time()))
            raise TooManyRequestsException(
                f"rate limit of {self._item.amount} requests per {self._item.GRANULARITY.name} exceeded",
                headers={"Retry-After": str(retry_after)},
            )
        await next_app(scope, receive, send)

    @staticmethod
    def _caller(scope: Scope) -> str:
        user: Any = scope.get("user")
        if isinstance(user, Actor):
            return "user:" + user.user_id
        client = scope.get("client")
        return "addr:" + (client[0] if client else "unknown")
