"""The Clock port: every rule that depends on time asks a Clock, so tests move time."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Tells the current time, always timezone-aware UTC."""

    def now(self) -> datetime: ...


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to: for tests and mock mode.

    Args:
        start: the initial time; naive values are rejected so no local time sneaks in.
    """

    def __init__(self, start: datetime) -> None:
        self._start = _require_utc(start)
        self._now = self._start
        self._lock = threading.Lock()

    @property
    def start(self) -> datetime:
        """The time the clock was made with (where :meth:`reset` puts it back)."""
        return self._start

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, when: datetime) -> None:
        """Jump to ``when`` (forwards or backwards)."""
        with self._lock:
            self._now = _require_utc(when)

    def reset(self) -> None:
        """Go back to :attr:`start` (mock mode's reset puts time back where it began)."""
        self.set(self._start)

    def advance(self, delta: timedelta) -> datetime:
        """Move forwards by ``delta`` and return the new time."""
        with self._lock:
            self._now = self._now + delta
            return self._now


def _require_utc(when: datetime) -> datetime:
    if when.tzinfo is None:
        raise ValueError("clock times must be timezone-aware")
    return when.astimezone(UTC)
