"""Digests: when one is due (per user, per period), what it contains and how it reads as an email.

A period is a local day (daily digests) or an ISO week (weekly ones). A user's digest for a
period is due once their local clock has passed their chosen slot in it (hour, or weekday and
hour); the period key (``daily:2026-01-15``, ``weekly:2026-W03``) makes queuing it idempotent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from attrs import frozen

from townsquare.core.notifications.models import Lane, MailMessage, Notification, UnreadCounts
from townsquare.core.notifications.preferences import DigestFrequency, DigestSchedule, Preferences

DIGEST_ITEM_LIMIT = 20
"""A digest lists at most this many notifications (the newest); counts cover all of them."""


class DigestStatus(StrEnum):
    PENDING = "pending"  # queued by enqueue_due, waiting to be built
    MAILED = "mailed"  # built and written to the mail outbox
    SKIPPED = "skipped"  # nothing unread to tell: no email
    SENT = "sent"  # the mail went out (mark_sent)


@frozen
class DigestWindow:
    """For one time zone and frequency at one instant: the current slot and period.

    Users in ``timezone`` with ``frequency`` whose slot is at most ``current_slot`` are due
    for ``period_key`` (unless it was already queued).
    """

    timezone: str
    frequency: DigestFrequency
    current_slot: int
    period_key: str


@frozen
class DigestRun:
    """One user's digest for one period."""

    id: str
    user_id: str
    period_key: str
    status: DigestStatus
    created_at: datetime
    sent_at: datetime | None = None


@frozen
class Digest:
    """What a digest contains: unread in-app notifications since ``since`` and unread counts."""

    user_id: str
    frequency: DigestFrequency
    since: datetime
    until: datetime
    items: Sequence[Notification]
    counts: UnreadCounts
    next_at: datetime | None

    @property
    def is_empty(self) -> bool:
        return not self.items


def period_key(frequency: DigestFrequency, local: datetime) -> str:
    """The period containing the local time ``local``."""
    if frequency is DigestFrequency.WEEKLY:
        year, week, _ = local.isocalendar()
        return f"weekly:{year}-W{week:02d}"
    return f"daily:{local.date().isoformat()}"


def current_slot(frequency: DigestFrequency, local: datetime) -> int:
    """How far into its period the local time ``local`` is, in whole hours (see DigestSchedule.slot)."""
    if frequency is DigestFrequency.WEEKLY:
        return local.weekday() * 24 + local.hour
    return local.hour


def due_windows(timezones: Iterable[str], now: datetime) -> list[DigestWindow]:
    """The windows to test every user against at ``now``: one per time zone and frequency."""
    windows: list[DigestWindow] = []
    for name in sorted(set(timezones)):
        local = now.astimezone(ZoneInfo(name))
        for frequency in (DigestFrequency.DAILY, DigestFrequency.WEEKLY):
            windows.append(DigestWindow(name, frequency, current_slot(frequency, local), period_key(frequency, local)))
    return windows


def is_due(schedule: DigestSchedule, zone: ZoneInfo, now: datetime) -> bool:
    """Whether the slot of the current period has passed (the rule ``due_windows`` encodes)."""
    if schedule.frequency is DigestFrequency.OFF:
        return False
    return schedule.slot <= current_slot(schedule.frequency, now.astimezone(zone))


def next_send_at(prefs: Preferences, now: datetime) -> datetime | None:
    """When the next scheduled digest is due (UTC), or None when digests are off."""
    schedule = prefs.digest
    if schedule.frequency is DigestFrequency.OFF:
        return None
    zone = prefs.zone
    local = now.astimezone(zone)
    day = local.date()
    if schedule.frequency is DigestFrequency.WEEKLY:
        day = day - timedelta(days=local.weekday()) + timedelta(days=schedule.weekday)
    step = timedelta(days=7 if schedule.frequency is DigestFrequency.WEEKLY else 1)
    candidate = datetime.combine(day, time(schedule.hour), tzinfo=zone)
    while candidate.astimezone(UTC) <= now:
        day += step
        candidate = datetime.combine(day, time(schedule.hour), tzinfo=zone)
    return candidate.astimezone(UTC)


def covered_since(frequency: DigestFrequency, now: datetime) -> datetime:
    """The start of what a digest covers: the last day, or the last week for weekly digests."""
    return now - (timedelta(days=7) if frequency is DigestFrequency.WEEKLY else timedelta(days=1))


def render(digest: Digest, to: str, *, test: bool = False) -> MailMessage:
    """The digest as a plain-text email."""
    total = digest.counts.total
    noun = "notification" if total == 1 else "notifications"
    label = "digest" if digest.frequency is DigestFrequency.OFF else f"{digest.frequency.value} digest"
    subject = f"{'[test] ' if test else ''}Your {label}: {total} unread {noun}"
    lines = [f"You have {total} unread {noun}."]
    for lane in Lane:
        count = digest.counts.lanes[lane]
        if count:
            lines.append(f"  {lane.value}: {count}")
    if digest.items:
        lines.append("")
        lines.append("Latest:")
        lines.extend(f"- [{item.lane.value}] {item.title}: {item.body}" for item in digest.items)
    if digest.next_at is not None:
        lines.append("")
        lines.append(f"Next digest: {digest.next_at.isoformat()}")
    headers = {"X-Townsquare-Kind": "digest-test" if test else "digest"}
    return MailMessage(to=to, subject=subject, text="\n".join(lines) + "\n", headers=headers)
