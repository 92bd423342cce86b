from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from townsquare.core.clock import ManualClock, SystemClock


def test_manual_clock_moves_only_when_told() -> None:
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    assert clock.now() == clock.now()
    assert clock.advance(timedelta(seconds=90)) == datetime(2026, 1, 1, 0, 1, 30, tzinfo=UTC)
    clock.set(datetime(2025, 6, 1, 2, 0, tzinfo=UTC))
    assert clock.now().year == 2025


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ManualClock(datetime(2026, 1, 1))


def test_system_clock_is_utc() -> None:
    assert SystemClock().now().utcoffset() == timedelta(0)
