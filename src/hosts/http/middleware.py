"""ASGI middleware of the HTTP host: request ids with request logs, and rate limiting
(shared in Redis, per process while Redis fails)."""

from __future__ import annotations

import asyncio
import math
import random
import re
import time
from collections.abc import Callable
from typing import Any, Protocol

import redis.asyncio
import redis.exceptions
import structlog
from limits import RateLimitItemPerDay, RateLimitItemPerHour, RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError
from litestar.enums import ScopeType
from litestar.exceptions import TooManyRequestsException
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from townsquare.core.identity import Actor
from townsquare.settings import RateLimit

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}\Z")
_ITEMS = {
    "second": RateLimitItemPerSecond,
    "minute": RateLimitItemPerMinute,
    "hour": RateLimitItemPerHour,
    "day": RateLimitItemPerDay,
}
_NOSNIFF = (b"x-content-type-options", b"nosniff")
_NO_STORE = (b"cache-control", b"no-store")
SHARED_RETRY_S = 2.0
"""After the shared rate-limit counters fail, how long requests use this process's own before Redis is tried again."""
REDIS_HEALTH_CHECK_S = 10
"""A pooled Redis connection idle this long is checked (PING) before it is used again."""
# What the shared counters raise when Redis is unreachable, slow or its pool is exhausted
# (limits wraps redis-py's errors in StorageError; the rest is belt and braces).
_SHARED_FAILURES = (StorageError, redis.exceptions.RedisError, OSError, TimeoutError)
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
    in middleware or routing (which never pass through a middleware's send wrapper).

    Adds the request id, ``X-Content-Type-Options: nosniff`` (no browser guesses a type
    other than the declared one) and, on ``/api/`` answers, ``Cache-Control: no-store``.
    """
    if message["type"] != "http.response.start":
        return
    state = scope.setdefault("state", {})
    request_id = request_id_of(scope)
    path = scope.get("path", "")
    # Appended as raw pairs: no handler sets these, and a headers wrapper per response costs.
    headers = message.get("headers")
    if not isinstance(headers, list):
        headers = message["headers"] = list(headers or ())
    headers.append((b"x-request-id", request_id.encode("latin-1")))
    headers.append(_NOSNIFF)
    if path.startswith("/api/"):
        # Answers are per user and change with every write: no cache may keep them.
        headers.append(_NO_STORE)
    started = state.get("request_started")
    log.info(
        "request",
        method=scope.get("method"),
        path=path,
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


def rate_limit_storage(settings: RateLimitStorageSettings) -> Storage | None:
    """The shared counters: Redis when ``redis_url`` is set (shared by every host process), else ``None``.

    The pool is bounded and waits (``BlockingConnectionPool``): a burst larger than the pool
    queues for a connection for up to ``redis_pool_timeout_s`` instead of failing, as redis-py's
    default pool does past its size (``MaxConnectionsError``). A command that fails on a stale
    pooled connection (Redis restarted) is retried once on a new one; anything else that goes
    wrong falls back to the per-process counters (:class:`RateLimiter`).
    """
    if not settings.redis_url:
        return None
    pool = redis.asyncio.BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=settings.redis_pool_size,
        timeout=settings.redis_pool_timeout_s,
        socket_connect_timeout=settings.redis_timeout_s,
        socket_timeout=settings.redis_timeout_s,
        retry=Retry(NoBackoff(), 1),
        retry_on_error=[redis.exceptions.ConnectionError, redis.exceptions.TimeoutError],
        health_check_interval=REDIS_HEALTH_CHECK_S,
    )
    # limits passes connection_pool on to redis.asyncio.Redis (its options are typed as scalars).
    return RedisStorage(
        "async+" + settings.redis_url,
        implementation="redispy",
        wrap_exceptions=True,
        connection_pool=pool,  # type: ignore[arg-type]
    )


class LocalCounters(MemoryStorage):
    """limits' in-process counters, swept for idle callers' keys at most once a second.

    limits starts a sweep of every key after each hit whose previous sweep has ended: a walk
    of all callers per request (about 80 us at 200 callers, growing with them). A read expires
    its own key (``MemoryStorage.get``), so the sweep only gives back idle callers' memory, and
    once a second does that as well.

    Args:
        monotonic: seconds for the interval (tests move it).
    """

    SWEEP_EVERY_S = 1.0

    def __init__(self, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._monotonic = monotonic
        self._swept_at: float | None = None
        self.sweeps = 0
        """How many sweeps were started."""

    # The base class's private hook, called by every counter operation.
    async def _MemoryStorage__schedule_expiry(self) -> None:
        now = self._monotonic()
        if self._swept_at is not None and now - self._swept_at < self.SWEEP_EVERY_S:
            return
        self._swept_at = now
        self.sweeps += 1
        await super()._MemoryStorage__schedule_expiry()  # type: ignore[misc]


class RateLimitStorageSettings(Protocol):
    """What :func:`rate_limit_storage` reads from the settings."""

    @property
    def redis_url(self) -> str: ...
    @property
    def redis_pool_size(self) -> int: ...
    @property
    def redis_pool_timeout_s(self) -> float: ...
    @property
    def redis_timeout_s(self) -> float: ...


class RateLimiter:
    """Per-caller request budgets, shared through Redis when configured.

    When the shared counters fail (Redis down, slow, or the pool exhausted) the request is
    decided by this process's own counters instead (fail open to a per-process limit, so an
    outage of Redis never refuses or fails a request), with one warning when it starts and
    one note when Redis answers again. For :data:`SHARED_RETRY_S` after a failure every
    request uses the process's counters without trying Redis, so an outage costs no time per
    request. :attr:`local_decisions` counts the requests decided that way (for metrics).

    Args:
        limit: the budget per caller.
        shared: the shared storage (:func:`rate_limit_storage`), or ``None`` for per process only.
        monotonic: seconds for the retry interval (tests move it).
    """

    def __init__(
        self, limit: RateLimit, shared: Storage | None, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._item = _ITEMS[limit.per](limit.count)
        self._local = SlidingWindowCounterRateLimiter(LocalCounters(monotonic=monotonic))
        self._shared_storage = shared
        self._shared = SlidingWindowCounterRateLimiter(shared) if shared is not None else None
        self._monotonic = monotonic
        self._shared_retry_at: float | None = None  # set while the shared counters are failing
        self.local_decisions = 0
        """Requests decided by this process's counters because the shared ones failed."""

    @property
    def shared_failing(self) -> bool:
        """Whether the last attempt to use the shared counters failed."""
        return self._shared_retry_at is not None

    async def check(self, key: str, *, local: bool = False) -> None:
        """Count one request of ``key``.

        Args:
            key: the caller (``user:<id>`` or ``addr:<address>``).
            local: count in this process only (for ``/health``, which must not need Redis).

        Raises:
            TooManyRequestsException: over the budget, with ``Retry-After``.
        """
        if local or self._shared is None:
            limiter = self._local
        elif self._shared_retry_at is None:  # the hot path: Redis answering
            limiter = self._shared
        else:
            limiter = await self._while_failing()
        try:
            if await limiter.hit(self._item, key):
                return
            stats = await limiter.get_window_stats(self._item, key)
        except _SHARED_FAILURES as exc:
            self._shared_failed(exc)
            self.local_decisions += 1
            if await self._local.hit(self._item, key):
                return
            stats = await self._local.get_window_stats(self._item, key)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise TooManyRequestsException(
            f"rate limit of {self._item.amount} requests per {self._item.GRANULARITY.name} exceeded",
            headers={"Retry-After": str(retry_after)},
        )

    async def shared_reachable(self) -> bool | None:
        """Whether the shared counters answer now (``None``: there are none); for ``/ready``."""
        if self._shared_storage is None:
            return None
        try:
            return bool(await asyncio.wait_for(self._shared_storage.check(), timeout=3))
        except _SHARED_FAILURES:  # includes TimeoutError
            return False

    async def _while_failing(self) -> SlidingWindowCounterRateLimiter:
        assert self._shared is not None and self._shared_retry_at is not None
        if self._monotonic() < self._shared_retry_at:
            self.local_decisions += 1
            return self._local
        # Try Redis again with this request; the next failure re-arms the interval.
        self._shared_retry_at = self._monotonic() + SHARED_RETRY_S
        if not await self.shared_reachable():
            self.local_decisions += 1
            return self._local
        self._shared_retry_at = None
        log.info("rate_limit.shared_counters_back")
        return self._shared

    def _shared_failed(self, exc: BaseException) -> None:
        if self._shared_retry_at is None:
            log.warning(
                "rate_limit.shared_counters_failing",
                error_type=type(exc).__name__,
                detail=str(exc).splitlines()[0] if str(exc) else "",
                fallback="per-process counters",
            )
        self._shared_retry_at = self._monotonic() + SHARED_RETRY_S


class RateLimitMiddleware(ASGIMiddleware):
    """Limits every endpoint per caller (user id when authenticated, else client address).

    Over the limit: 429 with ``Retry-After``. Runs after authentication so users behind one
    address don't share a budget; requests that fail authentication are counted by
    address before their 401 (:class:`~townsquare.hosts.http.auth.JWTAuthenticationMiddleware`).
    ``/health`` counts in this process only: liveness never depends on Redis.
    """

    scopes = (ScopeType.HTTP,)

    def __init__(self, limiter: RateLimiter) -> None:
        self._limiter = limiter

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        await self._limiter.check(caller_key(scope), local=scope["path"] == "/health")
        await next_app(scope, receive, send)


def caller_key(scope: Scope) -> str:
    """Whose budget a request spends: the authenticated user's, else its client address's."""
    user: Any = scope.get("user")
    if isinstance(user, Actor):
        return "user:" + user.user_id
    client = scope.get("client")
    return "addr:" + (client[0] if client else "unknown")
