"""Notifications: send under the user's preferences (quiet hours, daily caps, idempotency), the
inbox by lane, preferences, digests, the mail outbox and live unread counts.
"""

from townsquare.core.notifications.digests import Digest, DigestRun, DigestStatus, DigestWindow
from townsquare.core.notifications.models import (
    CATEGORIES,
    CATEGORY_LANES,
    AddOutcome,
    Channel,
    Lane,
    MailMessage,
    Notification,
    NotSentReason,
    OutboxBacklog,
    OutboxMessage,
    OutboxStatus,
    Page,
    SendResult,
    UnreadCounts,
)
from townsquare.core.notifications.ports import (
    CountsSubscription,
    DigestStore,
    MailOutbox,
    MailSender,
    NotificationEvents,
    NotificationStore,
    PreferenceStore,
)
from townsquare.core.notifications.preferences import DEFAULT_PREFERENCES, DigestFrequency, Preferences, QuietHours
from townsquare.core.notifications.service import NotificationService

__all__ = [
    "CATEGORIES",
    "CATEGORY_LANES",
    "DEFAULT_PREFERENCES",
    "AddOutcome",
    "Channel",
    "CountsSubscription",
    "Digest",
    "DigestFrequency",
    "DigestRun",
    "DigestStatus",
    "DigestStore",
    "DigestWindow",
    "Lane",
    "MailMessage",
    "MailOutbox",
    "MailSender",
    "NotSentReason",
    "Notification",
    "NotificationEvents",
    "NotificationService",
    "NotificationStore",
    "OutboxBacklog",
    "OutboxMessage",
    "OutboxStatus",
    "Page",
    "PreferenceStore",
    "Preferences",
    "QuietHours",
    "SendResult",
    "UnreadCounts",
]
