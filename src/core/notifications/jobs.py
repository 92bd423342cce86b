"""The notification job types: the mail outbox sweep, mail delivery, and due digests."""

from __future__ import annotations

from datetime import timedelta

from townsquare.core.identity import system_actor
from townsquare.core.jobs import JobContext, JobHandlers
from townsquare.core.notifications.service import BUILD_DIGESTS, DELIVER_MAIL, NotificationService

PROCESS_OUTBOX = "notifications.process_outbox"
ENQUEUE_DUE_DIGESTS = "notifications.enqueue_due_digests"


def register_notifications_jobs(
    handlers: JobHandlers,
    service: NotificationService,
    *,
    outbox_every: timedelta = timedelta(minutes=1),
    digests_every: timedelta = timedelta(minutes=5),
) -> None:
    """Register the notification handlers and schedule the outbox sweep and the digest check.

    Digests are checked every five minutes: a user's digest goes out within five minutes of
    their chosen hour, and checking again in the same period queues nothing twice.
    """
    worker = system_actor("notifications-worker")

    def process_outbox(_context: JobContext) -> None:
        service.process_outbox(worker)

    def deliver_mail(context: JobContext) -> None:
        service.deliver_mail(worker, str(context.payload["message_id"]))

    def enqueue_due_digests(_context: JobContext) -> None:
        service.enqueue_due_digests(worker)

    def build_digests(context: JobContext) -> None:
        service.build_pending_digests(worker, heartbeat=context.heartbeat)

    handlers.register(PROCESS_OUTBOX, process_outbox, description="queue a delivery job for each pending outbox mail")
    handlers.register(DELIVER_MAIL, deliver_mail, description="send one outbox mail through the MailSender")
    handlers.register(ENQUEUE_DUE_DIGESTS, enqueue_due_digests, description="queue every due digest, once per period")
    handlers.register(BUILD_DIGESTS, build_digests, description="write queued digests to the mail outbox")
    handlers.schedule(PROCESS_OUTBOX, outbox_every)
    handlers.schedule(ENQUEUE_DUE_DIGESTS, digests_every)
