"""The notification service: send with the policy, the inbox lanes, preferences, digests and mail."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any

from townsquare.core.clock import Clock
from townsquare.core.cursor import CursorCodec
from townsquare.core.errors import Forbidden, InvalidCursor, InvalidInput, NotFound
from townsquare.core.identity import ADMIN_ROLE, Actor, check_user_id
from townsquare.core.ids import IdSource, RandomIds
from townsquare.core.jobs import JobRequest, JobService
from townsquare.core.notifications import digests, policy, verification
from townsquare.core.notifications.digests import Digest, DigestStatus
from townsquare.core.notifications.models import (
    Channel,
    Notification,
    OutboxBacklog,
    OutboxMessage,
    OutboxStatus,
    Page,
    SendResult,
    UnreadCounts,
    lane_of,
    parse_channel,
    parse_lane,
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
from townsquare.core.notifications.preferences import MAIL_STATE, Preferences, apply_patch
from townsquare.core.notifications.sending import NotificationSender, PreferencesMemory
from townsquare.core.text import check_storable, check_storable_json, is_storable
from townsquare.core.uow import UnitOfWork

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100
MAX_MARK_READ = 500
MAX_TITLE = 200
MAX_BODY = 2000
MAX_DATA_BYTES = 4096
MAX_KEY = 200
MAIL_MAX_ATTEMPTS = 5
DELIVER_MAIL = "notifications.deliver_mail"
BUILD_DIGESTS = "notifications.build_digests"
_ID_NAMESPACE = uuid.UUID("6f1d3a52-8f0e-4c55-9a4e-1b7f6d2c9e10")
SENDER_ROLES: frozenset[str] = frozenset({ADMIN_ROLE, "service"})
"""Who may send a notification to any user: admins and the other services (workers, seeders)."""


class NotificationService:
    """Sends notifications under the user's preferences and keeps their inbox, digests and mail.

    Args:
        uow: opens the transaction around every operation.
        clock: the time every rule uses.
        cursors: signs page cursors.
        notifications, preferences, digest_runs, outbox: the stores.
        mailer: delivers outbox mail.
        events: announces unread-count changes to live subscribers.
        jobs: queues mail deliveries and digest builds in the caller's transaction.
        daily_cap: most notifications sent per user, channel and local day.
        remembered_preferences: the preferences sends were last decided on (a hint, checked
            by every write; :mod:`townsquare.core.notifications.sending`).
        ids: makes the ids of unkeyed notifications and of outbox mail (random by default).
    """

    def __init__(
        self,
        *,
        uow: UnitOfWork,
        clock: Clock,
        cursors: CursorCodec,
        notifications: NotificationStore,
        preferences: PreferenceStore,
        digest_runs: DigestStore,
        outbox: MailOutbox,
        mailer: MailSender,
        events: NotificationEvents,
        jobs: JobService,
        daily_cap: int = policy.DEFAULT_DAILY_CAP,
        remembered_preferences: PreferencesMemory | None = None,
        ids: IdSource | None = None,
    ) -> None:
        if daily_cap < 1:
            raise ValueError("daily_cap must be at least 1")
        self._uow = uow
        self._clock = clock
        self._cursors = cursors
        self._notifications = notifications
        self._preferences = preferences
        self._digest_runs = digest_runs
        self._outbox = outbox
        self._mailer = mailer
        self._events = events
        self._jobs = jobs
        self._ids = ids if ids is not None else RandomIds()
        self._remembered = remembered_preferences if remembered_preferences is not None else PreferencesMemory()
        self._sender = NotificationSender(
            notifications=notifications, events=events, ids=self._ids, daily_cap=daily_cap, remembered=self._remembered
        )

    @property
    def daily_cap(self) -> int:
        """Most notifications sent per user, channel and local day."""
        return self._sender.daily_cap

    @daily_cap.setter
    def daily_cap(self, cap: int) -> None:
        if cap < 1:
            raise ValueError("daily_cap must be at least 1")
        self._sender.daily_cap = cap

    def subscribe_counts(self, actor: Actor, user_id: str | None = None) -> AbstractContextManager[CountsSubscription]:
        """Listen for changes of unread counts (sends, reads) until the block ends.

        The actor's own counts, or (admins only) ``user_id``'s.
        """
        return self._events.subscribe(_whose(actor, user_id))

    # -- sending -----------------------------------------------------------------------------

    def send(
        self,
        actor: Actor,
        user_id: str,
        channel: str,
        category: str,
        *,
        title: str,
        body: str = "",
        data: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> SendResult:
        """Send a notification unless the user's preferences, quiet hours or the daily cap say no.

        Args:
            actor: who sends: an admin or a service (:data:`SENDER_ROLES`).
            user_id: the recipient.
            channel: ``inapp``, ``email`` or ``push``.
            category: one of :data:`~townsquare.core.notifications.models.CATEGORIES`; decides the lane.
            title, body: the text (title 1..200 characters, body up to 2000).
            data: a JSON object for the client (at most 4 KiB as JSON).
            idempotency_key: a retry with the same key returns the first send's id.

        Returns:
            The notification id, or a soft "not sent" with its reason (nothing stored or queued).

        Raises:
            Forbidden: the actor may not send notifications to others.
            InvalidInput: an unknown channel or category, or text or data out of bounds.
        """
        if not actor.roles & SENDER_ROLES:
            raise Forbidden("sending notifications needs the admin role")
        return self._send_built(
            user_id, channel, category, title=title, body=body, data=data, idempotency_key=idempotency_key
        )

    def _send_built(
        self,
        user_id: str,
        channel: str,
        category: str,
        *,
        title: str,
        body: str,
        data: Mapping[str, Any] | None,
        idempotency_key: str | None,
    ) -> SendResult:
        notification = self._build(
            user_id, channel, category, title=title, body=body, data=data, idempotency_key=idempotency_key
        )
        with self._uow.single_statements(actor=user_id):
            return self._sender.send(notification)

    def _build(
        self,
        user_id: str,
        channel: str,
        category: str,
        *,
        title: str,
        body: str,
        data: Mapping[str, Any] | None,
        idempotency_key: str | None,
    ) -> Notification:
        """Check a send's input and build its notification (nothing stored yet)."""
        check_user_id(user_id)
        chosen = parse_channel(channel)
        lane = lane_of(category)
        _check_text(title, body)
        payload = _check_data(data)
        if idempotency_key is not None and (
            not isinstance(idempotency_key, str)
            or not 1 <= len(idempotency_key) <= MAX_KEY
            or not is_storable(idempotency_key)
        ):
            raise InvalidInput(
                f"idempotency_key must be 1..{MAX_KEY} characters, without NUL or unpaired surrogates",
                field="idempotency_key",
            )
        return Notification(
            id=self._ids.new_id() if idempotency_key is None else _keyed_id(user_id, idempotency_key),
            user_id=user_id,
            channel=chosen,
            category=category,
            lane=lane,
            title=title,
            body=body,
            data=payload,
            created_at=self._clock.now(),
            idempotency_key=idempotency_key,
        )

    def send_test(self, actor: Actor, category: str = "test") -> SendResult:
        """Send the actor an in-app test notification now, through the normal policy (checks the settings)."""
        now = self._clock.now()
        return self._send_built(
            actor.user_id,
            Channel.INAPP.value,
            category,
            title=f"Test notification ({category})",
            body=f"Sent at {now.isoformat()} to check your notification settings.",
            data={"test": True},
            idempotency_key=None,
        )

    # -- the inbox -----------------------------------------------------------------------------

    def inbox(
        self, actor: Actor, lane: str | None = None, cursor: str | None = None, limit: int = DEFAULT_PAGE_SIZE
    ) -> Page:
        """A page of the user's in-app notifications, newest first (one lane, or all of them).

        Raises:
            InvalidInput: an unknown lane or a limit outside 1..100.
            InvalidCursor: a malformed, tampered, expired or foreign cursor.
        """
        user_id = actor.user_id
        chosen = parse_lane(lane) if lane is not None else None
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise InvalidInput(f"limit must be between 1 and {MAX_PAGE_SIZE}, got {limit}", field="limit")
        scope = f"notifications:{chosen.value if chosen else 'all'}:{user_id}"
        after = _decode_position(self._cursors.decode(scope, cursor)) if cursor is not None else None
        with self._uow.transaction(actor=user_id):
            items = self._notifications.page(user_id, chosen, limit + 1, after)
        next_cursor = None
        if len(items) > limit:
            items = items[:limit]
            last = items[-1]
            next_cursor = self._cursors.encode(scope, {"t": last.created_at.isoformat(), "id": last.id})
        return Page(items=items, next_cursor=next_cursor)

    def counts(self, actor: Actor, user_id: str | None = None) -> UnreadCounts:
        """Unread in-app notifications per lane and in total: the actor's, or (admins) ``user_id``'s."""
        user_id = _whose(actor, user_id)
        # One read, atomic on its own: a single round trip in Postgres.
        with self._uow.single_statements(actor=user_id):
            return UnreadCounts.of(self._notifications.unread_counts(user_id))

    def mark_read(self, actor: Actor, ids: Sequence[str]) -> int:
        """Mark the user's notifications ``ids`` read (already-read ones stay as they are).

        Returns:
            How many changed from unread to read.

        Raises:
            InvalidInput: no ids, too many, or an id that is not a UUID.
            NotFound: an id that is not one of the user's in-app notifications; nothing changes.
        """
        user_id = actor.user_id
        wanted = _check_ids(ids)
        with self._uow.transaction(actor=user_id):
            missing = sorted(set(wanted) - self._notifications.owned(user_id, wanted))
            if missing:
                raise NotFound(f"no such notification: {', '.join(missing[:5])}", field="ids")
            changed = self._notifications.mark_read(user_id, wanted, self._clock.now())
            if changed:
                self._events.counts_changed(user_id)
            return changed

    def mark_all_read(self, actor: Actor, lane: str | None = None) -> int:
        """Mark every unread in-app notification read, or only one lane's. Returns how many changed."""
        user_id = actor.user_id
        chosen = parse_lane(lane) if lane is not None else None
        with self._uow.transaction(actor=user_id):
            changed = self._notifications.mark_all_read(user_id, chosen, self._clock.now())
            if changed:
                self._events.counts_changed(user_id)
            return changed

    # -- preferences ---------------------------------------------------------------------------

    def preferences(self, actor: Actor) -> Preferences:
        """The defaults merged with what the user stored."""
        user_id = actor.user_id
        with self._uow.transaction(actor=user_id):
            return Preferences.from_stored(self._preferences.load(user_id))

    def update_preferences(self, actor: Actor, patch: Any) -> Preferences:
        """Deep-merge a partial preferences document (JSON merge patch; ``null`` resets a value).

        Raises:
            InvalidInput: an unknown key or a bad value; ``field`` is its dotted path. Nothing changes.
        """
        user_id = actor.user_id
        now = self._clock.now()
        with self._uow.transaction(actor=user_id):
            stored = self._preferences.load_for_update(user_id) or {}
            merged = apply_patch(stored, patch)
            state = verification.mail_state(merged)
            address = merged.get("email_address")
            mail = None
            if address is None:
                state.pop("pending", None)
            elif "email_address" in patch and address != state.get("verified_address"):
                # A new address, or the same one again while unverified: (re-)send a code.
                mail = verification.start_verification(user_id, address, state, now)
            merged = {**merged, MAIL_STATE: state} if state else {k: v for k, v in merged.items() if k != MAIL_STATE}
            effective = Preferences.from_stored(merged)
            self._preferences.save(user_id, merged, effective, now)
            if mail is not None:
                self._outbox.add(OutboxMessage(id=str(uuid.uuid4()), user_id=user_id, message=mail, created_at=now))
        self._remembered.forget(user_id)  # this process's next send reads the new version
        return effective

    def verify_email(self, actor: Actor, code: str) -> Preferences:
        """Confirm the preferences' email address with the code that was mailed to it.

        Raises:
            InvalidInput: the code is malformed, wrong, expired or out of attempts (``field``
                ``code``; a wrong code spends one of its attempts).
        """
        user_id = actor.user_id
        verification.check_code(code)
        now = self._clock.now()
        with self._uow.transaction(actor=user_id):
            stored = self._preferences.load_for_update(user_id) or {}
            state = verification.mail_state(stored)
            matched = verification.confirm(user_id, stored.get("email_address"), code, state, now)
            if state != verification.mail_state(stored):
                merged = {**stored, MAIL_STATE: state}
                effective = Preferences.from_stored(merged)
                self._preferences.save(user_id, merged, effective, now)
            else:
                effective = Preferences.from_stored(stored)
        self._remembered.forget(user_id)
        if not matched:
            raise InvalidInput(
                "the code is wrong, expired or out of attempts; set email_address again for a new one", field="code"
            )
        return effective

    def trust_email_address(self, actor: Actor, user_id: str, address: str) -> Preferences:
        """Set the preferences' email address as verified, without a code or any mail.

        For trusted callers only (demo data, imports of addresses verified elsewhere); no
        HTTP route leads here.

        Raises:
            Forbidden: the actor is neither an admin nor a service.
            InvalidInput: ``address`` is not an email address.
        """
        if not actor.roles & SENDER_ROLES:
            raise Forbidden("trusting an email address needs the admin role")
        check_user_id(user_id)
        now = self._clock.now()
        with self._uow.transaction(actor=user_id):
            stored = self._preferences.load_for_update(user_id) or {}
            merged = apply_patch(stored, {"email_address": address})
            state = verification.mail_state(merged)
            state.pop("pending", None)
            state["verified_address"] = address
            merged = {**merged, MAIL_STATE: state}
            effective = Preferences.from_stored(merged)
            self._preferences.save(user_id, merged, effective, now)
        self._remembered.forget(user_id)
        return effective

    # -- digests -------------------------------------------------------------------------------

    def digest_preview(self, actor: Actor) -> Digest:
        """What the user's next digest would contain if it were built now."""
        user_id = actor.user_id
        with self._uow.transaction(actor=user_id):
            prefs = Preferences.from_stored(self._preferences.load(user_id))
            return self._build_digest(user_id, prefs, self._clock.now())

    def send_test_digest(self, actor: Actor) -> OutboxMessage:
        """Write the user's digest to the mail outbox now, whatever the schedule (marked as a test).

        At most ``DAILY_QUOTAS["test_digests"]`` a day per user (:mod:`.verification`).

        Raises:
            InvalidInput: no email address in the preferences, an address not verified yet,
                or today's test digests spent.
        """
        user_id = actor.user_id
        now = self._clock.now()
        with self._uow.transaction(actor=user_id):
            stored = self._preferences.load_for_update(user_id) or {}
            prefs = Preferences.from_stored(stored)
            if not prefs.email_address:
                raise InvalidInput("set email_address in your notification preferences first", field="email_address")
            if prefs.mail_address is None:
                raise InvalidInput(
                    "confirm email_address first with the code mailed to it "
                    "(POST /api/v1/notification-prefs/email/verify)",
                    field="email_address",
                )
            state = verification.mail_state(stored)
            verification.spend(state, verification.TEST_DIGESTS, now)
            merged = {**stored, MAIL_STATE: state}
            self._preferences.save(user_id, merged, Preferences.from_stored(merged), now)
            digest = self._build_digest(user_id, prefs, now)
            message = OutboxMessage(
                id=self._ids.new_id(),
                user_id=user_id,
                message=digests.render(digest, prefs.mail_address, test=True),
                created_at=now,
            )
            self._outbox.add(message)
        self._remembered.forget(user_id)
        return message

    def enqueue_due_digests(self, actor: Actor) -> int:
        """Queue the digest of every user whose slot has passed in the current period, once per period.

        Returns how many were queued (0 when run again in the same period).
        """
        actor.require_admin()
        now = self._clock.now()
        with self._uow.transaction():
            windows = digests.due_windows(self._digest_runs.digest_timezones(), now)
            queued = self._digest_runs.enqueue_due(windows, now) if windows else 0
            if queued:
                self._jobs.enqueue(BUILD_DIGESTS, {}, idempotency_key=f"{BUILD_DIGESTS}:{now.isoformat()}")
            return queued

    def build_pending_digests(self, actor: Actor, batch: int = 200, heartbeat: Callable[[], None] | None = None) -> int:
        """Turn pending digest runs into outbox mail (or skip empty ones), a batch per transaction.

        Returns how many runs were handled.
        """
        actor.require_admin()
        handled = 0
        while True:
            now = self._clock.now()
            with self._uow.transaction():
                runs = self._digest_runs.claim_pending(batch)
                for run in runs:
                    prefs = Preferences.from_stored(self._preferences.load(run.user_id))
                    digest = self._build_digest(run.user_id, prefs, now)
                    if digest.is_empty or not prefs.mail_address or not prefs.channels[Channel.EMAIL]:
                        self._digest_runs.set_status(run.id, DigestStatus.SKIPPED, now)
                        continue
                    self._outbox.add(
                        OutboxMessage(
                            id=self._ids.new_id(),
                            user_id=run.user_id,
                            message=digests.render(digest, prefs.mail_address),
                            created_at=now,
                            digest_run_id=run.id,
                        )
                    )
                    self._digest_runs.set_status(run.id, DigestStatus.MAILED, now)
            handled += len(runs)
            if heartbeat is not None:
                heartbeat()
            if len(runs) < batch:
                return handled

    def mark_digest_sent(self, actor: Actor, user_id: str, period_key: str) -> bool:
        """Record that the user's digest for ``period_key`` went out (False: no such digest)."""
        actor.require_admin()
        check_user_id(user_id)
        if not (isinstance(period_key, str) and 0 < len(period_key) <= 64 and period_key.isprintable()):
            raise InvalidInput("period_key must be a digest period such as 'daily:2026-01-15'", field="period_key")
        with self._uow.transaction():
            return self._digest_runs.mark_sent(user_id, period_key, self._clock.now())

    def digest_runs(self, actor: Actor) -> list[digests.DigestRun]:
        """The user's digest runs, newest first."""
        user_id = actor.user_id
        with self._uow.transaction(actor=user_id):
            return self._digest_runs.runs(user_id)

    def _build_digest(self, user_id: str, prefs: Preferences, now: datetime) -> Digest:
        since = digests.covered_since(prefs.digest.frequency, now)
        return Digest(
            user_id=user_id,
            frequency=prefs.digest.frequency,
            since=since,
            until=now,
            items=self._notifications.unread_since(user_id, since, digests.DIGEST_ITEM_LIMIT),
            counts=UnreadCounts.of(self._notifications.unread_counts(user_id)),
            next_at=digests.next_send_at(prefs, now),
        )

    # -- mail ----------------------------------------------------------------------------------

    def process_outbox(self, actor: Actor, batch: int = 500) -> int:
        """Queue a delivery job for every pending outbox message (in the same transaction).

        Each job retries with backoff through the jobs port and is deduplicated by the
        message id, so running this on two workers at once delivers each message once.
        Returns how many were dispatched.
        """
        actor.require_admin()
        dispatched = 0
        while True:
            with self._uow.transaction():
                claimed = self._outbox.claim_pending(batch)
                self._jobs.enqueue_many(
                    [
                        JobRequest(
                            job_type=DELIVER_MAIL,
                            payload={"message_id": message.id},
                            idempotency_key=f"{DELIVER_MAIL}:{message.id}",
                            max_attempts=MAIL_MAX_ATTEMPTS,
                        )
                        for message in claimed
                    ]
                )
            dispatched += len(claimed)
            if len(claimed) < batch:
                return dispatched

    def deliver_mail(self, actor: Actor, message_id: str) -> bool:
        """Hand one outbox message to the MailSender and record it (a digest's run becomes sent).

        Returns False when it was delivered before (a repeated job). Raises when the mail
        server refuses, so the jobs port retries it.
        """
        actor.require_admin()
        with self._uow.transaction():
            message = self._outbox.get(message_id)
        if message is None or message.status is OutboxStatus.DELIVERED:
            return False
        # Not inside a transaction: no row is held while talking to the mail server.
        self._mailer.send(message.message)
        with self._uow.transaction():
            now = self._clock.now()
            delivered = self._outbox.mark_delivered(message_id, now)
            if delivered and message.digest_run_id is not None:
                self._digest_runs.set_status(message.digest_run_id, DigestStatus.SENT, now)
            return delivered

    def outbox_backlog(self, actor: Actor, cap: int = 100_000) -> OutboxBacklog:
        """Mail waiting for the outbox sweep (for metrics: cheap, counted up to ``cap``)."""
        actor.require_admin()
        with self._uow.transaction():
            pending, oldest = self._outbox.pending_backlog(cap)
            now = self._clock.now()
        return OutboxBacklog(pending=pending, oldest_age=max(now - oldest, timedelta(0)) if oldest else timedelta(0))

    def outbox(self, actor: Actor) -> list[OutboxMessage]:
        """The user's mail, oldest first."""
        user_id = actor.user_id
        with self._uow.transaction(actor=user_id):
            return self._outbox.list_for(user_id)


def _whose(actor: Actor, user_id: str | None) -> str:
    """The user an operation reads: the actor, or another user when the actor is an admin."""
    if user_id is None or user_id == actor.user_id:
        return actor.user_id
    actor.require_admin()
    return check_user_id(user_id)


def _keyed_id(user_id: str, idempotency_key: str) -> str:
    # A keyed send gets an id derived from its key: retries and demo data get stable ids.
    return str(uuid.uuid5(_ID_NAMESPACE, f"{user_id}\x00{idempotency_key}"))


def _check_text(title: str, body: str) -> None:
    if not isinstance(title, str) or not title.strip() or len(title) > MAX_TITLE:
        raise InvalidInput(f"title must be 1..{MAX_TITLE} characters", field="title")
    if not isinstance(body, str) or len(body) > MAX_BODY:
        raise InvalidInput(f"body must be at most {MAX_BODY} characters", field="body")
    check_storable(title, "title")
    check_storable(body, "body")


def _check_data(data: Mapping[str, Any] | None) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise InvalidInput("data must be a JSON object", field="data")
    check_storable_json(data, "data")
    try:
        encoded = json.dumps(data, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        raise InvalidInput("data must contain only JSON values", field="data") from None
    if len(encoded.encode()) > MAX_DATA_BYTES:
        raise InvalidInput(f"data must be at most {MAX_DATA_BYTES} bytes as JSON", field="data")
    decoded: dict[str, Any] = json.loads(encoded)
    return decoded


def _check_ids(ids: Sequence[str]) -> list[str]:
    if isinstance(ids, str) or not ids:
        raise InvalidInput("ids must be a non-empty list of notification ids", field="ids")
    if len(ids) > MAX_MARK_READ:
        raise InvalidInput(f"at most {MAX_MARK_READ} ids at a time", field="ids")
    checked: list[str] = []
    for value in ids:
        try:
            checked.append(str(uuid.UUID(str(value))))
        except ValueError:
            raise InvalidInput(f"{value!r} is not a notification id", field="ids") from None
    return list(dict.fromkeys(checked))


def _decode_position(position: Mapping[str, Any]) -> tuple[datetime, str]:
    try:
        created = datetime.fromisoformat(str(position["t"]))
        ident = str(uuid.UUID(str(position["id"])))
    except (KeyError, ValueError):
        raise InvalidCursor("cursor body is malformed", field="cursor") from None
    if created.tzinfo is None:
        raise InvalidCursor("cursor body is malformed", field="cursor")
    return created, ident
