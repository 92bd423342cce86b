"""A bounded map of what a process remembers between operations; the oldest entry goes first.

For values that are hints checked elsewhere (the preferences a send was decided on) or that
never change once written (published feed items): eviction order needs no bookkeeping on a
hit, so a read is one dict lookup.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class BoundedCache(Generic[K, V]):
    """At most ``size`` entries (0: remembers nothing); putting one more drops the oldest."""

    def __init__(self, size: int) -> None:
        if size < 0:
            raise ValueError("size must not be negative")
        self._size = size
        self._entries: dict[K, V] = {}
        self._lock = threading.Lock()
        # The dict's own method: a read is one C call, with no Python frame (hot paths call
        # it once per feed item).
        self.get: Callable[[K], V | None] = self._entries.get

    def put(self, key: K, value: V) -> None:
        if not self._size:
            return
        with self._lock:
            self._entries.pop(key, None)
            if len(self._entries) >= self._size:
                del self._entries[next(iter(self._entries))]
            self._entries[key] = value

    def forget(self, key: K) -> None:
        with self._lock:
            self._entries.pop(key, None)
