"""Opaque, signed keyset cursors.

A cursor carries the position of the last item on a page plus the list it belongs to
(its *scope*, e.g. ``feed:for_you:<viewer>``). It is signed with HMAC-SHA256, so a client
can neither forge a position nor reuse a cursor on another list, and it expires.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from townsquare.core.clock import Clock
from townsquare.core.errors import InvalidCursor

_SIG_BYTES = 16


class CursorCodec:
    """Encodes and verifies page cursors.

    Args:
        secret: the signing key (from settings; never sent to clients).
        clock: used to stamp and expire cursors.
        ttl: how long a cursor stays valid.
    """

    def __init__(self, secret: bytes, clock: Clock, ttl: timedelta = timedelta(hours=24)) -> None:
        if len(secret) < 16:
            raise ValueError("cursor secret must be at least 16 bytes")
        self._secret = secret
        self._clock = clock
        self._ttl = ttl

    def encode(self, scope: str, position: Mapping[str, Any]) -> str:
        """Return an opaque cursor for ``position`` within ``scope``."""
        body = {"s": scope, "t": int(self._clock.now().timestamp()), "p": dict(position)}
        raw = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
        signed = raw + self._sign(raw)
        return base64.urlsafe_b64encode(signed).rstrip(b"=").decode()

    def decode(self, scope: str, cursor: str) -> dict[str, Any]:
        """Verify ``cursor`` and return its position.

        Raises:
            InvalidCursor: malformed, tampered, expired or from another scope.
        """
        if not cursor or len(cursor) > 4096:
            raise InvalidCursor("cursor is empty or too long", field="cursor")
        try:
            signed = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (binascii.Error, ValueError):
            raise InvalidCursor("cursor is not valid base64url", field="cursor") from None
        raw, sig = signed[:-_SIG_BYTES], signed[-_SIG_BYTES:]
        if len(signed) <= _SIG_BYTES or not hmac.compare_digest(sig, self._sign(raw)):
            raise InvalidCursor("cursor signature does not match (tampered or foreign)", field="cursor")
        try:
            body = json.loads(raw)
            issued, position, cursor_scope = int(body["t"]), body["p"], str(body["s"])
        except (ValueError, KeyError, TypeError):
            raise InvalidCursor("cursor body is malformed", field="cursor") from None
        if cursor_scope != scope:
            raise InvalidCursor("cursor belongs to another list", field="cursor")
        age = self._clock.now().timestamp() - issued
        if age > self._ttl.total_seconds():
            raise InvalidCursor("cursor has expired; start again from the first page", field="cursor")
        if not isinstance(position, dict):
            raise InvalidCursor("cursor body is malformed", field="cursor")
        return position

    def _sign(self, raw: bytes) -> bytes:
        return hmac.new(self._secret, raw, hashlib.sha256).digest()[:_SIG_BYTES]
