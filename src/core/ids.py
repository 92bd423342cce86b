"""Where new ids come from: random UUIDs in production, a repeatable sequence in mock mode.

Ids derived from an idempotency key never come from here; only ids of things a client did
not name (an unkeyed notification, an outbox mail, a digest run).
"""

from __future__ import annotations

import random
import threading
import uuid
from typing import Protocol


class IdSource(Protocol):
    """Makes a new unique id (a UUID in text form)."""

    def new_id(self) -> str: ...


class RandomIds:
    """Version 4 UUIDs from the operating system's randomness."""

    def new_id(self) -> str:
        return str(uuid.uuid4())


class SeededIds:
    """Version 4 UUIDs from a seeded generator: the same sequence on every run and machine.

    Mock mode uses it so the same requests after a reset get the same ids; :meth:`reset`
    starts the sequence again.

    Args:
        seed: where the sequence starts.
    """

    def __init__(self, seed: int = 0) -> None:
        self._seed = seed
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def new_id(self) -> str:
        with self._lock:
            bits = self._random.getrandbits(128)
        return str(uuid.UUID(int=bits, version=4))

    def reset(self) -> None:
        """Start the sequence again from the seed."""
        with self._lock:
            self._random.seed(self._seed)
