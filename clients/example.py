"""The generated client in use: a short, typed tour of the API against a mock-mode host.

Generate the client first (``nox -s client``), then, with the host running (``nox -s serve``)::

    PYTHONPATH=clients/townsquare-client python clients/example.py http://127.0.0.1:8000 \\
        "$(townsquare token alice)" "$(townsquare token admin --admin)"

It prints what it saw as JSON. The test suite runs it against a live host and type-checks it
with mypy --strict (tests/smoke/test_generated_client.py).
"""

from __future__ import annotations

import json
import sys
from typing import TypeVar

from townsquare_client import AuthenticatedClient, Client
from townsquare_client.api.admin import job_stats
from townsquare_client.api.earnings import summary
from townsquare_client.api.feed import home
from townsquare_client.api.notifications import counts, get_preferences, update_preferences
from townsquare_client.api.system import health, me
from townsquare_client.api.testing import move_clock, reset, seed
from townsquare_client.models import (
    ClockMove,
    ClockMoved,
    Counts,
    Done,
    Health,
    HomePage,
    JobStatsOut,
    Me,
    PreferencesBody,
    ProblemDocument,
    SummaryOut,
    UpdatePreferencesPreferencesPatch,
    UpdatePreferencesPreferencesPatchQuietHoursType0,
)

T = TypeVar("T")


def expect(value: object, kind: type[T]) -> T:
    """``value`` when it is a ``kind`` (the client parses each documented status into its own type)."""
    if not isinstance(value, kind):
        raise AssertionError(f"expected a {kind.__name__}, got {value!r}")
    return value


def tour(base_url: str, user_token: str, admin_token: str) -> dict[str, object]:
    """Reset mock mode, then read a feed page, the bell and the earnings, set quiet hours, and
    see a bad cursor refused."""
    public = Client(base_url=base_url, raise_on_unexpected_status=True)
    expect(health.sync(client=public), Health)
    expect(reset.sync(client=public), Done)
    expect(seed.sync(client=public), Done)
    with AuthenticatedClient(base_url=base_url, token=user_token, raise_on_unexpected_status=True) as user:
        caller = expect(me.sync(client=user), Me)
        first = expect(home.sync(client=user, limit=20), HomePage)
        assert isinstance(first.next_cursor, str)
        second = expect(home.sync(client=user, limit=20, cursor=first.next_cursor), HomePage)
        refused = expect(home.sync(client=user, cursor="not-a-cursor"), ProblemDocument)
        bell = expect(counts.sync(client=user), Counts)
        preferences = expect(get_preferences.sync(client=user), PreferencesBody)
        quiet = UpdatePreferencesPreferencesPatchQuietHoursType0(enabled=True, start="23:00", end="06:00")
        patch = UpdatePreferencesPreferencesPatch(quiet_hours=quiet)
        patched = expect(update_preferences.sync(client=user, body=patch), PreferencesBody)
        earnings = expect(summary.sync(client=user), SummaryOut)
    moved = expect(move_clock.sync(client=public, body=ClockMove(advance_seconds=60)), ClockMoved)
    with AuthenticatedClient(base_url=base_url, token=admin_token, raise_on_unexpected_status=True) as admin:
        stats = expect(job_stats.sync(client=admin), JobStatsOut)
    return {
        "user_id": caller.user_id,
        "feed_pages": [len(first.items), len(second.items)],
        "refused": [refused.status, refused.field],
        "unread": bell.total,
        "timezone": preferences.preferences.timezone,
        "quiet_hours": [patched.preferences.quiet_hours.start, patched.preferences.quiet_hours.end],
        "digest": patched.preferences.digest.frequency.value,
        "currencies": [entry.currency for entry in earnings.currencies],
        "clock": moved.now.isoformat(),
        "jobs_completed": stats.by_status.to_dict(),
    }


if __name__ == "__main__":
    print(json.dumps(tour(sys.argv[1], sys.argv[2], sys.argv[3]), indent=2))
