"""The send path, kept in one place because it is the hot one (>= 2,000 sends/s at 8 senders).

A send is decided on the preferences this process remembers for the user, then written in one
statement that checks the cap, the preferences' version and the idempotency key together. The
remembered (preferences, version) pair is a hint: the write refuses a stale version and hands
back the current preferences, and a refusal decided on remembered preferences is confirmed by
reading the store. So a remembered entry saves a round trip when it is current and can never
make a send go out, or be refused, against what is stored.
"""

from __future__ import annotations

from attrs import frozen

from townsquare.core.bounded import BoundedCache
from townsquare.core.ids import IdSource
from townsquare.core.notifications import policy
from townsquare.core.notifications.models import (
    Channel,
    MailMessage,
    Notification,
    NotSentReason,
    OutboxMessage,
    SendContext,
    SendResult,
)
from townsquare.core.notifications.ports import NotificationEvents, NotificationStore
from townsquare.core.notifications.preferences import Preferences

DEFAULT_REMEMBERED = 10_000
# Decided on remembered preferences, then (if they were stale or refused) on stored ones, then
# once more if they changed again meanwhile: the third write takes them as current.
SEND_ATTEMPTS = 3


@frozen
class RememberedPreferences:
    """A user's effective preferences and the stored version they were read at."""

    preferences: Preferences
    version: int


class PreferencesMemory:
    """The preferences this process last decided sends on, per user (the oldest entry goes first)."""

    def __init__(self, size: int = DEFAULT_REMEMBERED) -> None:
        self._entries: BoundedCache[str, RememberedPreferences] = BoundedCache(size)

    def get(self, user_id: str) -> RememberedPreferences | None:
        return self._entries.get(user_id)

    def remember(self, user_id: str, context: SendContext) -> RememberedPreferences:
        """Parse the context's stored document, keep it (if there is room at all) and return it."""
        remembered = RememberedPreferences(Preferences.from_stored(context.preferences), context.preferences_version)
        self._entries.put(user_id, remembered)
        return remembered

    def forget(self, user_id: str) -> None:
        self._entries.forget(user_id)


class NotificationSender:
    """Decides and writes one built notification; the caller opens ``single_statements()``.

    Each store call of a send is atomic on its own (the cap, the version check, the insert and
    the mail are one statement); nothing needs two of them to be atomic together.
    """

    def __init__(
        self,
        *,
        notifications: NotificationStore,
        events: NotificationEvents,
        ids: IdSource,
        daily_cap: int,
        remembered: PreferencesMemory,
    ) -> None:
        self._notifications = notifications
        self._events = events
        self._ids = ids
        self.daily_cap = daily_cap
        self.remembered = remembered

    def send(self, notification: Notification) -> SendResult:
        user_id, channel, category, now = (
            notification.user_id,
            notification.channel,
            notification.category,
            notification.created_at,
        )
        key = notification.idempotency_key
        known = self.remembered.get(user_id)
        from_memory = known is not None
        for attempt in range(SEND_ATTEMPTS):
            if known is None:
                context = self._notifications.send_context(user_id, key)
                if context.existing_id is not None:
                    return SendResult(context.existing_id, duplicate=True)
                known = self.remembered.remember(user_id, context)
            prefs = known.preferences
            reason = policy.refusal(prefs, channel, category, now)
            if reason is not None:
                if from_memory:
                    # Refused on remembered preferences: confirm with the stored ones (the read
                    # also finds an earlier send with this key, which wins).
                    known, from_memory = None, False
                    continue
                return SendResult(None, reason)
            outcome = self._notifications.add_within_cap(
                notification,
                policy.local_day(prefs, now),
                self.daily_cap,
                # The last attempt is decided on preferences read one statement ago, and takes
                # them as current (as a read-then-write transaction would).
                preferences_version=known.version if attempt < SEND_ATTEMPTS - 1 else None,
                mail=self._mail_for(notification, prefs) if channel is Channel.EMAIL else None,
            )
            if outcome.stale is not None:
                known, from_memory = self.remembered.remember(user_id, outcome.stale), False
                continue
            if outcome.capped:
                return SendResult(None, NotSentReason.DAILY_CAP)
            assert outcome.notification_id is not None
            if outcome.duplicate:
                return SendResult(outcome.notification_id, duplicate=True)
            if channel is Channel.INAPP:
                self._events.counts_changed(user_id)
            return SendResult(notification.id)
        raise AssertionError("unreachable: the last attempt does not check the preferences version")

    def _mail_for(self, notification: Notification, prefs: Preferences) -> OutboxMessage:
        """The outbox mail of an email notification, written in the send's statement."""
        assert prefs.mail_address is not None  # the policy refuses email without a verified address
        message = MailMessage(
            to=prefs.mail_address,
            subject=notification.title,
            text=notification.body + "\n",
            headers={"X-Townsquare-Notification": notification.id},
        )
        return OutboxMessage(
            id=self._ids.new_id(), user_id=notification.user_id, message=message, created_at=notification.created_at
        )
