"""Scheduled times: a wall-clock time in the author's zone resolved to one instant, and its bounds.

Daylight-saving transitions make some local times impossible and others ambiguous. The choice
here (docs/composer.md): a local time that does not exist (clocks jump over it) is refused
with a 400 naming ``local_time``, since any instant we picked would be a time the author
never wrote; a local time that happens twice (clocks fall back) means its first occurrence,
the earlier instant, unless the author passes ``fold=1`` for the second.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from townsquare.core.errors import InvalidInput

MIN_LEAD = timedelta(minutes=1)
"""A schedule must be at least this far ahead."""
MAX_LEAD = timedelta(days=365)
"""And at most this far."""


def zone(name: object) -> ZoneInfo:
    """The IANA time zone ``name``.

    Raises:
        InvalidInput: not a zone name the tz database knows (field ``time_zone``).
    """
    if not isinstance(name, str) or not 0 < len(name) <= 64 or not name.isprintable() or "\x00" in name:
        raise InvalidInput("time_zone must be an IANA time zone name such as 'Europe/Paris'", field="time_zone")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidInput(
            f"unknown time zone {name!r}; use an IANA name such as 'Europe/Paris'", field="time_zone"
        ) from None


_LOCAL_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?$")


def parse_local_time(value: object) -> datetime:
    """A wall-clock time from ``YYYY-MM-DDTHH:MM[:SS]`` (no offset: the zone is given apart).

    Raises:
        InvalidInput: anything else (field ``local_time``).
    """
    if not isinstance(value, str) or not _LOCAL_TIME.match(value):
        raise InvalidInput(
            "local_time must be a wall-clock time YYYY-MM-DDTHH:MM[:SS] without an offset", field="local_time"
        )
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"local_time {value!r} is not a real date and time", field="local_time") from None


def resolve_local_time(local_time: datetime, time_zone: str, *, fold: int = 0) -> datetime:
    """The UTC instant of wall-clock ``local_time`` in ``time_zone``.

    Args:
        local_time: a naive date and time (an offset would say the zone twice).
        time_zone: the IANA zone.
        fold: 0 for the first of an ambiguous local time's two instants, 1 for the second.

    Raises:
        InvalidInput: an offset given, an unknown zone, or a local time the zone skips.
    """
    if local_time.tzinfo is not None:
        raise InvalidInput(
            "local_time is a wall-clock time without an offset; the zone is time_zone", field="local_time"
        )
    if fold not in (0, 1):
        raise InvalidInput("fold must be 0 (first occurrence) or 1 (second)", field="fold")
    tz = zone(time_zone)
    aware = local_time.replace(tzinfo=tz, fold=fold)
    instant = aware.astimezone(UTC)
    # A skipped local time does not survive the round trip: it comes back shifted by the gap.
    if instant.astimezone(tz).replace(tzinfo=None) != local_time:
        raise InvalidInput(
            f"{local_time.isoformat()} does not exist in {time_zone} (the clocks skip it); choose another time",
            field="local_time",
        )
    return instant


def check_lead(publish_at: datetime, now: datetime) -> None:
    """Refuse a publish time less than :data:`MIN_LEAD` or more than :data:`MAX_LEAD` ahead of ``now``."""
    if publish_at < now + MIN_LEAD:
        raise InvalidInput("local_time must be at least one minute in the future", field="local_time")
    if publish_at > now + MAX_LEAD:
        raise InvalidInput("local_time must be at most one year ahead", field="local_time")
