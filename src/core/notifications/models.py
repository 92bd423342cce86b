"""Notification models: channels, categories and the lanes they belong to, notifications, mail."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from attrs import field, frozen

from townsquare.core.errors import InvalidInput


class Channel(StrEnum):
    """Where a notification is delivered."""

    INAPP = "inapp"
    EMAIL = "email"
    PUSH = "push"


class Lane(StrEnum):
    """The inbox's tabs; every category belongs to exactly one."""

    SOCIAL = "social"
    COMMERCE = "commerce"
    EVENTS = "events"
    SYSTEM = "system"


CATEGORY_LANES: Mapping[str, Lane] = {
    "follow": Lane.SOCIAL,
    "like": Lane.SOCIAL,
    "comment": Lane.SOCIAL,
    "mention": Lane.SOCIAL,
    "message": Lane.SOCIAL,
    "order": Lane.COMMERCE,
    "sale": Lane.COMMERCE,
    "tip": Lane.COMMERCE,
    "payout": Lane.COMMERCE,
    "subscription": Lane.COMMERCE,
    "event": Lane.EVENTS,
    "reminder": Lane.EVENTS,
    "waitlist": Lane.EVENTS,
    "system": Lane.SYSTEM,
    "security": Lane.SYSTEM,
    "test": Lane.SYSTEM,
}
"""The category -> lane table: the one place that says which tab a notification lands in."""

CATEGORIES: tuple[str, ...] = tuple(CATEGORY_LANES)


class NotSentReason(StrEnum):
    """Why a send was refused softly (no error, nothing stored, nothing queued)."""

    QUIET_HOURS = "quiet_hours"
    DAILY_CAP = "daily_cap"
    CHANNEL_OFF = "channel_off"
    CATEGORY_OFF = "category_off"
    NO_EMAIL_ADDRESS = "no_email_address"
    EMAIL_UNVERIFIED = "email_unverified"  # the address is set but not yet confirmed with its code


def parse_channel(value: str, *, field_name: str = "channel") -> Channel:
    """The channel named ``value``, or :class:`InvalidInput` naming the field."""
    try:
        return Channel(value)
    except ValueError:
        raise InvalidInput(
            f"unknown channel {value!r}; expected one of {', '.join(c.value for c in Channel)}", field=field_name
        ) from None


def parse_lane(value: str, *, field_name: str = "lane") -> Lane:
    """The lane named ``value``, or :class:`InvalidInput` naming the field."""
    try:
        return Lane(value)
    except ValueError:
        raise InvalidInput(
            f"unknown lane {value!r}; expected one of {', '.join(lane.value for lane in Lane)}", field=field_name
        ) from None


def lane_of(category: str, *, field_name: str = "category") -> Lane:
    """The lane a category belongs to, or :class:`InvalidInput` for an unknown category."""
    lane = CATEGORY_LANES.get(category)
    if lane is None:
        raise InvalidInput(f"unknown category {category!r}; expected one of {', '.join(CATEGORIES)}", field=field_name)
    return lane


@frozen
class Notification:
    """One notification sent to one user on one channel.

    Attributes:
        id: a UUID string.
        user_id: the recipient.
        channel: how it is delivered; only in-app notifications appear in the inbox lanes.
        category: what it is about (``follow``, ``sale`` ...); decides the lane.
        lane: derived from the category.
        title, body: the text shown.
        data: free-form JSON object for the client (links, ids).
        created_at: when it was sent (UTC).
        read_at: when the user read it, or None while unread.
        idempotency_key: the sender's retry key, unique per user.
    """

    id: str
    user_id: str
    channel: Channel
    category: str
    lane: Lane
    title: str
    body: str
    data: Mapping[str, Any] = field(factory=dict)
    created_at: datetime = field(kw_only=True)
    read_at: datetime | None = field(default=None, kw_only=True)
    idempotency_key: str | None = field(default=None, kw_only=True)

    @property
    def is_read(self) -> bool:
        return self.read_at is not None


@frozen
class ReadMark:
    """A mark-all-read of one lane: its notifications up to ``read_up_to`` were read at ``marked_at``.

    ``read_up_to`` is a position in the order the store kept the user's notifications in
    (a notification sent later has a higher one), so marking a lane read is one record, not
    an update of every notification in it, and a notification sent afterwards is unread.
    """

    lane: Lane
    read_up_to: int
    marked_at: datetime


def read_time(own: datetime | None, lane: Lane, position: int, marks: Iterable[ReadMark]) -> datetime | None:
    """When a notification was read, or None while it is unread: the one rule of "unread".

    A notification is read when it was marked read on its own (``own``), or when a
    mark-all-read of its lane covered its position; then it was read when the first such
    mark was made. A mark never covers a notification sent after it.
    """
    if own is not None:
        return own
    covering = [mark for mark in marks if mark.lane is lane and mark.read_up_to >= position]
    return min(covering, key=lambda mark: mark.read_up_to).marked_at if covering else None


@frozen
class SendResult:
    """What :meth:`NotificationService.send` did.

    Attributes:
        notification_id: the id when sent (or when the idempotency key was seen before).
        reason: why it was not sent, when it was not.
        duplicate: True when an earlier send with the same idempotency key is returned.
    """

    notification_id: str | None
    reason: NotSentReason | None = None
    duplicate: bool = False

    @property
    def sent(self) -> bool:
        return self.notification_id is not None


@frozen
class SendContext:
    """What a send is decided on: an earlier send with the same key, and the stored preferences
    with their version (0: nothing stored; every save gives a new, never reused number)."""

    existing_id: str | None
    preferences: Mapping[str, Any] | None
    preferences_version: int = 0


@frozen
class AddOutcome:
    """What a store's atomic count-and-insert did: added, found the key, hit the cap, or wrote
    nothing because the preferences changed since the version the send was decided on
    (``stale`` then holds the current ones)."""

    notification_id: str | None
    duplicate: bool = False
    stale: SendContext | None = None

    @property
    def capped(self) -> bool:
        return self.notification_id is None and self.stale is None


@frozen
class Page:
    """One page of a lane, newest first, and the cursor of the next page (None at the end)."""

    items: list[Notification]
    next_cursor: str | None


@frozen
class UnreadCounts:
    """Unread in-app notifications per lane (every lane present) and in total."""

    lanes: Mapping[Lane, int]

    @property
    def total(self) -> int:
        return sum(self.lanes.values())

    @classmethod
    def of(cls, counts: Mapping[Lane, int]) -> UnreadCounts:
        return cls(lanes={lane: int(counts.get(lane, 0)) for lane in Lane})


@frozen
class MailMessage:
    """An email as the MailSender port delivers it (plain text)."""

    to: str
    subject: str
    text: str
    headers: Mapping[str, str] = field(factory=dict)


@frozen
class OutboxBacklog:
    """Outbox mail not yet handed to a delivery job.

    Attributes:
        pending: how many messages wait (counted up to the store's cap).
        oldest_age: how long the oldest of them has waited (zero when none).
    """

    pending: int
    oldest_age: timedelta


class OutboxStatus(StrEnum):
    PENDING = "pending"  # written, waiting for the outbox sweep
    DISPATCHED = "dispatched"  # a delivery job is queued for it
    DELIVERED = "delivered"  # the MailSender accepted it


@frozen
class OutboxMessage:
    """A mail waiting in (or gone through) the outbox.

    Attributes:
        id: a UUID string; also the delivery job's idempotency key.
        user_id: whose mail it is.
        message: what to send.
        created_at: when it was written (in the transaction of what caused it).
        status: pending, dispatched or delivered.
        digest_run_id: the digest run it delivers, if it is a scheduled digest.
        delivered_at: when the MailSender accepted it.
    """

    id: str
    user_id: str
    message: MailMessage
    created_at: datetime
    status: OutboxStatus = OutboxStatus.PENDING
    digest_run_id: str | None = None
    delivered_at: datetime | None = None
