"""Domain errors. Hosts map each kind to a status code; the message is safe to show a client."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error the core raises on purpose.

    Attributes:
        code: a short, stable machine-readable name (``invalid_input``, ``not_found`` ...).
        detail: a human-readable explanation that names the problem.
        field: the input field at fault, when there is one.
    """

    code = "domain_error"

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class InvalidInput(DomainError):
    """The request itself is wrong: a bad value, an unknown key, an out-of-range number."""

    code = "invalid_input"


class InvalidCursor(InvalidInput):
    """A page cursor that is malformed, tampered with, expired or belongs to another list."""

    code = "invalid_cursor"


class NotFound(DomainError):
    """The thing does not exist, or is not the caller's to see."""

    code = "not_found"


class Conflict(DomainError):
    """The request contradicts stored state (e.g. an idempotency key reused with other content)."""

    code = "conflict"


class Forbidden(DomainError):
    """The caller is known but lacks the right (e.g. the admin role)."""

    code = "forbidden"
