"""Properties of the notification rules: quiet hours in any time zone and window (DST
included), the validated deep merge of preferences, the digest schedule and read marks.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from townsquare.core.errors import InvalidInput
from townsquare.core.notifications import DEFAULT_PREFERENCES, DigestFrequency, Preferences, QuietHours
from townsquare.core.notifications.digests import due_windows, is_due, next_send_at
from townsquare.core.notifications.models import Lane, ReadMark, read_time
from townsquare.core.notifications.policy import in_quiet_hours, local_day
from townsquare.core.notifications.preferences import WEEKDAYS, apply_patch, deep_merge, with_defaults

ZONES = sorted(available_timezones() - {"Factory", "localtime"})
zones = st.sampled_from(ZONES)
minutes = st.integers(min_value=0, max_value=24 * 60 - 1)
instants = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC))


def hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def quiet_prefs(zone: str, start: int, end: int) -> Preferences:
    return Preferences.from_stored(
        apply_patch({}, {"timezone": zone, "quiet_hours": {"enabled": True, "start": hhmm(start), "end": hhmm(end)}})
    )


@settings(max_examples=400, deadline=None)
@given(zone=zones, start=minutes, end=minutes, now=instants)
def test_quiet_hours_follow_the_local_wall_clock_in_any_zone_and_window(
    zone: str, start: int, end: int, now: datetime
) -> None:
    assume(start != end)
    prefs = quiet_prefs(zone, start, end)
    local = now.astimezone(ZoneInfo(zone))
    wall = local.hour * 60 + local.minute
    # Oracle: minutes since the window opened, modulo a day, is less than the window's length
    expected = (wall - start) % 1440 < (end - start) % 1440
    assert in_quiet_hours(prefs, now) is expected


@settings(max_examples=200, deadline=None)
@given(zone=zones, start=minutes, end=minutes, now=instants)
def test_a_window_and_its_complement_cover_every_instant_once(zone: str, start: int, end: int, now: datetime) -> None:
    assume(start != end)
    assert in_quiet_hours(quiet_prefs(zone, start, end), now) != in_quiet_hours(quiet_prefs(zone, end, start), now)


@pytest.mark.parametrize(
    ("utc", "quiet"),
    [
        # New York springs forward on 2026-03-08: 02:00 EST becomes 03:00 EDT
        ("2026-03-08T05:59:00", False),  # 00:59 EST
        ("2026-03-08T06:00:00", True),  # 01:00 EST
        ("2026-03-08T06:59:00", True),  # 01:59 EST
        ("2026-03-08T07:00:00", False),  # 03:00 EDT: the window's end, 02:30, never happened that night
        # and falls back on 2026-11-01: 01:00-01:59 happens twice, both quiet
        ("2026-11-01T05:30:00", True),  # 01:30 EDT
        ("2026-11-01T06:30:00", True),  # 01:30 EST
        ("2026-11-01T07:30:00", False),  # 02:30 EST
    ],
)
def test_quiet_hours_across_dst_changes(utc: str, quiet: bool) -> None:
    prefs = quiet_prefs("America/New_York", 60, 150)  # 01:00 -> 02:30
    assert in_quiet_hours(prefs, datetime.fromisoformat(utc).replace(tzinfo=UTC)) is quiet


def test_quiet_hours_crossing_midnight() -> None:
    window = QuietHours(time(23), time(2))
    assert [window.contains(time(h, m)) for h, m in [(22, 59), (23, 0), (0, 30), (1, 59), (2, 0)]] == [
        False,
        True,
        True,
        True,
        False,
    ]


def test_the_cap_day_is_the_local_day() -> None:
    prefs = Preferences.from_stored({"timezone": "Pacific/Kiritimati"})  # UTC+14
    assert local_day(prefs, datetime(2026, 1, 15, 10, 0, tzinfo=UTC)).isoformat() == "2026-01-16"


# -- deep merge ------------------------------------------------------------------------------

leaf_values: dict[str, st.SearchStrategy[Any]] = {
    "timezone": st.sampled_from(["UTC", "Europe/Berlin", "Asia/Kolkata", "America/Sao_Paulo"]),
    "email_address": st.from_regex(r"[a-z]{1,8}@[a-z]{1,8}\.(com|org)", fullmatch=True),
    "channels": st.booleans(),
    "categories": st.booleans(),
    "quiet_hours.enabled": st.booleans(),
    "digest.frequency": st.sampled_from([f.value for f in DigestFrequency]),
    "digest.hour": st.integers(0, 23),
    "digest.weekday": st.sampled_from(WEEKDAYS),
}


def leaf_paths(doc: dict[str, Any], prefix: str = "") -> list[str]:
    paths: list[str] = []
    for key, value in doc.items():
        if isinstance(value, dict):
            paths += leaf_paths(value, f"{prefix}{key}.")
        else:
            paths.append(f"{prefix}{key}")
    return paths


PATHS = [path for path in leaf_paths(dict(DEFAULT_PREFERENCES)) if not path.startswith("quiet_hours.s")]
PATHS = [path for path in PATHS if not path.startswith("quiet_hours.e") or path == "quiet_hours.enabled"]


@st.composite
def patches(draw: st.DrawFn) -> dict[str, Any]:
    patch: dict[str, Any] = {}
    for path in draw(st.lists(st.sampled_from(PATHS), max_size=6, unique=True)):
        head = path.split(".")[0]
        strategy = leaf_values[path] if path in leaf_values else leaf_values[head]
        node = patch
        *parents, last = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = draw(strategy)
    return patch


def get(doc: dict[str, Any], path: str) -> Any:
    for part in path.split("."):
        doc = doc[part]
    return doc


@settings(max_examples=300, deadline=None)
@given(first=patches(), second=patches())
def test_a_patch_sets_what_it_names_and_keeps_every_sibling(first: dict[str, Any], second: dict[str, Any]) -> None:
    stored = apply_patch({}, first)
    before = Preferences.from_stored(stored).document
    frozen_stored = copy.deepcopy(stored)
    merged = apply_patch(stored, second)
    after = Preferences.from_stored(merged).document
    assert stored == frozen_stored  # the input is never changed
    named = set(leaf_paths(second))
    for path in leaf_paths(dict(after)):
        expected = get(second, path) if path in named else get(dict(before), path)
        assert get(dict(after), path) == expected
    # Applying the same patch again changes nothing
    assert apply_patch(merged, second) == merged


@settings(max_examples=200, deadline=None)
@given(
    base=patches(),
    where=st.sampled_from(["", "channels.", "quiet_hours.", "digest.", "categories."]),
    key=st.text(min_size=1, max_size=10),
)
def test_an_unknown_key_anywhere_is_refused_by_its_path(base: dict[str, Any], where: str, key: str) -> None:
    assume(key not in get(dict(DEFAULT_PREFERENCES), where.rstrip(".")) if where else key not in DEFAULT_PREFERENCES)
    patch: dict[str, Any] = deep_merge(base, {})
    node = patch
    for part in where.rstrip(".").split(".") if where else []:
        node = node.setdefault(part, {})
    node[key] = True
    with pytest.raises(InvalidInput) as error:
        apply_patch({}, patch)
    assert error.value.field == f"{where}{key}"


@pytest.mark.parametrize("value", ["24:00", "25:00", "7:00", "07:60", "0700", "", None, 7, "07:00:00"])
def test_clock_times_must_be_hh_mm(value: Any) -> None:
    if value is None:
        # null resets to the default instead
        assert apply_patch({"quiet_hours": {"start": "21:00"}}, {"quiet_hours": {"start": None}}) == {}
        return
    with pytest.raises(InvalidInput) as error:
        apply_patch({}, {"quiet_hours": {"start": value}})
    assert error.value.field == "quiet_hours.start"


# -- digests ---------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    zone=zones,
    frequency=st.sampled_from([DigestFrequency.DAILY, DigestFrequency.WEEKLY]),
    hour=st.integers(0, 23),
    weekday=st.sampled_from(WEEKDAYS),
    now=instants,
)
def test_the_digest_schedule_agrees_with_itself(
    zone: str, frequency: DigestFrequency, hour: int, weekday: str, now: datetime
) -> None:
    prefs = Preferences.from_stored(
        {"timezone": zone, "digest": {"frequency": frequency.value, "hour": hour, "weekday": weekday}}
    )
    [window] = [w for w in due_windows([zone], now) if w.frequency is frequency]
    # The set-based rule (slot <= current slot) is the per-user rule
    assert (prefs.digest.slot <= window.current_slot) is is_due(prefs.digest, prefs.zone, now)
    # The next send is in the future, within a period (plus a DST hour), at the chosen local hour
    upcoming = next_send_at(prefs, now)
    assert upcoming is not None and upcoming > now
    period = timedelta(days=7 if frequency is DigestFrequency.WEEKLY else 1)
    assert upcoming - now <= period + timedelta(hours=2)
    local = upcoming.astimezone(ZoneInfo(zone))
    if local.hour != hour:  # the chosen hour did not exist that day (DST gap)
        assert local.utcoffset() != (upcoming - timedelta(hours=3)).astimezone(ZoneInfo(zone)).utcoffset()
    if frequency is DigestFrequency.WEEKLY and local.hour == hour:
        assert local.weekday() == WEEKDAYS.index(weekday)


# -- read marks ------------------------------------------------------------------------------

T0 = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def test_read_time_is_its_own_or_the_first_mark_of_its_lane_that_covers_it() -> None:
    marks = [
        ReadMark(Lane.SOCIAL, 10, T0),
        ReadMark(Lane.SOCIAL, 20, T0 + timedelta(hours=1)),
        ReadMark(Lane.EVENTS, 50, T0 + timedelta(hours=2)),
    ]
    # Read on its own: that time, whatever the marks say
    assert read_time(T0 - timedelta(minutes=1), Lane.SOCIAL, 5, marks) == T0 - timedelta(minutes=1)
    # Covered: by the first mark at or past its position
    assert read_time(None, Lane.SOCIAL, 10, marks) == T0
    assert read_time(None, Lane.SOCIAL, 11, marks) == T0 + timedelta(hours=1)
    # Sent after every mark of its lane (another lane's mark does not count): unread
    assert read_time(None, Lane.SOCIAL, 21, marks) is None
    assert read_time(None, Lane.COMMERCE, 1, marks) is None


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda inner: st.dictionaries(st.text(max_size=5), inner, max_size=4),
        max_leaves=10,
    )
)
def test_with_defaults_is_the_deep_merge_over_the_defaults(stored: Any) -> None:
    assume(isinstance(stored, dict))
    assert with_defaults(stored) == deep_merge(DEFAULT_PREFERENCES, stored)
    assert with_defaults(stored) is not with_defaults(stored)
