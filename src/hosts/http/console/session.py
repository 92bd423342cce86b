"""The console's sign-in session and CSRF tokens.

The session is the API's own bearer token, kept in an HttpOnly, SameSite=Strict cookie after
the sign-in form, so the console has exactly the API's authentication and nothing of its own
to revoke. Forms carry a CSRF token: before sign-in, a random value that must match a cookie
(double submit); after, an HMAC of the session token under a server key, which a page on
another site can neither read nor compute.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from typing import Any

from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from townsquare.core.identity import Actor
from townsquare.hosts.http.auth import TokenVerifier

SESSION_COOKIE = "townsquare_console"
SIGN_IN_CSRF_COOKIE = "townsquare_console_csrf"
CSRF_FIELD = "csrf_token"
PATH = "/console"


class CsrfRefused(Exception):
    """A console form arrived without its CSRF token (or with a wrong one): nothing was done."""


class ConsoleSession:
    """Verifies the session cookie and issues and checks the forms' CSRF tokens.

    Args:
        verifier: the API's token verifier.
        key: the server key CSRF tokens are signed with.
    """

    def __init__(self, verifier: TokenVerifier, key: bytes) -> None:
        self._verifier = verifier
        self._key = hashlib.sha256(b"townsquare-console-csrf:" + key).digest()

    def actor(self, connection: ASGIConnection[Any, Any, Any, Any]) -> Actor:
        """The signed-in admin.

        Raises:
            NotAuthorizedException: no session, or its token is invalid or expired (sign in).
            PermissionDeniedException: the token is valid but not an admin's.
        """
        token = connection.cookies.get(SESSION_COOKIE, "")
        if not token:
            raise NotAuthorizedException("sign in to use the console")
        actor = self._verifier.verify(token)
        if not actor.is_admin:
            raise PermissionDeniedException("the console needs the admin role")
        return actor

    def check_token(self, token: str) -> Actor:
        """Verify a token typed into the sign-in form (any valid token; pages check the role)."""
        return self._verifier.verify(token.strip())

    def csrf_token(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str:
        """The CSRF token the signed-in session's forms carry."""
        return self._sign(connection.cookies.get(SESSION_COOKIE, ""))

    def check_csrf(self, connection: ASGIConnection[Any, Any, Any, Any], form: Mapping[str, Any]) -> None:
        """Raises :class:`CsrfRefused` unless ``form`` carries the session's CSRF token."""
        sent = form.get(CSRF_FIELD)
        session = connection.cookies.get(SESSION_COOKIE, "")
        if not isinstance(sent, str) or not session or not hmac.compare_digest(sent, self._sign(session)):
            raise CsrfRefused("the form had no valid CSRF token")

    @staticmethod
    def check_sign_in_csrf(connection: ASGIConnection[Any, Any, Any, Any], form: Mapping[str, Any]) -> None:
        """Raises :class:`CsrfRefused` unless the sign-in form's token matches its cookie."""
        sent = form.get(CSRF_FIELD)
        expected = connection.cookies.get(SIGN_IN_CSRF_COOKIE, "")
        if not isinstance(sent, str) or not expected or not hmac.compare_digest(sent, expected):
            raise CsrfRefused("the sign-in form had no valid CSRF token")

    def _sign(self, session: str) -> str:
        return hmac.new(self._key, session.encode(), hashlib.sha256).hexdigest()


def new_sign_in_csrf() -> str:
    return secrets.token_urlsafe(32)


def cookie(name: str, value: str, *, secure: bool, max_age: int | None = None) -> Cookie:
    """A console cookie: HttpOnly, SameSite=Strict, only sent to /console."""
    return Cookie(key=name, value=value, path=PATH, httponly=True, samesite="strict", secure=secure, max_age=max_age)


def console_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Route guard of every console page but sign-in: an admin's session, else 401/403."""
    session: ConsoleSession = connection.app.state["console_session"]
    connection.scope["user"] = session.actor(connection)
