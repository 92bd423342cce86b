"""RFC 9457 problem details for every error the host returns; no stack trace reaches a client."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import psycopg
import psycopg.errors
import sqlalchemy.exc
import structlog
from attrs import frozen
from litestar import Litestar, MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR, HTTP_503_SERVICE_UNAVAILABLE

from townsquare.core.assistant.ports import ModelFailed, ModelUnavailable, TooManyTurns
from townsquare.core.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from townsquare.hosts.http.middleware import request_id_of

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE_BASE = "https://townsquare.dev/problems/"
RETRY_AFTER_SECONDS = 2
"""What a 503 for an unreachable database asks clients to wait before retrying."""

_DOMAIN_STATUS: list[tuple[type[DomainError], int]] = [
    (InvalidInput, 400),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (TooManyTurns, 429),
    (ModelFailed, 502),
    (ModelUnavailable, 503),
]
_TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    499: "Client closed request",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
}

log = structlog.get_logger("townsquare.http")


@frozen
class ProblemDocument:
    """An RFC 9457 problem document, as every error response of the API carries.

    Attributes:
        type: a URI naming the kind of problem (``https://townsquare.dev/problems/invalid_cursor``).
        title: the status's short title.
        status: the HTTP status code.
        detail: what exactly is wrong, for a person to read.
        instance: the request's path.
        request_id: the request's id (the ``X-Request-ID`` header); quote it when reporting.
        field: the parameter or body field at fault (dotted for nested ones), when there is one.
        errors: the body validator's findings, one per field, when it refused the body.
    """

    type: str
    title: str
    status: int
    detail: str
    instance: str
    request_id: str
    field: str | None = None
    errors: list[dict[str, Any]] | None = None


_MEANINGS = {
    400: "Bad request: a parameter or the body is malformed or breaks a rule; the problem's field names it",
    401: "Not authenticated: the bearer token is missing, malformed, expired or wrongly signed",
    403: "Forbidden: the caller's roles do not allow this (e.g. it needs the admin role)",
    404: "Not found: nothing by that id that the caller may see",
    409: "Conflict: the thing is not in a state that allows this, or the key was used with other content",
    413: "Request body too large (MAX_BODY_BYTES)",
    429: "Too many requests: wait Retry-After seconds",
    503: "Service unavailable: the database is unreachable; retry after Retry-After seconds",
}

PROBLEM_RESPONSES: dict[int, ResponseSpec] = {
    status: ResponseSpec(
        data_container=ProblemDocument, description=meaning, media_type=PROBLEM_JSON, generate_examples=False
    )
    for status, meaning in _MEANINGS.items()
}
"""The problem document responses an operation may list, by status (see ``openapi.problems_of``)."""


def document_problems(app: Litestar, public_paths: Iterable[str]) -> None:
    """Describe every operation of ``app``: its token requirement and the problems it can answer.

    Once, for the whole app: the schema is built from these handlers on its first request.
    """
    from townsquare.hosts.http.openapi import problems_of, require_token

    public = re.compile("|".join(public_paths))
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if isinstance(handler, HTTPRouteHandler):
                is_public = bool(public.match(route.path))
                require_token(handler, is_public)
                statuses = problems_of(handler, set(route.path_parameters), public=is_public)
                documented = {status: PROBLEM_RESPONSES[status] for status in sorted(statuses)}
                handler.responses = {**documented, **(handler.responses or {})}


def problem(
    request: Request[Any, Any, Any],
    status: int,
    code: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response[dict[str, Any]]:
    """Build a problem-details response."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    body["request_id"] = request_id_of(request.scope)
    body.update({k: v for k, v in extra.items() if v is not None})
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def domain_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    assert isinstance(exc, DomainError)
    status = next((code for kind, code in _DOMAIN_STATUS if isinstance(exc, kind)), 400)
    log.info(
        "request.rejected",
        status=status,
        code=exc.code,
        detail=exc.detail,
        field=exc.field,
        request_id=request_id_of(request.scope),
    )
    headers = None
    if isinstance(exc, TooManyTurns):
        headers = {"Retry-After": str(exc.retry_after)}
    elif isinstance(exc, ModelUnavailable):
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return problem(request, status, exc.code, exc.detail, field=exc.field, headers=headers)


def http_exception_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    if status >= 500:
        return internal_error_handler(request, exc)
    errors: Any = None
    if isinstance(exc, ValidationException):
        errors = exc.extra
        detail = _validation_detail(exc)
        code = "invalid_input"
    else:
        detail = exc.detail or _TITLES.get(status, "Error")
        code = _TITLES.get(status, "error").lower().replace(" ", "_")
    log.info("request.rejected", status=status, code=code, detail=detail, request_id=request_id_of(request.scope))
    return problem(request, status, code, detail, headers=exc.headers, errors=errors)


def database_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    """A lost or refused database connection is a 503 the client may retry; other database errors are 500s."""
    if is_invalid_data(exc):
        # A value the core let through but Postgres can't store (e.g. a NUL character in
        # text): the request is at fault, and the transaction was rolled back.
        log.warning("request.invalid_data", error_type=type(exc).__name__)
        return problem(request, 400, "invalid_input", "a value in the request cannot be stored (e.g. a NUL character)")
    if not is_connection_failure(exc):
        return internal_error_handler(request, exc)
    log.warning("request.database_unavailable", error_type=type(exc).__name__, detail=str(exc).splitlines()[0])
    return problem(
        request,
        HTTP_503_SERVICE_UNAVAILABLE,
        "database_unavailable",
        "the database is unreachable; retry shortly",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def is_invalid_data(exc: BaseException) -> bool:
    """Whether ``exc`` is Postgres refusing a value (SQLSTATE class 22, data exception)."""
    orig = exc.orig if isinstance(exc, sqlalchemy.exc.DBAPIError) else exc
    return isinstance(orig, psycopg.errors.DataError)


def is_connection_failure(exc: BaseException) -> bool:
    """Whether ``exc`` means the database could not be reached (restart, failover, full pool).

    psycopg raises ``OperationalError`` (class 08 connection errors, 57P admin shutdown,
    "the database system is starting up") when a server goes away or refuses; SQLAlchemy
    wraps it, marks a dropped pooled connection ``connection_invalidated``, and raises its
    own ``TimeoutError`` when no pooled connection frees up in time.
    """
    if isinstance(exc, sqlalchemy.exc.TimeoutError):
        return True
    if isinstance(exc, sqlalchemy.exc.DBAPIError):
        return exc.connection_invalidated or isinstance(exc.orig, psycopg.OperationalError)
    return isinstance(exc, psycopg.OperationalError)


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.exception("request.failed", error_type=type(exc).__name__)
    return problem(
        request,
        HTTP_500_INTERNAL_SERVER_ERROR,
        "internal_error",
        "an unexpected error occurred; quote the request id when reporting it",
    )


def _validation_detail(exc: ValidationException) -> str:
    if isinstance(exc.extra, list) and exc.extra:
        first = exc.extra[0]
        if isinstance(first, dict):
            key = first.get("key")
            message = first.get("message", exc.detail)
            if first.get("source") == "body" and message == f"'{key}'":
                # Litestar reports a missing body as the bare parameter name.
                return "the request needs a JSON body (send {} for all defaults)"
            return f"{key}: {message}" if key else str(message)
    return exc.detail or "the request is invalid"


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    DomainError: domain_error_handler,
    HTTPException: http_exception_handler,
    sqlalchemy.exc.SQLAlchemyError: database_error_handler,
    psycopg.Error: database_error_handler,
    Exception: internal_error_handler,
}

__all__ = ["EXCEPTION_HANDLERS", "PROBLEM_JSON", "MediaType", "problem"]
