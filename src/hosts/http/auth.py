"""Bearer JWT authentication (HS256) and the admin guard.

Tokens carry the user id in ``sub`` and roles under a configurable claim path
(``app_metadata.roles`` by default) plus the single ``role`` claim, so tokens minted by the
hosted-Postgres platform the product started on keep working.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import jwt
from cachetools import TLRUCache
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.types import ASGIApp

from townsquare.core.identity import ADMIN_ROLE, MAX_USER_ID, Actor, is_user_id
from townsquare.hosts.http.middleware import RateLimiter, caller_key

ALGORITHM = "HS256"
LEEWAY_S = 10
"""Clock skew allowed on ``exp`` (and ``nbf``/``iat``), in seconds."""
VERIFIED_CACHE_SIZE = 4096
"""Verified tokens remembered per process (see :meth:`TokenVerifier.verify`)."""
MAX_TOKEN_CHARS = 8192
"""Longer tokens are refused unread (the hosted platform's are about 1,000 characters)."""
MAX_EXP = 253402300799
"""The last second of the year 9999: a later ``exp`` is not a time."""
PUBLIC_PATHS = ["^/health$", "^/ready$", "^/schema", "^/api/v1/testing/"]


class TokenVerifier:
    """Checks a token's signature, algorithm, expiry and (optionally) audience.

    Args:
        secret: the HS256 secret.
        roles_claim: dotted path of the roles list (``app_metadata.roles``).
        audience: required ``aud`` when set; otherwise ``aud`` is not checked.
        cache_size: how many verified tokens to remember (see :meth:`verify`).
        wall_clock: seconds since the epoch, for the remembered tokens' expiry (tests move it).
    """

    def __init__(
        self,
        secret: str,
        *,
        roles_claim: str,
        audience: str | None = None,
        cache_size: int = VERIFIED_CACHE_SIZE,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = secret
        self._wall_clock = wall_clock
        self._roles_path = [part for part in roles_claim.split(".") if part]
        self._audience = audience
        # raw token -> (actor, the wall-clock second after which the token is refused); an entry
        # lives until that second (cachetools' time-aware LRU drops it then, and the token is
        # decoded afresh, which refuses it as expired).
        self._verified: TLRUCache[str, tuple[Actor, float]] = TLRUCache(
            maxsize=cache_size, ttu=_refused_after, timer=wall_clock
        )

    def verify(self, token: str) -> Actor:
        """Return the actor a valid token names.

        A token that verified before is answered from a small LRU cache until its expiry:
        the key is the whole raw token, signature included, so a token that differs in any
        byte is verified afresh, and an entry is dropped once ``exp`` (plus the same leeway
        PyJWT allows) has passed. Only successes are cached; a cache hit saves the HMAC and
        the claim checks, about a twentieth of a feed page's CPU.

        Raises:
            NotAuthorizedException: invalid, expired, wrong algorithm, too long, an ``exp``
                that is not an integer, or a ``sub`` that is not a user id (1..200 printable
                characters).
        """
        if len(token) > MAX_TOKEN_CHARS:
            raise NotAuthorizedException(f"the token is longer than {MAX_TOKEN_CHARS} characters")
        cached = self._verified.get(token)
        if cached is not None:
            return cached[0]
        actor, expires_at = self._decode(token)
        if self._wall_clock() > expires_at + LEEWAY_S:  # PyJWT reads the real clock itself
            raise NotAuthorizedException("the token has expired")
        self._verified[token] = (actor, expires_at + LEEWAY_S)
        return actor

    def _decode(self, token: str) -> tuple[Actor, float]:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=self._audience,
                options={"require": ["sub", "exp"], "verify_aud": self._audience is not None},
                leeway=LEEWAY_S,
            )
        except jwt.ExpiredSignatureError:
            raise NotAuthorizedException("the token has expired") from None
        except jwt.InvalidTokenError as exc:
            raise NotAuthorizedException(f"the token is invalid: {exc}") from None
        except (ValueError, TypeError, OverflowError, RecursionError):
            # PyJWT lets these escape from claims it converts (an exp or nbf of 1e999) or
            # payloads it cannot decode (JSON nested a thousand deep).
            raise NotAuthorizedException("the token is invalid: its claims cannot be read") from None
        subject = claims.get("sub")
        if not is_user_id(subject):
            raise NotAuthorizedException(
                f"the token's sub claim must be a user id of 1..{MAX_USER_ID} printable characters"
            )
        assert isinstance(subject, str)
        expires_at = claims["exp"]
        # PyJWT accepts any exp that int() takes ("123", 1.5, true): NumericDate is an integer here.
        if type(expires_at) is not int or not 0 < expires_at <= MAX_EXP:
            raise NotAuthorizedException("the token's exp claim must be an integer number of seconds since the epoch")
        return Actor(user_id=subject, roles=self._roles(claims)), float(expires_at)

    def _roles(self, claims: Mapping[str, Any]) -> frozenset[str]:
        roles: set[str] = set()
        node: Any = claims
        for part in self._roles_path:
            node = node.get(part) if isinstance(node, Mapping) else None
        if isinstance(node, str):
            roles.add(node)
        elif isinstance(node, Sequence):
            roles.update(item for item in node if isinstance(item, str))
        if isinstance(claims.get("role"), str):
            roles.add(claims["role"])
        return frozenset(role for role in roles if role.isprintable())


def mint_token(
    secret: str,
    user_id: str,
    *,
    now: datetime,
    roles: Sequence[str] = (),
    ttl: timedelta = timedelta(hours=1),
    audience: str | None = None,
) -> str:
    """Mint a development token shaped like the hosted platform's (``role`` + ``app_metadata.roles``)."""
    claims: dict[str, Any] = {
        "sub": user_id,
        "role": "authenticated",
        "app_metadata": {"roles": list(roles)},
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
    }
    if audience:
        claims["aud"] = audience
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def _refused_after(_token: str, verified: tuple[Actor, float], _now: float) -> float:
    return verified[1]


class JWTAuthenticationMiddleware(AbstractAuthenticationMiddleware):
    """Puts the :class:`Actor` on ``request.user``; missing or bad tokens get a 401.

    A request that fails authentication spends its client address's rate-limit budget
    first, so a flood of bad tokens is answered 429 like any other flood.
    """

    def __init__(self, app: ASGIApp, verifier: TokenVerifier, limiter: RateLimiter, exclude: list[str]) -> None:
        super().__init__(app, exclude=exclude or None, exclude_from_auth_key="exclude_from_auth")
        self._verifier = verifier
        self._limiter = limiter

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        try:
            actor = self._verifier.verify(bearer_token(connection.headers.get("authorization", "")))
        except NotAuthorizedException:
            await self._limiter.check(caller_key(connection.scope))
            raise
        return AuthenticationResult(user=actor, auth=None)


def bearer_token(header: str) -> str:
    """The token of an ``Authorization: Bearer <token>`` header.

    Raises:
        NotAuthorizedException: another scheme, or no token.
    """
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise NotAuthorizedException("send a bearer token: 'Authorization: Bearer <jwt>'")
    return token


def admin_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Route guard: only actors with the admin role pass.

    Litestar's automatic OPTIONS answer (the allowed methods, for CORS preflights, which carry
    no token and reach no handler of ours) passes, as it does for every other route.
    """
    if connection.scope.get("method") == "OPTIONS":
        return
    user = connection.scope.get("user")
    if not isinstance(user, Actor) or ADMIN_ROLE not in user.roles:
        raise PermissionDeniedException("this operation needs the admin role")
