"""The ports the notification service needs, in its own words.

Stores are used inside ``uow.transaction()`` and never take a connection; the Postgres ones
make the count-and-insert, the claims and the dedupe atomic, the memory ones rely on the
memory unit of work's lock. Rules (caps, quiet hours, due digests) are decided in the core and
passed in as plain values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime
from typing import Any, Protocol

from townsquare.core.notifications.digests import DigestRun, DigestStatus, DigestWindow
from townsquare.core.notifications.models import (
    AddOutcome,
    Lane,
    MailMessage,
    Notification,
    OutboxMessage,
    SendContext,
)
from townsquare.core.notifications.preferences import Preferences


class NotificationStore(Protocol):
    """Keeps notifications, their idempotency keys, the per-day sent counts and the read marks.

    Read and unread follow :func:`~townsquare.core.notifications.models.read_time`: a
    notification is read when it was marked read on its own or a mark-all-read of its lane
    covered it; every ``read_at`` a store returns is that time.
    """

    def send_context(self, user_id: str, idempotency_key: str | None) -> SendContext:
        """What deciding a send needs, read at once: the notification already sent with this
        key (if any) and the user's stored preference document (if any)."""
        ...

    def add_within_cap(
        self,
        notification: Notification,
        day: date,
        cap: int,
        *,
        preferences_version: int | None,
        mail: OutboxMessage | None = None,
    ) -> AddOutcome:
        """Atomically: return the existing id if the key was used; else, if the user's stored
        preferences are no longer at ``preferences_version`` (``None``: don't check), write
        nothing and return the current ones as ``stale``; else add the notification, and
        ``mail`` to the outbox, if fewer than ``cap`` were sent to this user on this channel
        on ``day``; else refuse.

        Exact under concurrency: racing calls for one user and channel are serialized.
        Atomic on its own: the Postgres store runs it as one statement, in one round trip
        when the unit of work has begun no transaction yet.
        """
        ...

    def page(
        self, user_id: str, lane: Lane | None, limit: int, after: tuple[datetime, str] | None
    ) -> list[Notification]:
        """In-app notifications, newest first by (created_at, id), strictly after ``after``."""
        ...

    def unread_counts(self, user_id: str) -> Mapping[Lane, int]:
        """Unread in-app notifications per lane (lanes with none may be missing); one statement, atomic on its own."""
        ...

    def owned(self, user_id: str, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` are the user's in-app notifications."""
        ...

    def mark_read(self, user_id: str, ids: Sequence[str], now: datetime) -> int:
        """Mark the user's unread ones among ``ids`` read on their own; returns how many changed."""
        ...

    def mark_all_read(self, user_id: str, lane: Lane | None, now: datetime) -> int:
        """Mark every unread in-app notification (of one lane) read; returns how many changed.

        Records a :class:`~townsquare.core.notifications.models.ReadMark` per lane at its newest
        unread notification, rather than touching each notification.
        """
        ...

    def unread_since(self, user_id: str, since: datetime, limit: int) -> list[Notification]:
        """The newest unread in-app notifications created at or after ``since``."""
        ...


class PreferenceStore(Protocol):
    """Keeps each user's stored (sparse) preference document and the columns schedules need."""

    def load(self, user_id: str) -> Mapping[str, Any] | None:
        """The stored document, or None when the user never changed anything."""
        ...

    def load_for_update(self, user_id: str) -> Mapping[str, Any] | None:
        """As :meth:`load`, and hold the user's row until the transaction ends (no lost update)."""
        ...

    def save(self, user_id: str, stored: Mapping[str, Any], effective: Preferences, now: datetime) -> None:
        """Replace the stored document; ``effective`` gives the time zone and digest schedule."""
        ...


class DigestStore(Protocol):
    """Digest runs: one per user and period, queued set-wise and built in batches."""

    def digest_timezones(self) -> list[str]:
        """Every time zone of a user with digests on."""
        ...

    def enqueue_due(self, windows: Sequence[DigestWindow], now: datetime) -> int:
        """Queue a pending run for every user due in ``windows`` that has none for the period.

        Returns how many were queued; running it again (or concurrently) queues none twice.
        """
        ...

    def claim_pending(self, limit: int) -> list[DigestRun]:
        """Pending runs, locked for this transaction (others skip them)."""
        ...

    def set_status(self, run_id: str, status: DigestStatus, now: datetime) -> None: ...

    def mark_sent(self, user_id: str, period_key: str, now: datetime) -> bool:
        """Record that the period's digest went out; False when there is no such run."""
        ...

    def runs(self, user_id: str) -> list[DigestRun]:
        """The user's runs, newest first."""
        ...


class MailOutbox(Protocol):
    """Mail written in the transaction of what caused it; delivered later by the worker."""

    def add(self, message: OutboxMessage) -> None: ...

    def claim_pending(self, limit: int) -> list[OutboxMessage]:
        """Pending messages, oldest first, marked dispatched (others skip them)."""
        ...

    def get(self, message_id: str) -> OutboxMessage | None: ...

    def mark_delivered(self, message_id: str, now: datetime) -> bool:
        """Record delivery; False when it was already delivered (or does not exist)."""
        ...

    def list_for(self, user_id: str) -> list[OutboxMessage]:
        """The user's mail, oldest first."""
        ...

    def pending_backlog(self, cap: int) -> tuple[int, datetime | None]:
        """How many messages are pending (at most ``cap``) and when the oldest was written."""
        ...


class MailSender(Protocol):
    """Hands an email to a mail server (or records it)."""

    def send(self, message: MailMessage) -> None:
        """Deliver ``message``; raise when the server refuses or cannot be reached."""
        ...


class CountsSubscription(Protocol):
    """A live feed of "this user's unread counts may have changed" signals."""

    def wait(self, timeout: float) -> bool:
        """Block until a change arrives (True) or ``timeout`` seconds pass (False)."""
        ...

    async def wait_async(self, timeout: float) -> bool:
        """As :meth:`wait`, without holding a thread (for an event loop, e.g. a stream)."""
        ...

    def close(self) -> None: ...


class NotificationEvents(Protocol):
    """Publishes count changes to subscribers, in this process or (Postgres) any process."""

    def counts_changed(self, user_id: str) -> None:
        """Announce a change; called inside the transaction, delivered once it commits."""
        ...

    def subscribe(self, user_id: str) -> AbstractContextManager[CountsSubscription]:
        """Listen for the user's changes until the block ends."""
        ...
