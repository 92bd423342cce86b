"""Memory adapters of the notification ports: product code for mock mode, serial under the
memory unit of work's lock, every change undoable.
"""

from __future__ import annotations

import copy
import itertools
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime
from typing import Any

import attrs

from townsquare.adapters.counts import LocalCountsHub
from townsquare.adapters.memory.database import MemoryDatabase
from townsquare.core.ids import IdSource, RandomIds
from townsquare.core.notifications.digests import DigestRun, DigestStatus, DigestWindow
from townsquare.core.notifications.models import (
    AddOutcome,
    Channel,
    Lane,
    Notification,
    OutboxMessage,
    OutboxStatus,
    ReadMark,
    SendContext,
    read_time,
)
from townsquare.core.notifications.ports import CountsSubscription
from townsquare.core.notifications.preferences import DigestFrequency, Preferences


class MemoryNotificationStore:
    """Notifications per user (in sending order, with their positions), the idempotency keys,
    the daily counts and the read marks of mark-all-read."""

    def __init__(self, db: MemoryDatabase, preferences: MemoryPreferenceStore, outbox: MemoryMailOutbox) -> None:
        self._db = db
        self._preferences = preferences
        self._outbox = outbox
        self._by_id: dict[str, Notification] = {}
        self._by_user: dict[str, list[str]] = defaultdict(list)
        self._keys: dict[tuple[str, str], str] = {}
        self._sent: dict[tuple[str, Channel, date], int] = defaultdict(int)
        self._positions: dict[str, int] = {}
        self._next_position = itertools.count(1)
        self._marks: dict[str, list[ReadMark]] = defaultdict(list)
        db.on_reset(self._clear)

    def _clear(self) -> None:
        self._by_id.clear()
        self._by_user.clear()
        self._keys.clear()
        self._sent.clear()
        self._positions.clear()
        self._marks.clear()

    def send_context(self, user_id: str, idempotency_key: str | None) -> SendContext:
        existing = self._keys.get((user_id, idempotency_key)) if idempotency_key is not None else None
        return SendContext(existing, self._preferences.load(user_id), self._preferences.version(user_id))

    def add_within_cap(
        self,
        notification: Notification,
        day: date,
        cap: int,
        *,
        preferences_version: int | None,
        mail: OutboxMessage | None = None,
    ) -> AddOutcome:
        user_id = notification.user_id
        key = notification.idempotency_key
        if key is not None and (user_id, key) in self._keys:
            return AddOutcome(self._keys[(user_id, key)], duplicate=True)
        if preferences_version is not None and preferences_version != self._preferences.version(user_id):
            return AddOutcome(None, stale=self.send_context(user_id, None))
        counter = (user_id, notification.channel, day)
        if self._sent[counter] >= cap:
            return AddOutcome(None)
        self._sent[counter] += 1
        self._by_id[notification.id] = notification
        self._by_user[user_id].append(notification.id)
        self._positions[notification.id] = next(self._next_position)
        if key is not None:
            self._keys[(user_id, key)] = notification.id

        def undo() -> None:
            self._sent[counter] -= 1
            del self._by_id[notification.id]
            del self._positions[notification.id]
            self._by_user[user_id].remove(notification.id)
            if key is not None:
                del self._keys[(user_id, key)]

        self._db.record_undo(undo)
        if mail is not None:
            self._outbox.add(mail)
        return AddOutcome(notification.id)

    def _inbox(self, user_id: str) -> Iterator[Notification]:
        """The user's in-app notifications, each with its read time as the core's rule gives it."""
        marks = self._marks.get(user_id, ())
        for ident in self._by_user.get(user_id, ()):
            item = self._by_id[ident]
            if item.channel is Channel.INAPP:
                read_at = read_time(item.read_at, item.lane, self._positions[ident], marks)
                yield item if read_at == item.read_at else attrs.evolve(item, read_at=read_at)

    def page(
        self, user_id: str, lane: Lane | None, limit: int, after: tuple[datetime, str] | None
    ) -> list[Notification]:
        items = [item for item in self._inbox(user_id) if lane is None or item.lane is lane]
        if after is not None:
            items = [item for item in items if (item.created_at, item.id) < after]
        items.sort(key=lambda item: (item.created_at, item.id), reverse=True)
        return items[:limit]

    def unread_counts(self, user_id: str) -> Mapping[Lane, int]:
        counts: dict[Lane, int] = defaultdict(int)
        for item in self._inbox(user_id):
            if item.read_at is None:
                counts[item.lane] += 1
        return counts

    def owned(self, user_id: str, ids: Sequence[str]) -> set[str]:
        return {
            ident
            for ident in ids
            if (item := self._by_id.get(ident)) is not None
            and item.user_id == user_id
            and item.channel is Channel.INAPP
        }

    def mark_read(self, user_id: str, ids: Sequence[str], now: datetime) -> int:
        wanted = self.owned(user_id, ids)
        changed = [item for item in self._inbox(user_id) if item.id in wanted and item.read_at is None]
        for item in changed:
            self._by_id[item.id] = attrs.evolve(item, read_at=now)

        def undo() -> None:
            for item in changed:
                self._by_id[item.id] = item

        self._db.record_undo(undo)
        return len(changed)

    def mark_all_read(self, user_id: str, lane: Lane | None, now: datetime) -> int:
        unread: dict[Lane, list[int]] = defaultdict(list)
        for item in self._inbox(user_id):
            if item.read_at is None and (lane is None or item.lane is lane):
                unread[item.lane].append(self._positions[item.id])
        marks = self._marks[user_id]
        added = [ReadMark(chosen, max(positions), now) for chosen, positions in unread.items()]
        marks.extend(added)

        def undo() -> None:
            del marks[len(marks) - len(added) :]

        self._db.record_undo(undo)
        return sum(len(positions) for positions in unread.values())

    def unread_since(self, user_id: str, since: datetime, limit: int) -> list[Notification]:
        items = [item for item in self._inbox(user_id) if item.read_at is None and item.created_at >= since]
        items.sort(key=lambda item: (item.created_at, item.id), reverse=True)
        return items[:limit]


@attrs.frozen
class _StoredPreferences:
    document: Mapping[str, Any]
    timezone: str
    digest_frequency: DigestFrequency
    digest_slot: int
    version: int


class MemoryPreferenceStore:
    """Each user's stored preference document, with the time zone and digest slot beside it."""

    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db
        self.rows: dict[str, _StoredPreferences] = {}
        # Never restarted, not even by a reset: a version is never given out twice.
        self._versions = itertools.count(1)
        db.on_reset(self.rows.clear)

    def version(self, user_id: str) -> int:
        """The stored document's version; 0 when nothing is stored."""
        row = self.rows.get(user_id)
        return row.version if row is not None else 0

    def load(self, user_id: str) -> Mapping[str, Any] | None:
        row = self.rows.get(user_id)
        return copy.deepcopy(dict(row.document)) if row is not None else None

    def load_for_update(self, user_id: str) -> Mapping[str, Any] | None:
        return self.load(user_id)  # the memory unit of work's lock already serializes writers

    def save(self, user_id: str, stored: Mapping[str, Any], effective: Preferences, now: datetime) -> None:
        previous = self.rows.get(user_id)
        self.rows[user_id] = _StoredPreferences(
            copy.deepcopy(dict(stored)),
            effective.timezone,
            effective.digest.frequency,
            effective.digest.slot,
            next(self._versions),
        )

        def undo() -> None:
            if previous is None:
                self.rows.pop(user_id, None)
            else:
                self.rows[user_id] = previous

        self._db.record_undo(undo)


class MemoryDigestStore:
    """Digest runs, unique per user and period."""

    def __init__(self, db: MemoryDatabase, preferences: MemoryPreferenceStore, ids: IdSource | None = None) -> None:
        self._db = db
        self._preferences = preferences
        self._ids = ids if ids is not None else RandomIds()
        self._runs: dict[str, DigestRun] = {}
        self._periods: dict[tuple[str, str], str] = {}
        db.on_reset(self._clear)

    def _clear(self) -> None:
        self._runs.clear()
        self._periods.clear()

    def digest_timezones(self) -> list[str]:
        rows = self._preferences.rows.values()
        return sorted({row.timezone for row in rows if row.digest_frequency is not DigestFrequency.OFF})

    def enqueue_due(self, windows: Sequence[DigestWindow], now: datetime) -> int:
        by_zone = {(window.timezone, window.frequency): window for window in windows}
        added: list[DigestRun] = []
        for user_id, row in sorted(self._preferences.rows.items()):
            window = by_zone.get((row.timezone, row.digest_frequency))
            if window is None or row.digest_slot > window.current_slot:
                continue
            if (user_id, window.period_key) in self._periods:
                continue
            run = DigestRun(self._ids.new_id(), user_id, window.period_key, DigestStatus.PENDING, now)
            self._runs[run.id] = run
            self._periods[(user_id, run.period_key)] = run.id
            added.append(run)

        def undo() -> None:
            for run in added:
                del self._runs[run.id]
                del self._periods[(run.user_id, run.period_key)]

        self._db.record_undo(undo)
        return len(added)

    def claim_pending(self, limit: int) -> list[DigestRun]:
        pending = [run for run in self._runs.values() if run.status is DigestStatus.PENDING]
        pending.sort(key=lambda run: (run.created_at, run.id))
        return pending[:limit]

    def _replace(self, run: DigestRun) -> None:
        previous = self._runs[run.id]
        self._runs[run.id] = run
        self._db.record_undo(lambda: self._runs.__setitem__(run.id, previous))

    def set_status(self, run_id: str, status: DigestStatus, now: datetime) -> None:
        run = self._runs.get(run_id)
        if run is not None:
            sent_at = now if status is DigestStatus.SENT else run.sent_at
            self._replace(attrs.evolve(run, status=status, sent_at=sent_at))

    def mark_sent(self, user_id: str, period_key: str, now: datetime) -> bool:
        run_id = self._periods.get((user_id, period_key))
        if run_id is None:
            return False
        run = self._runs[run_id]
        if run.status is not DigestStatus.SENT:
            self._replace(attrs.evolve(run, status=DigestStatus.SENT, sent_at=now))
        return True

    def runs(self, user_id: str) -> list[DigestRun]:
        mine = [run for run in self._runs.values() if run.user_id == user_id]
        return sorted(mine, key=lambda run: (run.created_at, run.period_key), reverse=True)


class MemoryMailOutbox:
    """Outbox mail in the order it was written."""

    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db
        self._messages: dict[str, OutboxMessage] = {}
        db.on_reset(self._messages.clear)

    def add(self, message: OutboxMessage) -> None:
        self._messages[message.id] = message

        def undo() -> None:
            self._messages.pop(message.id, None)

        self._db.record_undo(undo)

    def _replace(self, message: OutboxMessage) -> None:
        previous = self._messages[message.id]
        self._messages[message.id] = message
        self._db.record_undo(lambda: self._messages.__setitem__(message.id, previous))

    def claim_pending(self, limit: int) -> list[OutboxMessage]:
        pending = [m for m in self._messages.values() if m.status is OutboxStatus.PENDING][:limit]
        for message in pending:
            self._replace(attrs.evolve(message, status=OutboxStatus.DISPATCHED))
        return pending

    def get(self, message_id: str) -> OutboxMessage | None:
        return self._messages.get(message_id)

    def mark_delivered(self, message_id: str, now: datetime) -> bool:
        message = self._messages.get(message_id)
        if message is None or message.status is OutboxStatus.DELIVERED:
            return False
        self._replace(attrs.evolve(message, status=OutboxStatus.DELIVERED, delivered_at=now))
        return True

    def list_for(self, user_id: str) -> list[OutboxMessage]:
        return [m for m in self._messages.values() if m.user_id == user_id]

    def pending_backlog(self, cap: int) -> tuple[int, datetime | None]:
        pending = [m.created_at for m in self._messages.values() if m.status is OutboxStatus.PENDING]
        return min(len(pending), cap), min(pending, default=None)


class MemoryNotificationEvents:
    """Count changes published in this process (memory mode has one process)."""

    def __init__(self, hub: LocalCountsHub | None = None) -> None:
        self.hub = hub or LocalCountsHub()

    def counts_changed(self, user_id: str) -> None:
        self.hub.publish(user_id)

    def subscribe(self, user_id: str) -> AbstractContextManager[CountsSubscription]:
        return self.hub.subscribe(user_id)
