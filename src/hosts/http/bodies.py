"""The one place request bodies are decoded: whatever fails to decode is a 400 problem.

Litestar decodes a JSON body (for a ``data`` parameter, and for any ``request.json()``) with
msgspec, whose failures escape as a ``SerializationException`` or, for JSON nested about a
thousand deep, a ``RecursionError``: both reached clients as 500s. :class:`ApiRequest` is
the host's request class, so every route decodes through it.

A client that goes away before its body has arrived is :class:`ClientGone` (Litestar calls
it an internal error, which logged a traceback as if the host had failed).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from litestar import Request
from litestar.exceptions import HTTPException, InternalServerException, SerializationException
from litestar.types import ReceiveMessage

from townsquare.core.errors import InvalidInput

CLIENT_CLOSED_REQUEST = 499
"""The status logged for a request whose client went away (nobody receives the answer)."""


class ClientGone(HTTPException):
    """The client disconnected before it had sent the whole request body."""

    status_code = CLIENT_CLOSED_REQUEST
    detail = "the client went away before sending the whole request body"


class ApiRequest(Request[Any, Any, Any]):
    """A Litestar request whose JSON body is either decoded or refused with :class:`InvalidInput`."""

    async def stream(self) -> AsyncGenerator[bytes, None]:
        """The body's chunks, as Litestar's; a disconnect mid-body raises :class:`ClientGone`."""
        receive = self.receive
        disconnected = False

        async def watched() -> ReceiveMessage:
            nonlocal disconnected
            message = await receive()
            disconnected = disconnected or message["type"] == "http.disconnect"
            return message

        self.receive = watched
        try:
            async for chunk in super().stream():
                yield chunk
        except InternalServerException:
            if disconnected:
                raise ClientGone from None
            raise
        finally:
            self.receive = receive

    async def json(self) -> Any:
        """The decoded JSON body (``None`` when empty).

        Raises:
            InvalidInput: truncated or malformed JSON, bytes that are not UTF-8, a form or
                XML body, escapes of lone surrogates, numbers out of range, nesting too deep.
        """
        try:
            return await super().json()
        except RecursionError:
            raise InvalidInput("the request body is not valid JSON: it is nested too deeply", field="body") from None
        except (SerializationException, ValueError) as exc:
            reason = str(exc.detail if isinstance(exc, SerializationException) else exc).splitlines()[0]
            raise InvalidInput(f"the request body is not valid JSON: {reason}", field="body") from None
