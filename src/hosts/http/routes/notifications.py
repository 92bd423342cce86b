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
from litestar import Router
from litestar.enums import RequestEncodingType
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIType, Reference, Schema
from litestar.params import Body, JSONBody, KwargDefinition, QueryParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from townsquare.bootstrap import Services
from townsquare.core.identity import Actor
from townsquare.core.notifications import (
    CATEGORIES,
    Channel,
    Digest,
    Lane,
    Notification,
    NotSentReason,
    OutboxMessage,
    OutboxStatus,
    Preferences,
    SendResult,
    UnreadCounts,
)
from townsquare.core.notifications.digests import DigestRun, DigestStatus
from townsquare.core.notifications.preferences import WEEKDAYS, DigestFrequency
from townsquare.core.notifications.service import DEFAULT_PAGE_SIZE
from townsquare.hosts.http.auth import admin_guard
from townsquare.hosts.http.convert import project
from townsquare.hosts.http.deps import ActorDep, MetricsDep, ServicesDep
from townsquare.hosts.http.openapi import one_of, values_of
from townsquare.hosts.http.routes.declare import API, get, patch, post

TAGS = ["notifications"]
KEEPALIVE_SECONDS = 15.0


# -- bodies ----------------------------------------------------------------------------------


def preferences_schema(*, partial: bool) -> dict[str, Any]:
    """The preferences document's schema (``schema_extra``), from the core's own lists of values.

    ``partial``: a merge patch (RFC 7396): every key optional, and ``null`` resets a value to
    its default.
    """

    def leaf(kind: OpenAPIType, description: str, **extra: Any) -> Schema:
        if partial and "enum" in extra:
            extra["enum"] = [*extra["enum"], None]
        return Schema(type=[kind, OpenAPIType.NULL] if partial else kind, description=description, **extra)

    def group(description: str, properties: dict[str, Schema | Reference]) -> Schema:
        return Schema(
            type=[OpenAPIType.OBJECT, OpenAPIType.NULL] if partial else OpenAPIType.OBJECT,
            description=description,
            properties=properties,
            required=None if partial else sorted(properties),
            additional_properties=False,
        )

    clock = {"pattern": r"^([01]\d|2[0-3]):[0-5]\d$"}
    properties = {
        "timezone": leaf(
            OpenAPIType.STRING, "IANA time zone (Europe/Berlin): quiet hours, the daily cap's day and digests follow it"
        ),
        "email_address": Schema(
            type=[OpenAPIType.STRING, OpenAPIType.NULL],
            description="where email notifications and digests go; null: none (email sends are refused)",
        ),
        "channels": group(
            "whether each channel is on",
            {channel.value: leaf(OpenAPIType.BOOLEAN, f"send {channel.value} notifications") for channel in Channel},
        ),
        "categories": group(
            "whether each category is on",
            {category: leaf(OpenAPIType.BOOLEAN, f"send {category} notifications") for category in CATEGORIES},
        ),
        "quiet_hours": group(
            "a daily window (local time, may cross midnight) in which sends answer quiet_hours",
            {
                "enabled": leaf(OpenAPIType.BOOLEAN, "whether the window applies"),
                "start": leaf(OpenAPIType.STRING, "local start, HH:MM", **clock),
                "end": leaf(OpenAPIType.STRING, "local end, HH:MM (not equal to start)", **clock),
            },
        ),
        "digest": group(
            "the email digest of unread notifications",
            {
                "frequency": leaf(OpenAPIType.STRING, "off, daily or weekly", **values_of(DigestFrequency)),
                "hour": leaf(OpenAPIType.INTEGER, "local hour it goes out, 0-23", minimum=0, maximum=23),
                "weekday": leaf(OpenAPIType.STRING, "the day of a weekly digest", **values_of(WEEKDAYS)),
            },
        ),
    }
    return {
        "properties": properties,
        "additional_properties": False,
        "required": None if partial else sorted(properties),
    }


PreferencesPatch = Annotated[
    dict[str, Any],
    Body(
        media_type=RequestEncodingType.JSON,
        title="PreferencesPatch",
        description=(
            "A partial preferences document (RFC 7396 merge patch): objects merge key by key, siblings"
            " are kept, null resets a value to its default; an unknown key or a bad value is a 400 naming it"
        ),
        schema_extra=preferences_schema(partial=True),
    ),
]


@frozen
class NotificationBody:
    """A notification in the caller's inbox.

    Attributes:
        id: its id (derived from the send's idempotency key when it had one).
        channel: how it was delivered; only in-app ones are in the inbox lanes.
        category: what it is about; decides the lane.
        lane: the inbox tab it is in (derived from the category).
        title: its title.
        body: its text (may be empty).
        data: the sender's JSON object (links, ids), as sent.
        created_at: when it was sent (UTC).
        read_at: when it was read (UTC); null while unread.
        is_read: whether it was read (by id, or by a mark-all-read of its lane).
    """

    id: str
    channel: Annotated[str, one_of(Channel)]
    category: Annotated[str, one_of(CATEGORIES)]
    lane: Annotated[str, one_of(Lane)]
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
    """A page of the inbox, newest first.

    Attributes:
        items: the page's notifications.
        next_cursor: pass as ``cursor`` for the next page; null on the last page.
    """

    items: list[NotificationBody]
    next_cursor: str | None


@frozen
class Counts:
    """Unread in-app notifications per lane (every lane listed) and in total.

    Attributes:
        lanes: unread count by lane (social, commerce, events, system).
        total: the sum over the lanes.
    """

    lanes: dict[str, int]
    total: int

    @classmethod
    def of(cls, counts: UnreadCounts) -> Counts:
        return cls(lanes={lane.value: count for lane, count in counts.lanes.items()}, total=counts.total)


@frozen
class MarkRead:
    """Notification ids to mark read (1..500); any id that is not yours is a 404 and nothing changes.

    Attributes:
        ids: the notifications' ids; marking a read one again changes nothing.
    """

    ids: list[str]


@frozen
class MarkAllRead:
    """Mark everything read, or only one lane's (``social``, ``commerce``, ``events``, ``system``).

    Attributes:
        lane: only this lane; omitted or null: every lane.
    """

    lane: Annotated[str | None, one_of(Lane, nullable=True)] = None


@frozen
class Marked:
    """What a mark-read changed, and the counts after it.

    Attributes:
        marked: notifications that were unread and are now read.
        counts: the unread counts after the change.
    """

    marked: int
    counts: Counts


@frozen
class SendRequest:
    """A notification for a user (admin or backend service).

    Attributes:
        user_id: the recipient: any user id (1-200 printable characters; in mock mode the demo
            users are ``alice``, ``bob``, ``carol`` and ``admin``); an unknown one is a new user.
        channel: how to deliver it; email needs the user's ``email_address`` preference.
        category: what it is about; decides the lane and the user's category switch.
        title: 1-200 characters.
        body: the text, up to 5,000 characters.
        data: a JSON object shown to the client as sent (links, ids).
        idempotency_key: the same key (per user) sends once and answers the same id with
            ``duplicate: true``, also under racing retries.
    """

    user_id: str
    channel: Annotated[str, one_of(Channel)]
    category: Annotated[str, one_of(CATEGORIES)]
    title: str
    body: str = ""
    data: dict[str, Any] | None = None
    idempotency_key: str | None = None


@frozen
class SendOutcome:
    """``sent`` with the notification id, or not sent with the reason (quiet_hours, daily_cap, ...).

    Not sending is a soft answer (200): quiet hours in the user's time zone, the daily cap
    (5 per user, channel and local day, counting sent ones only), or a channel or category the
    user turned off. Nothing is queued then.

    Attributes:
        sent: whether it was sent.
        notification_id: the notification's id when sent (also for a duplicate); null otherwise.
        reason: why it was not sent; null when sent.
        duplicate: whether the idempotency key had been sent before (nothing new was sent).
    """

    sent: bool
    notification_id: str | None
    reason: Annotated[str | None, one_of(NotSentReason, nullable=True)]
    duplicate: bool

    @classmethod
    def of(cls, result: SendResult) -> SendOutcome:
        return project(result, cls)


@frozen
class TestNotification:
    """A test notification to yourself.

    Attributes:
        category: its category (default ``test``, in the system lane).
    """

    category: Annotated[str, one_of(CATEGORIES)] = "test"


@frozen
class PreferencesBody:
    """The effective preferences: the defaults merged with what you stored.

    Attributes:
        preferences: the whole document, every key present.
        digest_next_at: when the next digest goes out (UTC); null when digests are off.
        email_verified: whether ``preferences.email_address`` was confirmed with the code
            mailed to it; no mail goes to it before.
    """

    preferences: Annotated[dict[str, Any], KwargDefinition(schema_extra=preferences_schema(partial=False))]
    digest_next_at: datetime | None
    email_verified: bool

    @classmethod
    def of(cls, prefs: Preferences, services: Services) -> PreferencesBody:
        from townsquare.core.notifications.digests import next_send_at

        return cls(
            preferences=dict(prefs.document),
            digest_next_at=next_send_at(prefs, services.clock.now()),
            email_verified=prefs.email_verified,
        )


@frozen
class EmailCode:
    """A confirmation of your email address.

    Attributes:
        code: the six digits mailed to the address in your preferences.
    """

    code: str


@frozen
class DigestPreview:
    """What the next digest would contain if it went out now.

    Attributes:
        frequency: the user's digest frequency.
        since: the start of the period it covers (UTC).
        until: the end of the period it covers (UTC).
        counts: unread counts in that period.
        items: the unread notifications it would list, newest first.
        next_at: when it goes out (UTC); null when digests are off.
    """

    frequency: Annotated[str, one_of(DigestFrequency)]
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
    """A mail written to the outbox (the worker delivers it).

    Attributes:
        outbox_id: the mail's id (``GET /api/v1/notifications/mail`` lists it).
        to: the address it goes to.
        subject: its subject.
    """

    outbox_id: str
    to: str
    subject: str


@frozen
class DigestRunBody:
    """One digest of the caller: queued once per period.

    Attributes:
        id: the run's id.
        period_key: the period it covers (``daily:2026-01-15``, ``weekly:2026-W03``).
        status: pending (queued), mailed (in the outbox), skipped (nothing unread, or no
            address), or sent (marked as gone out).
        created_at: when it was queued (UTC).
        sent_at: when it was marked sent (UTC); null before.
    """

    id: str
    period_key: str
    status: Annotated[str, one_of(DigestStatus)]
    created_at: datetime
    sent_at: datetime | None

    @classmethod
    def of(cls, run: DigestRun) -> DigestRunBody:
        return project(run, cls)


@frozen
class MailBody:
    """A mail in the caller's outbox.

    Attributes:
        id: the mail's id.
        to: the address.
        subject: its subject.
        status: pending, dispatched (a delivery job is queued) or delivered.
        created_at: when it was written (UTC).
        delivered_at: when it was delivered (UTC); null before.
    """

    id: str
    to: str
    subject: str
    status: Annotated[str, one_of(OutboxStatus)]
    created_at: datetime
    delivered_at: datetime | None

    @classmethod
    def of(cls, mail: OutboxMessage) -> MailBody:
        return cls(
            mail.id, mail.message.to, mail.message.subject, mail.status.value, mail.created_at, mail.delivered_at
        )


@frozen
class Queued:
    """How many digests were queued.

    Attributes:
        queued: digests queued now (0 when run again in the same period).
    """

    queued: int


@frozen
class MarkDigestSent:
    """A user's digest for a period that went out.

    Attributes:
        user_id: whose digest.
        period_key: its period (``DigestRunBody.period_key``).
    """

    user_id: str
    period_key: str


@frozen
class DigestMarked:
    """Whether a digest run was marked sent.

    Attributes:
        marked: true when a run for that user and period existed and was not sent yet.
    """

    marked: bool


# -- the inbox -------------------------------------------------------------------------------


@get("/notifications", summary="Your in-app notifications, newest first (one lane or all)")
def list_notifications(
    services: ServicesDep,
    actor: ActorDep,
    lane: Annotated[
        str | None,
        QueryParameter(description="only this lane (default: all)", schema_extra=values_of(Lane, nullable=True)),
    ] = None,
    cursor: Annotated[str | None, QueryParameter(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, QueryParameter(description="1..100")] = DEFAULT_PAGE_SIZE,
) -> NotificationPage:
    """The caller's in-app notifications, newest first, in one lane or all, cursor paged (`limit` 1-100). A
    cursor belongs to one lane; another lane's is a 400.
    """
    page = services.notifications.inbox(actor, lane, cursor, limit)
    return NotificationPage(items=[NotificationBody.of(item) for item in page.items], next_cursor=page.next_cursor)


@get("/notifications/counts", summary="Your unread counts per lane and in total")
def counts(services: ServicesDep, actor: ActorDep) -> Counts:
    """The caller's unread in-app notifications per lane (every lane listed) and in total."""
    return Counts.of(services.notifications.counts(actor))


@post("/notifications/read", summary="Mark notifications read", status_code=200, problems=[404])
def mark_read(services: ServicesDep, actor: ActorDep, data: JSONBody[MarkRead]) -> Marked:
    """Mark the caller's notifications read by id (1-500 ids); any id that is not theirs is a 404 and nothing
    changes. Answers how many were unread and the counts after.
    """
    marked = services.notifications.mark_read(actor, data.ids)
    return Marked(marked=marked, counts=Counts.of(services.notifications.counts(actor)))


@post("/notifications/read-all", summary="Mark all notifications read (or one lane's)", status_code=200)
def mark_all_read(services: ServicesDep, actor: ActorDep, data: JSONBody[MarkAllRead]) -> Marked:
    """Mark every notification of the caller read, or only one lane's, as of now; answers how many were unread
    and the counts after.
    """
    marked = services.notifications.mark_all_read(actor, data.lane)
    return Marked(marked=marked, counts=Counts.of(services.notifications.counts(actor)))


@get(
    "/notifications/stream",
    summary="Server-sent events: a 'counts' event now and whenever your unread counts change",
    responses={
        200: ResponseSpec(
            data_container=Counts,
            media_type="text/event-stream",
            description=(
                "A stream of server-sent events: `event: counts` with the unread counts as JSON (the"
                " Counts schema) at once and after every change; a `: keep-alive` comment every 15 s"
                " of silence"
            ),
            generate_examples=False,
        )
    },
)
async def stream_counts(services: ServicesDep, actor: ActorDep) -> ServerSentEvent:
    """Server-sent events for the caller: a `counts` event with the unread counts at once, then whenever they
    change (a send, a read), without polling; a keep-alive comment every 15 s of silence.
    """
    return ServerSentEvent(_count_events(services, actor))


async def _count_events(
    services: Services, actor: Actor, user_id: str | None = None
) -> AsyncIterator[ServerSentEventMessage]:
    notifications = services.notifications
    with notifications.subscribe_counts(actor, user_id) as subscription:
        last: Counts | None = None
        while True:
            current = Counts.of(await asyncio.to_thread(notifications.counts, actor, user_id))
            if current != last:
                payload = json.dumps({"lanes": current.lanes, "total": current.total}, separators=(",", ":"))
                yield ServerSentEventMessage(event="counts", data=payload)
                last = current
            changed = await subscription.wait_async(KEEPALIVE_SECONDS)
            if not changed:
                # Keeps proxies from closing an idle stream.
                yield ServerSentEventMessage(comment="keep-alive")


@post(
    "/notifications/test",
    summary="Send yourself a test in-app notification (through quiet hours and caps)",
    status_code=200,
)
def send_test(services: ServicesDep, actor: ActorDep, data: JSONBody[TestNotification]) -> SendOutcome:
    """Send the caller a test in-app notification through the normal rules (quiet hours, the daily cap, switched-
    off categories): the answer may be a soft `sent: false` with the reason.
    """
    return SendOutcome.of(services.notifications.send_test(actor, data.category))


@post(
    "/notifications/send",
    summary="Send a notification to a user (admin): a soft 'not sent' result names the reason",
    guards=[admin_guard],
    status_code=200,
)
def send_notification(
    services: ServicesDep, actor: ActorDep, metrics: MetricsDep, data: JSONBody[SendRequest]
) -> SendOutcome:
    """Send a notification to any user (admin). It goes out unless the user's quiet hours (their time zone, may
    cross midnight), the daily cap (5 per user, channel and local day, exact under concurrency) or a channel
    or category they turned off say no: then the answer is a soft `sent: false` with the reason (200, nothing
    queued). Email goes through the outbox and needs the user's `email_address`. Idempotent by key per user: a
    retry answers the same id with `duplicate: true`.
    """
    started = time.perf_counter()
    result = services.notifications.send(
        actor,
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


@get("/notification-prefs", summary="Your notification preferences (defaults merged)")
def get_preferences(services: ServicesDep, actor: ActorDep) -> PreferencesBody:
    """The caller's effective preferences (the defaults merged with what they stored), and when the next digest
    goes out.
    """
    return PreferencesBody.of(services.notifications.preferences(actor), services)


@patch("/notification-prefs", summary="Deep-merge a partial preferences document (null resets a value to its default)")
def update_preferences(services: ServicesDep, actor: ActorDep, data: PreferencesPatch) -> PreferencesBody:
    """Deep-merge a partial document into the caller's preferences (RFC 7396): objects merge key by key, siblings
    are kept, `null` resets a value to its default. An unknown key or a bad value is a 400 naming it
    (`quiet_hours.start`) and changes nothing.
    """
    return PreferencesBody.of(services.notifications.update_preferences(actor, data), services)


@post(
    "/notification-prefs/email/verify",
    summary="Confirm your email address with the code mailed to it (setting email_address sends one)",
    status_code=200,
)
def verify_email(services: ServicesDep, actor: ActorDep, data: JSONBody[EmailCode]) -> PreferencesBody:
    """No mail reaches the address before; a wrong code spends one of 5 tries (400 naming ``code``)."""
    return PreferencesBody.of(services.notifications.verify_email(actor, data.code), services)


# -- digests ---------------------------------------------------------------------------------


@get("/notification-digest/preview", summary="What your next digest would contain")
def digest_preview(services: ServicesDep, actor: ActorDep) -> DigestPreview:
    """What the caller's next digest would contain if it went out now: the unread notifications of the period and
    their counts.
    """
    return DigestPreview.of(services.notifications.digest_preview(actor))


@post(
    "/notification-digest/send-test",
    summary="Email yourself your digest now (through the outbox)",
    status_code=202,
    problems=[400],
)
def digest_send_test(services: ServicesDep, actor: ActorDep) -> QueuedMail:
    """Write the caller's digest to the mail outbox now, whatever the schedule (marked as a test); the worker
    delivers it. Without an `email_address` preference it is a 400.
    """
    queued = services.notifications.send_test_digest(actor)
    return QueuedMail(outbox_id=queued.id, to=queued.message.to, subject=queued.message.subject)


@get("/notifications/mail", summary="Your notification mail: pending, dispatched to the worker, or delivered")
def my_mail(services: ServicesDep, actor: ActorDep) -> list[MailBody]:
    """The caller's notification mail, oldest first: pending, dispatched to the worker, or delivered."""
    return [MailBody.of(mail) for mail in services.notifications.outbox(actor)]


@get("/notification-digest/runs", summary="Your digests, newest first")
def digest_runs(services: ServicesDep, actor: ActorDep) -> list[DigestRunBody]:
    """The caller's digest runs, newest first: one per period, with its status."""
    return [DigestRunBody.of(run) for run in services.notifications.digest_runs(actor)]


@post(
    "/notification-digest/enqueue-due",
    summary="Queue every due digest now (admin; the worker does this every five minutes)",
    guards=[admin_guard],
    status_code=200,
)
def digest_enqueue_due(services: ServicesDep, actor: ActorDep) -> Queued:
    """Queue the digest of every user whose chosen local hour has passed in the current period, once per user and
    period (running it again, or on two workers, queues nothing twice). The worker does this every five
    minutes.
    """
    return Queued(queued=services.notifications.enqueue_due_digests(actor))


@post(
    "/notification-digest/mark-sent",
    summary="Record that a user's digest for a period went out (admin)",
    guards=[admin_guard],
    status_code=200,
)
def digest_mark_sent(services: ServicesDep, actor: ActorDep, data: JSONBody[MarkDigestSent]) -> DigestMarked:
    """Record that a user's digest for a period went out; false when there was no such run or it was marked
    already.
    """
    return DigestMarked(marked=services.notifications.mark_digest_sent(actor, data.user_id, data.period_key))


HANDLERS: list[Any] = [
    list_notifications,
    counts,
    mark_read,
    mark_all_read,
    stream_counts,
    send_test,
    send_notification,
    get_preferences,
    update_preferences,
    verify_email,
    digest_preview,
    digest_send_test,
    digest_runs,
    my_mail,
    digest_enqueue_due,
    digest_mark_sent,
]


def router() -> Router:
    """The notifications, preferences and digest routes under /api/v1."""
    return Router(path=API, route_handlers=HANDLERS, tags=TAGS)
