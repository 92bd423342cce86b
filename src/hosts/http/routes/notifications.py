"""Notification endpoints: the inbox by lane, unread counts (also live, as server-sent events),
marking read, preferences, digests, and the seeds' test helpers. Each caller sees only their own.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from attrs import frozen
from litestar import get, patch, post
from litestar.params import JSONBody, QueryParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from townsquare.bootstrap import Services
from townsquare.core.notifications import Digest, Notification, OutboxMessage, Preferences, SendResult, UnreadCounts
from townsquare.core.notifications.digests import DigestRun
from townsquare.core.notifications.service import DEFAULT_PAGE_SIZE
from townsquare.hosts.http.auth import admin_guard
from townsquare.hosts.http.convert import project
from townsquare.hosts.http.deps import ActorDep, MetricsDep, ServicesDep

TAGS = ["notifications"]
KEEPALIVE_SECONDS = 15.0


# -- bodies ----------------------------------------------------------------------------------


@frozen
class NotificationBody:
    id: str
    channel: str
    category: str
    lane: str
    title: str
    body: str
    data: dict[str, Any]
    created_at: datetime
    read_at: datetime | None
    is_read: bool

    @classmethod
    def of(cls, item: Notification) -> NotificationBody:
        return project(item, cls, data=dict(item.data))


@frozen
class NotificationPage:
    items: list[NotificationBody]
    next_cursor: str | None


@frozen
class Counts:
    """Unread in-app notifications per lane (every lane listed) and in total."""

    lanes: dict[str, int]
    total: int

    @classmethod
    def of(cls, counts: UnreadCounts) -> Counts:
        return cls(lanes={lane.value: count for lane, count in counts.lanes.items()}, total=counts.total)


@frozen
class MarkRead:
    """Notification ids to mark read (1..500); any id that is not yours is a 404 and nothing changes."""

    ids: list[str]


@frozen
class MarkAllRead:
    """Mark everything read, or only one lane's (``social``, ``commerce``, ``events``, ``system``)."""

    lane: str | None = None


@frozen
class Marked:
    marked: int
    counts: Counts


@frozen
class SendRequest:
    """A notification for a user (admin or backend service)."""

    user_id: str
    channel: str
    category: str
    title: str
    body: str = ""
    data: dict[str, Any] | None = None
    idempotency_key: str | None = None


@frozen
class SendOutcome:
    """``sent`` with the notification id, or not sent with the reason (quiet_hours, daily_cap, ...)."""

    sent: bool
    notification_id: str | None
    reason: str | None
    duplicate: bool

    @classmethod
    def of(cls, result: SendResult) -> SendOutcome:
        return project(result, cls)


@frozen
class TestNotification:
    category: str = "test"


@frozen
class PreferencesBody:
    """The effective preferences: the defaults merged with what you stored."""

    preferences: dict[str, Any]
    digest_next_at: datetime | None

    @classmethod
    def of(cls, prefs: Preferences, services: Services) -> PreferencesBody:
        from townsquare.core.notifications.digests import next_send_at

        return cls(preferences=dict(prefs.document), digest_next_at=next_send_at(prefs, services.clock.now()))


@frozen
class DigestPreview:
    frequency: str
    since: datetime
    until: datetime
    counts: Counts
    items: list[NotificationBody]
    next_at: datetime | None

    @classmethod
    def of(cls, digest: Digest) -> DigestPreview:
        return project(
            digest, cls, counts=Counts.of(digest.counts), items=[NotificationBody.of(item) for item in digest.items]
        )


@frozen
class QueuedMail:
    outbox_id: str
    to: str
    subject: str


@frozen
class DigestRunBody:
    id: str
    period_key: str
    status: str
    created_at: datetime
    sent_at: datetime | None

    @classmethod
    def of(cls, run: DigestRun) -> DigestRunBody:
        return project(run, cls)


@frozen
class MailBody:
    id: str
    to: str
    subject: str
    status: str
    created_at: datetime
    delivered_at: datetime | None

    @classmethod
    def of(cls, mail: OutboxMessage) -> MailBody:
        return cls(
            mail.id, mail.message.to, mail.message.subject, mail.status.value, mail.created_at, mail.delivered_at
        )


@frozen
class Queued:
    queued: int


@frozen
class MarkDigestSent:
    user_id: str
    period_key: str


@frozen
class DigestMarked:
    marked: bool


# -- the inbox -------------------------------------------------------------------------------


@get(
    "/api/v1/notifications",
    summary="Your in-app notifications, newest first (one lane or all)",
    tags=TAGS,
    sync_to_thread=True,
)
def list_notifications(
    services: ServicesDep,
    actor: ActorDep,
    lane: Annotated[str | None, QueryParameter(description="social, commerce, events or system")] = None,
    cursor: Annotated[str | None, QueryParameter(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, QueryParameter(description="1..100")] = DEFAULT_PAGE_SIZE,
) -> NotificationPage:
    page = services.notifications.inbox(actor.user_id, lane, cursor, limit)
    return NotificationPage(items=[NotificationBody.of(item) for item in page.items], next_cursor=page.next_cursor)


@get("/api/v1/notifications/counts", summary="Your unread counts per lane and in total", tags=TAGS, sync_to_thread=True)
def counts(services: ServicesDep, actor: ActorDep) -> Counts:
    return Counts.of(services.notifications.counts(actor.user_id))


@post("/api/v1/notifications/read", summary="Mark notifications read", tags=TAGS, sync_to_thread=True, status_code=200)
def mark_read(services: ServicesDep, actor: ActorDep, data: JSONBody[MarkRead]) -> Marked:
    marked = services.notifications.mark_read(actor.user_id, data.ids)
    return Marked(marked=marked, counts=Counts.of(services.notifications.counts(actor.user_id)))


@post(
    "/api/v1/notifications/read-all",
    summary="Mark all notifications read (or one lane's)",
    tags=TAGS,
    sync_to_thread=True,
    status_code=200,
)
def mark_all_read(services: ServicesDep, actor: ActorDep, data: JSONBody[MarkAllRead]) -> Marked:
    marked = services.notifications.mark_all_read(actor.user_id, data.lane)
    return Marked(marked=marked, counts=Counts.of(services.notifications.counts(actor.user_id)))


@get(
    "/api/v1/notifications/stream",
    summary="Server-sent events: a 'counts' event now and whenever your unread counts change",
    tags=TAGS,
)
async def stream_counts(services: ServicesDep, actor: ActorDep) -> ServerSentEvent:
    return ServerSentEvent(_count_events(services, actor.user_id))


async def _count_events(services: Services, user_id: str) -> AsyncIterator[ServerSentEventMessage]:
    notifications = services.notifications
    with notifications.subscribe_counts(user_id) as subscription:
        last: Counts | None = None
        while True:
            current = Counts.of(await asyncio.to_thread(notifications.counts, user_id))
            if current != last:
                payload = json.dumps({"lanes": current.lanes, "total": current.total}, separators=(",", ":"))
                yield ServerSentEventMessage(event="counts", data=payload)
                last = current
            changed = await subscription.wait_async(KEEPALIVE_SECONDS)
            if not changed:
                # Keeps proxies from closing an idle stream.
                yield ServerSentEventMessage(comment="keep-alive")


@post(
    "/api/v1/notifications/test",
    summary="Send yourself a test in-app notification (through quiet hours and caps)",
    tags=TAGS,
    sync_to_thread=True,
    status_code=200,
)
def enqueue_test(services: ServicesDep, actor: ActorDep, data: JSONBody[TestNotification]) -> SendOutcome:
    return SendOutcome.of(services.notifications.enqueue_test(actor.user_id, data.category))


@post(
    "/api/v1/notifications/send",
    summary="Send a notification to a user (admin): a soft 'not sent' result names the reason",
    tags=TAGS,
    guards=[admin_guard],
    sync_to_thread=True,
    status_code=200,
)
def send_notification(services: ServicesDep, metrics: MetricsDep, data: JSONBody[SendRequest]) -> SendOutcome:
    started = time.perf_counter()
    result = services.notifications.send(
        data.user_id,
        data.channel,
        data.category,
        title=data.title,
        body=data.body,
        data=data.data,
        idempotency_key=data.idempotency_key,
    )
    if metrics is not None:
        metrics.notification_sent(data.channel, result, time.perf_counter() - started)
    return SendOutcome.of(result)


# -- preferences -----------------------------------------------------------------------------


@get(
    "/api/v1/notification-prefs",
    summary="Your notification preferences (defaults merged)",
    tags=TAGS,
    sync_to_thread=True,
)
def get_preferences(services: ServicesDep, actor: ActorDep) -> PreferencesBody:
    return PreferencesBody.of(services.notifications.preferences(actor.user_id), services)


@patch(
    "/api/v1/notification-prefs",
    summary="Deep-merge a partial preferences document (null resets a value to its default)",
    tags=TAGS,
    sync_to_thread=True,
)
def update_preferences(services: ServicesDep, actor: ActorDep, data: JSONBody[dict[str, Any]]) -> PreferencesBody:
    return PreferencesBody.of(services.notifications.update_preferences(actor.user_id, data), services)


# -- digests ---------------------------------------------------------------------------------


@get(
    "/api/v1/notification-digest/preview", summary="What your next digest would contain", tags=TAGS, sync_to_thread=True
)
def digest_preview(services: ServicesDep, actor: ActorDep) -> DigestPreview:
    return DigestPreview.of(services.notifications.digest_preview(actor.user_id))


@post(
    "/api/v1/notification-digest/send-test",
    summary="Email yourself your digest now (through the outbox)",
    tags=TAGS,
    sync_to_thread=True,
    status_code=202,
)
def digest_send_test(services: ServicesDep, actor: ActorDep) -> QueuedMail:
    queued = services.notifications.send_test_digest(actor.user_id)
    return QueuedMail(outbox_id=queued.id, to=queued.message.to, subject=queued.message.subject)


@get(
    "/api/v1/notifications/mail",
    summary="Your notification mail: pending, dispatched to the worker, or delivered",
    tags=TAGS,
    sync_to_thread=True,
)
def my_mail(services: ServicesDep, actor: ActorDep) -> list[MailBody]:
    return [MailBody.of(mail) for mail in services.notifications.outbox(actor.user_id)]


@get("/api/v1/notification-digest/runs", summary="Your digests, newest first", tags=TAGS, sync_to_thread=True)
def digest_runs(services: ServicesDep, actor: ActorDep) -> list[DigestRunBody]:
    return [DigestRunBody.of(run) for run in services.notifications.digest_runs(actor.user_id)]


@post(
    "/api/v1/notification-digest/enqueue-due",
    summary="Queue every due digest now (admin; the worker does this every five minutes)",
    tags=TAGS,
    guards=[admin_guard],
    sync_to_thread=True,
    status_code=200,
)
def digest_enqueue_due(services: ServicesDep) -> Queued:
    return Queued(queued=services.notifications.enqueue_due_digests())


@post(
    "/api/v1/notification-digest/mark-sent",
    summary="Record that a user's digest for a period went out (admin)",
    tags=TAGS,
    guards=[admin_guard],
    sync_to_thread=True,
    status_code=200,
)
def digest_mark_sent(services: ServicesDep, data: JSONBody[MarkDigestSent]) -> DigestMarked:
    return DigestMarked(marked=services.notifications.mark_digest_sent(data.user_id, data.period_key))


ROUTES: list[Any] = [
    list_notifications,
    counts,
    mark_read,
    mark_all_read,
    stream_counts,
    enqueue_test,
    send_notification,
    get_preferences,
    update_preferences,
    digest_preview,
    digest_send_test,
    digest_runs,
    my_mail,
    digest_enqueue_due,
    digest_mark_sent,
]
