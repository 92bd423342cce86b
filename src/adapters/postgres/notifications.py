"""Postgres adapters of the notification ports.

The daily cap is a counter row per (user, channel, local day) bumped with a conditional
upsert, so racing sends serialize on that row and exactly ``cap`` get through; the
notification insert rides in the same statement. Mark-all-read records a read mark per lane
(the core's rule of "read", in SQL). Digests are queued set-wise, the outbox and the digest
runs are claimed with ``FOR UPDATE SKIP LOCKED``, and count changes travel to every process
with ``pg_notify`` (published once the change has committed) and a LISTEN thread per process.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

import psycopg
from sqlalchemy import Engine, Row, TextClause, text

from townsquare.adapters.counts import LocalCountsHub
from townsquare.adapters.postgres.database import PgDatabase
from townsquare.core.notifications.digests import DigestRun, DigestStatus, DigestWindow
from townsquare.core.notifications.models import (
    AddOutcome,
    Channel,
    Lane,
    MailMessage,
    Notification,
    OutboxMessage,
    OutboxStatus,
    SendContext,
)
from townsquare.core.notifications.ports import CountsSubscription
from townsquare.core.notifications.preferences import Preferences

log = logging.getLogger("townsquare.notifications")

COUNTS_CHANNEL = "townsquare_notification_counts"
PUBLISH_WINDOW_S = 0.02
"""How long the publisher gathers count changes into one NOTIFY (see PgNotificationEvents)."""
# The core's rule of "read" (models.read_time), in SQL: read on its own, or covered by the
# lane's first read mark at or past its position.
_READ_AT = (
    "coalesce(read_at, (SELECT m.marked_at FROM notification_read_marks m WHERE m.user_id = notifications.user_id "
    "AND m.lane = notifications.lane AND m.read_up_to >= notifications.seq ORDER BY m.read_up_to LIMIT 1)) AS read_at"
)
_COLUMNS = "id, user_id, channel, category, lane, title, body, data, idempotency_key, created_at"
_READ_COLUMNS = f"{_COLUMNS}, {_READ_AT}"
# Unread: not read on its own and past the lane's latest read mark (PK order: an index probe).
_PAST_MARK = (
    "seq > coalesce((SELECT max(m.read_up_to) FROM notification_read_marks m WHERE m.user_id = {user} "
    "AND m.lane = {lane}), 0)"
)

# A send is at most two calls of migration 0009's functions, and usually one: each is atomic
# on its own (PgDatabase.call); the service runs them as single statements.
_SEND_CONTEXT = (
    "SELECT existing_id, document, version "
    "FROM app.notification_send_context(%(role)s, %(actor)s, %(recipient)s, %(key)s)"
)
_ADD = (
    "SELECT outcome, notification_id, document, version FROM app.notification_add(%(role)s, %(actor)s, "
    "%(id)s::uuid, %(recipient)s, %(channel)s, %(category)s, %(lane)s, %(title)s, %(body)s, %(data)s::jsonb, "
    "%(key)s, %(created_at)s::timestamptz, %(day)s::date, %(cap)s::integer, %(version)s::bigint, "
    "%(mail_id)s::uuid, %(mail_to)s, %(mail_subject)s, %(mail_body)s, %(mail_headers)s::jsonb)"
)
# All lanes: the newest of each lane's index scan, merged. One index per lane order serves both
# pages, which keeps mark-read (an update of every row it touches) cheaper.
_LANE_SCAN = (
    "(SELECT {columns} FROM notifications WHERE user_id = :user_id AND channel = 'inapp' AND lane = '{lane}' {after}"
    "ORDER BY created_at DESC, id DESC LIMIT :limit)"
)
_AFTER = "AND (created_at, id) < (:created_at, CAST(:id AS uuid)) "


def _all_lanes(after: str) -> TextClause:
    scans = " UNION ALL ".join(
        _LANE_SCAN.format(columns=f"{_COLUMNS}, read_at, seq", lane=lane.value, after=after) for lane in Lane
    )
    # The read time is looked up for the page's rows only, after the merge.
    return text(
        f"SELECT {_COLUMNS}, {_READ_AT} FROM ("
        f"SELECT * FROM ({scans}) AS merged ORDER BY created_at DESC, id DESC LIMIT :limit"
        ") AS notifications ORDER BY created_at DESC, id DESC"
    )


_PAGE_ALL = _all_lanes("")
_PAGE_ALL_AFTER = _all_lanes(_AFTER)
_PAGE_LANE = text(
    f"SELECT {_READ_COLUMNS} FROM notifications WHERE user_id = :user_id AND channel = 'inapp' AND lane = :lane "
    "ORDER BY created_at DESC, id DESC LIMIT :limit"
)
_PAGE_LANE_AFTER = text(
    f"SELECT {_READ_COLUMNS} FROM notifications WHERE user_id = :user_id AND channel = 'inapp' AND lane = :lane "
    "AND (created_at, id) < (:created_at, CAST(:id AS uuid)) ORDER BY created_at DESC, id DESC LIMIT :limit"
)
# Per lane: an index probe for the latest mark, then an index-only range scan of what is past it.
_UNREAD_IN = (
    "SELECT count(*) AS unread, max(seq) AS up_to FROM notifications WHERE user_id = :user_id "
    "AND channel = 'inapp' AND read_at IS NULL AND lane = l.lane AND "
    + _PAST_MARK.format(user=":user_id", lane="l.lane")
)
_LANES = "unnest(CAST(:lanes AS text[])) AS l(lane)"
# One call (migration 0035): alone, in autocommit, the counts are a single round trip.
_COUNTS = "SELECT lane, unread FROM app.notification_counts(%(role)s, %(actor)s, %(user_id)s, %(lanes)s::text[])"
_OWNED = text(
    "SELECT id FROM notifications WHERE user_id = :user_id AND channel = 'inapp' AND id = ANY(CAST(:ids AS uuid[]))"
)
_MARK_READ = text(
    "UPDATE notifications SET read_at = :now WHERE user_id = :user_id AND channel = 'inapp' "
    "AND id = ANY(CAST(:ids AS uuid[])) AND read_at IS NULL AND "
    + _PAST_MARK.format(user="notifications.user_id", lane="notifications.lane")
)
# One read mark per lane with something unread, at its newest unread position: a row per
# lane however many notifications it covers. Returns how many it covered.
_MARK_ALL_READ = text(
    f"""
    WITH unread AS (
        SELECT l.lane, u.unread, u.up_to FROM {_LANES} CROSS JOIN LATERAL ({_UNREAD_IN}) AS u WHERE u.unread > 0
    ), marked AS (
        INSERT INTO notification_read_marks (user_id, lane, read_up_to, marked_at)
        SELECT :user_id, lane, up_to, :now FROM unread
        ON CONFLICT (user_id, lane, read_up_to) DO NOTHING
    )
    SELECT coalesce(sum(unread), 0) FROM unread
    """
)
_UNREAD_SINCE = text(
    f"SELECT {_COLUMNS}, read_at FROM notifications WHERE user_id = :user_id AND channel = 'inapp' "
    "AND read_at IS NULL AND created_at >= :since AND "
    + _PAST_MARK.format(user="notifications.user_id", lane="notifications.lane")
    + " ORDER BY created_at DESC, id DESC LIMIT :limit"
)
_ALL_LANES = [lane.value for lane in Lane]


def _json(document: Mapping[str, Any]) -> str:
    return json.dumps(dict(document), separators=(",", ":"))


def _notification(row: Row[Any]) -> Notification:
    return Notification(
        id=str(row.id),
        user_id=row.user_id,
        channel=Channel(row.channel),
        category=row.category,
        lane=Lane(row.lane),
        title=row.title,
        body=row.body,
        data=row.data,
        created_at=row.created_at,
        read_at=row.read_at,
        idempotency_key=row.idempotency_key,
    )


def _send_context_from_row(row: Any) -> SendContext:
    existing_id = row.existing_id
    return SendContext(str(existing_id) if existing_id is not None else None, row.document, row.version)


def _add_outcome_from_row(row: Any) -> AddOutcome:
    if row.outcome == "stale":
        return AddOutcome(None, stale=SendContext(None, row.document, row.version))
    notification_id = row.notification_id
    return AddOutcome(
        str(notification_id) if notification_id is not None else None, duplicate=row.outcome == "duplicate"
    )


class PgNotificationStore:
    """Notifications, idempotency keys and per-day sent counters in Postgres."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    def send_context(self, user_id: str, idempotency_key: str | None) -> SendContext:
        (row,) = self._db.call(_SEND_CONTEXT, {"recipient": user_id, "key": idempotency_key})
        return _send_context_from_row(row)

    def add_within_cap(
        self,
        notification: Notification,
        day: date,
        cap: int,
        *,
        preferences_version: int | None,
        mail: OutboxMessage | None = None,
    ) -> AddOutcome:
        message = mail.message if mail is not None else None
        (row,) = self._db.call(
            _ADD,
            {
                "id": notification.id,
                "recipient": notification.user_id,
                "channel": notification.channel.value,
                "category": notification.category,
                "lane": notification.lane.value,
                "title": notification.title,
                "body": notification.body,
                "data": _json(notification.data),
                "key": notification.idempotency_key,
                "created_at": notification.created_at,
                "day": day,
                "cap": cap,
                "version": preferences_version,
                "mail_id": mail.id if mail is not None else None,
                "mail_to": message.to if message is not None else None,
                "mail_subject": message.subject if message is not None else None,
                "mail_body": message.text if message is not None else None,
                "mail_headers": _json(message.headers) if message is not None else None,
            },
        )
        return _add_outcome_from_row(row)

    def page(
        self, user_id: str, lane: Lane | None, limit: int, after: tuple[datetime, str] | None
    ) -> list[Notification]:
        params: dict[str, Any] = {"user_id": user_id, "limit": limit}
        if lane is not None:
            params["lane"] = lane.value
        if after is not None:
            params["created_at"], params["id"] = after
            statement = _PAGE_ALL_AFTER if lane is None else _PAGE_LANE_AFTER
        else:
            statement = _PAGE_ALL if lane is None else _PAGE_LANE
        return [_notification(row) for row in self._db.connection().execute(statement, params)]

    def unread_counts(self, user_id: str) -> Mapping[Lane, int]:
        rows = self._db.call(_COUNTS, {"user_id": user_id, "lanes": _ALL_LANES})
        return {Lane(row.lane): int(row.unread) for row in rows}

    def owned(self, user_id: str, ids: Sequence[str]) -> set[str]:
        rows = self._db.connection().execute(_OWNED, {"user_id": user_id, "ids": list(ids)})
        return {str(ident) for (ident,) in rows}

    def mark_read(self, user_id: str, ids: Sequence[str], now: datetime) -> int:
        result = self._db.connection().execute(_MARK_READ, {"user_id": user_id, "ids": list(ids), "now": now})
        return int(result.rowcount)

    def mark_all_read(self, user_id: str, lane: Lane | None, now: datetime) -> int:
        lanes = _ALL_LANES if lane is None else [lane.value]
        params = {"user_id": user_id, "lanes": lanes, "now": now}
        return int(self._db.connection().execute(_MARK_ALL_READ, params).scalar_one())

    def unread_since(self, user_id: str, since: datetime, limit: int) -> list[Notification]:
        rows = self._db.connection().execute(_UNREAD_SINCE, {"user_id": user_id, "since": since, "limit": limit})
        return [_notification(row) for row in rows]


_LOAD_PREFS = text("SELECT document FROM notification_preferences WHERE user_id = :user_id")
_ENSURE_PREFS = text(
    "INSERT INTO notification_preferences (user_id, document, timezone, digest_frequency, digest_slot, updated_at) "
    "VALUES (:user_id, '{}'::jsonb, 'UTC', 'off', 0, '-infinity') ON CONFLICT (user_id) DO NOTHING"
)
_LOAD_PREFS_FOR_UPDATE = text("SELECT document FROM notification_preferences WHERE user_id = :user_id FOR UPDATE")
_SAVE_PREFS = text(
    """
    INSERT INTO notification_preferences (user_id, document, timezone, digest_frequency, digest_slot, updated_at)
    VALUES (:user_id, CAST(:document AS jsonb), :timezone, :frequency, :slot, :now)
    ON CONFLICT (user_id) DO UPDATE SET document = excluded.document, timezone = excluded.timezone,
        digest_frequency = excluded.digest_frequency, digest_slot = excluded.digest_slot,
        updated_at = excluded.updated_at, version = nextval('notification_preferences_version')
    """
)


class PgPreferenceStore:
    """Stored preference documents, with the time zone and digest slot as columns for enqueue_due."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    def load(self, user_id: str) -> Mapping[str, Any] | None:
        document: Mapping[str, Any] | None = self._db.connection().execute(_LOAD_PREFS, {"user_id": user_id}).scalar()
        return document

    def load_for_update(self, user_id: str) -> Mapping[str, Any] | None:
        conn = self._db.connection()
        # The row must exist to be locked: two first-time updates would otherwise both read
        # "nothing stored" and the second would drop the first's keys.
        conn.execute(_ENSURE_PREFS, {"user_id": user_id})
        document: Mapping[str, Any] | None = conn.execute(_LOAD_PREFS_FOR_UPDATE, {"user_id": user_id}).scalar()
        return document or None

    def save(self, user_id: str, stored: Mapping[str, Any], effective: Preferences, now: datetime) -> None:
        self._db.connection().execute(
            _SAVE_PREFS,
            {
                "user_id": user_id,
                "document": json.dumps(stored, separators=(",", ":")),
                "timezone": effective.timezone,
                "frequency": effective.digest.frequency.value,
                "slot": effective.digest.slot,
                "now": now,
            },
        )


_DIGEST_TIMEZONES = text(
    "SELECT DISTINCT timezone FROM notification_preferences WHERE digest_frequency <> 'off' ORDER BY timezone"
)
_ENQUEUE_DUE = text(
    """
    WITH windows AS (
        SELECT * FROM unnest(CAST(:timezones AS text[]), CAST(:frequencies AS text[]),
                             CAST(:slots AS smallint[]), CAST(:periods AS text[]))
            AS w(timezone, frequency, current_slot, period_key)
    ), queued AS (
        INSERT INTO notification_digest_runs (user_id, period_key, status, created_at)
        SELECT p.user_id, w.period_key, 'pending', :now
        FROM windows w
        JOIN notification_preferences p
          ON p.timezone = w.timezone AND p.digest_frequency = w.frequency AND p.digest_slot <= w.current_slot
        WHERE p.digest_frequency <> 'off'
          AND NOT EXISTS (
              SELECT 1 FROM notification_digest_runs r WHERE r.user_id = p.user_id AND r.period_key = w.period_key
          )
        ON CONFLICT (user_id, period_key) DO NOTHING
        RETURNING 1
    )
    SELECT count(*) FROM queued
    """
)
_RUN_COLUMNS = "id, user_id, period_key, status, created_at, sent_at"
_CLAIM_RUNS = text(
    f"SELECT {_RUN_COLUMNS} FROM notification_digest_runs WHERE status = 'pending' "
    "ORDER BY created_at, id LIMIT :limit FOR UPDATE SKIP LOCKED"
)
_SET_RUN_STATUS = text(
    "UPDATE notification_digest_runs SET status = :status, "
    "sent_at = CASE WHEN :status = 'sent' THEN :now ELSE sent_at END WHERE id = CAST(:id AS uuid)"
)
_MARK_RUN_SENT = text(
    "UPDATE notification_digest_runs SET status = 'sent', sent_at = coalesce(sent_at, :now) "
    "WHERE user_id = :user_id AND period_key = :period_key"
)
_RUNS = text(
    f"SELECT {_RUN_COLUMNS} FROM notification_digest_runs WHERE user_id = :user_id "
    "ORDER BY created_at DESC, period_key DESC"
)


def _run(row: Row[Any]) -> DigestRun:
    return DigestRun(str(row.id), row.user_id, row.period_key, DigestStatus(row.status), row.created_at, row.sent_at)


class PgDigestStore:
    """Digest runs, unique per (user, period); queued by one set-based statement."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    def digest_timezones(self) -> list[str]:
        return [str(zone) for zone in self._db.connection().execute(_DIGEST_TIMEZONES).scalars()]

    def enqueue_due(self, windows: Sequence[DigestWindow], now: datetime) -> int:
        params = {
            "timezones": [w.timezone for w in windows],
            "frequencies": [w.frequency.value for w in windows],
            "slots": [w.current_slot for w in windows],
            "periods": [w.period_key for w in windows],
            "now": now,
        }
        return int(self._db.connection().execute(_ENQUEUE_DUE, params).scalar_one())

    def claim_pending(self, limit: int) -> list[DigestRun]:
        return [_run(row) for row in self._db.connection().execute(_CLAIM_RUNS, {"limit": limit})]

    def set_status(self, run_id: str, status: DigestStatus, now: datetime) -> None:
        self._db.connection().execute(_SET_RUN_STATUS, {"id": run_id, "status": status.value, "now": now})

    def mark_sent(self, user_id: str, period_key: str, now: datetime) -> bool:
        params = {"user_id": user_id, "period_key": period_key, "now": now}
        return bool(self._db.connection().execute(_MARK_RUN_SENT, params).rowcount)

    def runs(self, user_id: str) -> list[DigestRun]:
        return [_run(row) for row in self._db.connection().execute(_RUNS, {"user_id": user_id})]


_OUTBOX_COLUMNS = "id, user_id, recipient, subject, body, headers, status, digest_run_id, created_at, delivered_at"
_ADD_MAIL = text(
    """
    INSERT INTO notification_mail_outbox (id, user_id, recipient, subject, body, headers, status, digest_run_id,
                                          created_at)
    VALUES (CAST(:id AS uuid), :user_id, :recipient, :subject, :body, CAST(:headers AS jsonb), 'pending',
            CAST(:digest_run_id AS uuid), :created_at)
    """
)
_CLAIM_MAIL = text(
    f"""
    UPDATE notification_mail_outbox SET status = 'dispatched'
    WHERE id IN (
        SELECT id FROM notification_mail_outbox WHERE status = 'pending'
        ORDER BY created_at, id LIMIT :limit FOR UPDATE SKIP LOCKED
    )
    RETURNING {_OUTBOX_COLUMNS}
    """
)
_GET_MAIL = text(f"SELECT {_OUTBOX_COLUMNS} FROM notification_mail_outbox WHERE id = CAST(:id AS uuid)")
_DELIVERED = text(
    "UPDATE notification_mail_outbox SET status = 'delivered', delivered_at = :now "
    "WHERE id = CAST(:id AS uuid) AND status <> 'delivered'"
)
_MAIL_FOR = text(
    f"SELECT {_OUTBOX_COLUMNS} FROM notification_mail_outbox WHERE user_id = :user_id ORDER BY created_at, id"
)


# Both read the partial index of pending mail; the count stops at the cap.
_PENDING_BACKLOG = text(
    "SELECT (SELECT count(*) FROM (SELECT 1 FROM notification_mail_outbox WHERE status = 'pending' LIMIT :cap) p),"
    " (SELECT min(created_at) FROM notification_mail_outbox WHERE status = 'pending')"
)


def _outbox_message(row: Row[Any]) -> OutboxMessage:
    return OutboxMessage(
        id=str(row.id),
        user_id=row.user_id,
        message=MailMessage(to=row.recipient, subject=row.subject, text=row.body, headers=row.headers),
        created_at=row.created_at,
        status=OutboxStatus(row.status),
        digest_run_id=str(row.digest_run_id) if row.digest_run_id is not None else None,
        delivered_at=row.delivered_at,
    )


class PgMailOutbox:
    """The mail outbox table; claims skip rows another worker holds."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    def add(self, message: OutboxMessage) -> None:
        self._db.connection().execute(
            _ADD_MAIL,
            {
                "id": message.id,
                "user_id": message.user_id,
                "recipient": message.message.to,
                "subject": message.message.subject,
                "body": message.message.text,
                "headers": json.dumps(dict(message.message.headers)),
                "digest_run_id": message.digest_run_id,
                "created_at": message.created_at,
            },
        )

    def claim_pending(self, limit: int) -> list[OutboxMessage]:
        rows = self._db.connection().execute(_CLAIM_MAIL, {"limit": limit})
        return sorted((_outbox_message(row) for row in rows), key=lambda m: (m.created_at, m.id))

    def get(self, message_id: str) -> OutboxMessage | None:
        row = self._db.connection().execute(_GET_MAIL, {"id": message_id}).one_or_none()
        return _outbox_message(row) if row is not None else None

    def mark_delivered(self, message_id: str, now: datetime) -> bool:
        return bool(self._db.connection().execute(_DELIVERED, {"id": message_id, "now": now}).rowcount)

    def list_for(self, user_id: str) -> list[OutboxMessage]:
        return [_outbox_message(row) for row in self._db.connection().execute(_MAIL_FOR, {"user_id": user_id})]

    def pending_backlog(self, cap: int) -> tuple[int, datetime | None]:
        pending, oldest = self._db.connection().execute(_PENDING_BACKLOG, {"cap": cap}).one()
        return int(pending), oldest


_NOTIFY = f"SELECT pg_notify('{COUNTS_CHANNEL}', %(user_id)s)"
_NOTIFY_MANY = f"SELECT pg_notify('{COUNTS_CHANNEL}', user_id) FROM unnest(%(user_ids)s::text[]) AS u(user_id)"


class PgNotificationEvents:
    """Count changes through LISTEN/NOTIFY, so a send in any process reaches subscribers in this one.

    ``counts_changed`` asks the unit of work to publish the user once the transaction has
    committed (``PgDatabase.on_commit``); a publisher thread then sends the ``pg_notify``,
    batched, in its own transaction. A rolled-back transaction announces nothing. NOTIFY is
    deliberately not run inside the sending transaction: Postgres serializes the commits of
    all notifying transactions of a database (a lock held through the WAL flush), which halved
    concurrent sends. Only a caller's own connection (``PgDatabase.bind``), whose commit we
    don't see, notifies inside its transaction.
    The first subscription starts one listener thread per process, on its own connection,
    that fans notifications out to local subscribers.

    Args:
        db: the unit of work whose transactions change counts.
        dsn: a libpq connection string for the listener's and the publisher's connections.
        publish_window: seconds the publisher gathers changes before one NOTIFY transaction.
            Each publish is a transaction with a WAL flush, under the database-wide notify
            lock: published one by one, they cost busy senders more than their own sends.
            With the window there are at most ``1 / publish_window`` per second, and a count
            reaches subscribers that much later.
    """

    def __init__(self, db: PgDatabase, dsn: str, *, publish_window: float = PUBLISH_WINDOW_S) -> None:
        self._db = db
        self._publish_window = publish_window
        self._dsn = dsn
        self.hub = LocalCountsHub()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._outgoing: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._publisher: threading.Thread | None = None

    @classmethod
    def for_engine(cls, db: PgDatabase, engine: Engine) -> PgNotificationEvents:
        url = engine.url.set(drivername="postgresql")
        return cls(db, url.render_as_string(hide_password=False))

    def counts_changed(self, user_id: str) -> None:
        if not self._db.on_commit(lambda: self._publish(user_id)):
            driver: psycopg.Connection[Any] = self._db.connection().connection.driver_connection  # type: ignore[assignment]
            driver.execute(_NOTIFY, {"user_id": user_id})

    def _publish(self, user_id: str) -> None:
        publisher = self._publisher
        if publisher is None or not publisher.is_alive():  # checked again under the lock
            with self._lock:
                if self._publisher is None or not self._publisher.is_alive():
                    self._publisher = threading.Thread(
                        target=self._publish_forever, name="notification-publisher", daemon=True
                    )
                    self._publisher.start()
        self._outgoing.put(user_id)

    def _publish_forever(self) -> None:
        conn: psycopg.Connection[Any] | None = None
        done = False
        while not done:
            first = self._outgoing.get()
            if first is None:
                break
            users = {first}
            # Whatever queues up within the window goes out in the same statement and commit.
            # Sleep through the window, then take it all: waiting on the queue instead would
            # wake this thread (and take the GIL from the senders) for every single send.
            time.sleep(self._publish_window)
            while True:
                try:
                    more = self._outgoing.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    done = True
                    break
                users.add(more)
            for attempt in range(3):
                try:
                    if conn is None or conn.closed:
                        conn = psycopg.connect(self._dsn, autocommit=True, application_name="townsquare-publisher")
                    self._notify(conn, users)
                    break
                except psycopg.Error:
                    log.warning("publishing count changes failed (attempt %d)", attempt + 1, exc_info=True)
                    if conn is not None:
                        conn.close()
                    conn = None
                    time.sleep(0.2 * (attempt + 1))
            else:
                # Other processes miss these; this process's subscribers still re-read their counts.
                for user_id in users:
                    self.hub.publish(user_id)
        if conn is not None:
            conn.close()

    def _notify(self, conn: psycopg.Connection[Any], users: set[str]) -> None:
        conn.execute(_NOTIFY_MANY, {"user_ids": sorted(users)})

    @contextmanager
    def subscribe(self, user_id: str) -> Iterator[CountsSubscription]:
        # Registered before the listener starts: its wake-up of everyone once it listens (what
        # was announced before is unknown to it) reaches this subscriber too.
        with self.hub.subscribe(user_id) as subscription:
            self._ensure_listener()
            yield subscription

    def _ensure_listener(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._listen_forever, name="notification-listener", daemon=True)
                self._thread.start()

    def _listen_forever(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._dsn, autocommit=True, application_name="townsquare-listener") as conn:
                    conn.execute(f"LISTEN {COUNTS_CHANNEL}")
                    # Anything published while we were (re)connecting is unknown: tell everyone.
                    self.hub.publish_all()
                    backoff = 0.5
                    for notice in self._notices(conn):
                        self.hub.publish(notice)
            except psycopg.Error:
                log.warning("notification listener lost its connection; reconnecting", exc_info=True)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)

    def _notices(self, conn: psycopg.Connection[Any]) -> Iterator[str]:
        while not self._stop.is_set():
            for notify in conn.notifies(timeout=0.5):
                yield notify.payload

    def close(self) -> None:
        """Publish what is pending, then stop both threads (the composition root calls this on shutdown)."""
        publisher = self._publisher
        if publisher is not None and publisher.is_alive():
            self._outgoing.put(None)
            publisher.join(timeout=5)
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=5)
