"""Notification preferences: the defaults, the validated deep merge of a partial update, and
the typed view the send policy and the digest schedule read.

A user's *stored* document holds only what they changed; what they *see* (and what the rules
use) is the defaults deep-merged with it. An update is a JSON merge patch (RFC 7396): objects
merge key by key, so siblings are kept, and ``null`` removes a stored value (back to the default).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping
from datetime import time
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from attrs import frozen

from townsquare.core.errors import InvalidInput
from townsquare.core.notifications.models import CATEGORIES, Channel

WEEKDAYS: tuple[str, ...] = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_HH_MM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)\Z")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+\Z")


class DigestFrequency(StrEnum):
    OFF = "off"
    DAILY = "daily"
    WEEKLY = "weekly"


DEFAULT_PREFERENCES: Mapping[str, Any] = {
    "timezone": "UTC",
    "email_address": None,
    "channels": {channel.value: True for channel in Channel},
    "categories": dict.fromkeys(CATEGORIES, True),
    "quiet_hours": {"enabled": False, "start": "22:00", "end": "07:00"},
    "digest": {"frequency": DigestFrequency.OFF.value, "hour": 9, "weekday": "monday"},
}
"""What a user who never changed anything gets."""
_DEFAULTS_JSON = json.dumps(DEFAULT_PREFERENCES)

Leaf = Callable[[str, Any], Any]


def _boolean(path: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"{path} must be true or false, got {value!r}", field=path)
    return value


def _clock_time(path: str, value: Any) -> str:
    if not isinstance(value, str) or not _HH_MM.match(value):
        raise InvalidInput(f"{path} must be a time of day as HH:MM (00:00 to 23:59), got {value!r}", field=path)
    return value


def _timezone(path: str, value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > 64:
        raise InvalidInput(f"{path} must be an IANA time zone name like 'Europe/Berlin', got {value!r}", field=path)
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"{path}: unknown time zone {value!r} (use an IANA name like 'Europe/Berlin')", field=path
        ) from None
    return value


def _email_address(path: str, value: Any) -> str:
    if not isinstance(value, str) or len(value) > 254 or not value.isprintable() or not _EMAIL.match(value):
        raise InvalidInput(f"{path} must be an email address like 'name@example.com', got {value!r}", field=path)
    return value


def _one_of(choices: tuple[str, ...]) -> Leaf:
    def check(path: str, value: Any) -> str:
        if value not in choices:
            raise InvalidInput(f"{path} must be one of {', '.join(choices)}, got {value!r}", field=path)
        return str(value)

    return check


def _hour(path: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 23:
        raise InvalidInput(f"{path} must be an hour of the day, 0 to 23, got {value!r}", field=path)
    return value


_SCHEMA: Mapping[str, Any] = {
    "timezone": _timezone,
    "email_address": _email_address,
    "channels": dict.fromkeys((c.value for c in Channel), _boolean),
    "categories": dict.fromkeys(CATEGORIES, _boolean),
    "quiet_hours": {"enabled": _boolean, "start": _clock_time, "end": _clock_time},
    "digest": {
        "frequency": _one_of(tuple(f.value for f in DigestFrequency)),
        "hour": _hour,
        "weekday": _one_of(WEEKDAYS),
    },
}


def deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``overlay`` merged in, objects key by key (neither argument is changed)."""
    merged = {key: _copied(value) for key, value in base.items()}
    for key, value in overlay.items():
        current = merged.get(key)
        if isinstance(value, Mapping) and isinstance(current, dict):
            merged[key] = deep_merge(current, value)
        else:
            merged[key] = _copied(value)
    return merged


def with_defaults(stored: Mapping[str, Any] | None) -> dict[str, Any]:
    """The defaults with ``stored`` merged in: :func:`deep_merge` for the hot path (every send).

    The defaults are copied by parsing their JSON (C speed) and ``stored`` merged into that
    fresh copy in place; copying the defaults key by key was most of a send's preference cost.
    """
    merged: dict[str, Any] = json.loads(_DEFAULTS_JSON)
    if stored:
        _merge_into(merged, stored)
    return merged


def _merge_into(target: dict[str, Any], overlay: Mapping[str, Any]) -> None:
    for key, value in overlay.items():
        current = target.get(key)
        if isinstance(value, Mapping) and isinstance(current, dict):
            _merge_into(current, value)
        else:
            target[key] = _copied(value)


def _copied(value: Any) -> Any:
    # JSON leaves (str, int, bool, None) are immutable; only containers need copying.
    if isinstance(value, Mapping):
        return {key: _copied(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copied(item) for item in value]
    return value


def apply_patch(stored: Mapping[str, Any], patch: Any) -> dict[str, Any]:
    """Validate ``patch`` and merge it into the stored document (RFC 7396 semantics).

    Args:
        stored: what the user stored so far (only the values they changed).
        patch: the partial document from the client.

    Returns:
        The new stored document; ``stored`` itself is not changed.

    Raises:
        InvalidInput: an unknown key, a value of the wrong kind or out of range; the error's
            ``field`` is the dotted path (``quiet_hours.start``).
    """
    if not isinstance(patch, Mapping):
        raise InvalidInput("preferences must be a JSON object", field="preferences")
    merged = _merge_level(stored, patch, _SCHEMA, "")
    effective = deep_merge(DEFAULT_PREFERENCES, merged)
    quiet = effective["quiet_hours"]
    if quiet["start"] == quiet["end"]:
        raise InvalidInput(
            "quiet_hours.end must differ from quiet_hours.start (an empty or full-day window is ambiguous)",
            field="quiet_hours.end",
        )
    return merged


def _merge_level(
    stored: Mapping[str, Any], patch: Mapping[str, Any], schema: Mapping[str, Any], prefix: str
) -> dict[str, Any]:
    result = copy.deepcopy(dict(stored))
    for key, value in patch.items():
        path = f"{prefix}{key}"
        if not isinstance(key, str) or key not in schema:
            known = ", ".join(f"{prefix}{name}" for name in schema)
            raise InvalidInput(f"unknown preference {path!r}; known here: {known}", field=path)
        rule = schema[key]
        if value is None:
            result.pop(key, None)
        elif isinstance(rule, Mapping):
            if not isinstance(value, Mapping):
                raise InvalidInput(f"{path} must be an object, got {value!r}", field=path)
            nested = _merge_level(result.get(key) or {}, value, rule, f"{path}.")
            if nested:
                result[key] = nested
            else:
                result.pop(key, None)
        else:
            result[key] = rule(path, value)
    return result


@frozen
class QuietHours:
    """A daily window of local wall-clock time in which nothing is sent; may cross midnight.

    ``start`` is inside the window, ``end`` is not: 23:00 -> 02:00 is quiet from 23:00:00 to 01:59:59.
    """

    start: time
    end: time

    def contains(self, local: time) -> bool:
        """Whether the wall-clock time ``local`` falls in the window."""
        wall = local.replace(tzinfo=None, fold=0)
        if self.start < self.end:
            return self.start <= wall < self.end
        return wall >= self.start or wall < self.end


@frozen
class DigestSchedule:
    """When the user wants their digest: off, daily at ``hour``, or weekly on ``weekday`` at ``hour``."""

    frequency: DigestFrequency
    hour: int
    weekday: int  # 0 = Monday

    @property
    def slot(self) -> int:
        """The position of the send time in its period, in hours: daily 0..23, weekly 0..167."""
        if self.frequency is DigestFrequency.WEEKLY:
            return self.weekday * 24 + self.hour
        return self.hour


MAIL_STATE = "mail_state"
"""The stored document's part that only the service writes (clients cannot patch it): which
address was verified, the pending verification code, and today's mail counts. Never shown."""


@frozen
class Preferences:
    """The effective preferences (defaults merged with what the user stored), typed.

    ``email_address`` is what the user set; mail goes only to :attr:`mail_address`, which is
    that address once it has been verified.
    """

    timezone: str
    email_address: str | None
    email_verified: bool
    channels: Mapping[Channel, bool]
    categories: Mapping[str, bool]
    quiet_hours: QuietHours | None
    digest: DigestSchedule
    document: Mapping[str, Any]

    @property
    def mail_address(self) -> str | None:
        """Where mail may go: the address when verified, else nowhere."""
        return self.email_address if self.email_verified else None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @classmethod
    def from_stored(cls, stored: Mapping[str, Any] | None) -> Preferences:
        """The effective preferences for a stored document (None: the defaults)."""
        doc = with_defaults(stored)
        state = doc.pop(MAIL_STATE, None)
        address = doc["email_address"]
        verified = address is not None and isinstance(state, Mapping) and state.get("verified_address") == address
        quiet = doc["quiet_hours"]
        digest = doc["digest"]
        return cls(
            timezone=doc["timezone"],
            email_address=address,
            email_verified=verified,
            channels={channel: bool(doc["channels"][channel.value]) for channel in Channel},
            categories={name: bool(doc["categories"][name]) for name in CATEGORIES},
            quiet_hours=QuietHours(_parse_time(quiet["start"]), _parse_time(quiet["end"]))
            if quiet["enabled"]
            else None,
            digest=DigestSchedule(
                DigestFrequency(digest["frequency"]), int(digest["hour"]), WEEKDAYS.index(digest["weekday"])
            ),
            document=doc,
        )


def _parse_time(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))
