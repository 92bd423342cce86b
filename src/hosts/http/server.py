"""How ``townsquare serve`` runs uvicorn: bounded request heads, read deadlines, no banner,
forwarding headers believed only from configured proxies.

uvicorn's httptools protocol (the fast one, picked when httptools is installed) bounds
neither the size of a request's head nor the time a client may take to send it:
``h11_max_incomplete_event_size`` applies to the h11 protocol only, and
``timeout_keep_alive`` only to idle connections between requests. A 64 MiB header was
buffered whole, and idle half-sent requests held their sockets for ever.
:class:`GuardedHttpToolsProtocol` adds both bounds to it.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from attrs import frozen
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from townsquare.settings import Settings


@frozen
class ReadLimits:
    """What a client may send before its request is answered.

    Attributes:
        max_head_bytes: the request line plus headers; more gets a 431 and the connection closes.
        read_timeout_s: a request must arrive whole (head and body) within this many seconds
            of its first byte, and a new connection must send within this many seconds of
            opening; else it is closed (with a 408 when the head was incomplete).
    """

    max_head_bytes: int
    read_timeout_s: float


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with :class:`ReadLimits`.

    The head is counted in ``data_received`` after the parser has taken a chunk, so memory
    stays within the limit plus one read (a chunk that also holds the body is not mistaken
    for a long head).
    """

    def __init__(self, *args: Any, limits: ReadLimits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._limits = limits
        self._reading_head = True
        self._heads_begun = 0
        self._head_bytes = 0
        self._read_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_read_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_read_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        heads_before = self._heads_begun
        super().data_received(data)
        if not self._reading_head or self.transport.is_closing():
            return
        # Still in a head: all of this chunk belongs to it, unless the head began within it.
        self._head_bytes = (self._head_bytes if self._heads_begun == heads_before else 0) + len(data)
        if self._head_bytes > self._limits.max_head_bytes:
            self._refuse(431, f"the request line and headers exceed {self._limits.max_head_bytes} bytes")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading_head = True
        self._heads_begun += 1
        self._head_bytes = 0
        if self._read_deadline is None:
            self._arm_read_deadline()

    def on_headers_complete(self) -> None:
        self._reading_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm_read_deadline()
        super().on_message_complete()

    def _arm_read_deadline(self) -> None:
        self._read_deadline = self.loop.call_later(self._limits.read_timeout_s, self._read_timed_out)

    def _disarm_read_deadline(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None

    def _read_timed_out(self) -> None:
        self._read_deadline = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete and not self._reading_head:
            # The body stopped arriving: the application sees the client go away.
            cycle.disconnected = True
            cycle.message_event.set()
            self.transport.close()
        elif self._heads_begun or self._head_bytes:
            self._refuse(408, "the request was not received in time")
        else:
            self.transport.close()

    def _refuse(self, status: int, message: str) -> None:
        self._disarm_read_deadline()
        body = message.encode()
        self.transport.write(
            b"".join(
                [
                    STATUS_LINE[status],
                    b"content-type: text/plain; charset=utf-8\r\n",
                    b"content-length: " + str(len(body)).encode() + b"\r\n",
                    b"connection: close\r\n\r\n",
                    body,
                ]
            )
        )
        self.transport.close()


def server_options(settings: Settings) -> dict[str, Any]:
    """The ``uvicorn.run`` options that bound what a client can hold, from the settings."""
    limits = ReadLimits(max_head_bytes=settings.max_header_bytes, read_timeout_s=settings.request_read_timeout_s)
    return {
        # A partial of a module-level class pickles, as ``--workers`` needs.
        "http": functools.partial(GuardedHttpToolsProtocol, limits=limits),
        "h11_max_incomplete_event_size": settings.max_header_bytes,
        "timeout_keep_alive": settings.keep_alive_timeout_s,
        "limit_concurrency": settings.max_connections,
        "server_header": False,
        # uvicorn believes X-Forwarded-For from 127.0.0.1 unless told otherwise.
        "proxy_headers": bool(settings.forwarded_allow_ips),
        "forwarded_allow_ips": list(settings.forwarded_allow_ips) or [],
    }
