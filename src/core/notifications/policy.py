"""The send policy: whether a notification may go out now, and which local day its cap counts in."""

from __future__ import annotations

from datetime import date, datetime

from townsquare.core.notifications.models import Channel, NotSentReason
from townsquare.core.notifications.preferences import Preferences

DEFAULT_DAILY_CAP = 5
"""At most this many notifications are sent per user, per channel, per local day."""


def refusal(prefs: Preferences, channel: Channel, category: str, now: datetime) -> NotSentReason | None:
    """Why a send must not happen now, or None when it may (the daily cap is checked atomically by the store).

    The checks run in a fixed order, so the reason reported is the most permanent one:
    a channel or category the user turned off, a missing or unverified email address, then
    quiet hours.
    """
    if not prefs.channels[channel]:
        return NotSentReason.CHANNEL_OFF
    if not prefs.categories[category]:
        return NotSentReason.CATEGORY_OFF
    if channel is Channel.EMAIL and not prefs.email_address:
        return NotSentReason.NO_EMAIL_ADDRESS
    if channel is Channel.EMAIL and not prefs.email_verified:
        return NotSentReason.EMAIL_UNVERIFIED
    if in_quiet_hours(prefs, now):
        return NotSentReason.QUIET_HOURS
    return None


def in_quiet_hours(prefs: Preferences, now: datetime) -> bool:
    """Whether ``now`` falls in the user's quiet hours, read on their local wall clock."""
    if prefs.quiet_hours is None:
        return False
    return prefs.quiet_hours.contains(now.astimezone(prefs.zone).time())


def local_day(prefs: Preferences, now: datetime) -> date:
    """The user's calendar day at ``now``: the daily cap resets at their local midnight."""
    return now.astimezone(prefs.zone).date()
