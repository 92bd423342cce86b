"""The Postgres earnings ledger: append-only events, sharded totals kept in the same transaction.

Concurrency, in short (docs/earnings.md has the long form):

* every event write takes a *shared* advisory lock on its creator, a recompute takes it
  *exclusive*: writers never wait for each other on it, and a recompute sees a quiet ledger;
* captures, voids and refunds lock their earning's row (``FOR UPDATE``) and only then, in a
  new statement and so a new snapshot, sum the earning's events: racing refunds are serial
  per earning and each one sees all the others that committed before it;
* the totals live in 16 shard rows per creator and currency (the shard comes from the event
  id), so writers for one creator rarely wait on the same row;
* so do the per-day checkpoints (``earning_days``, the same shard), which a point-in-time
  summary sums up to the instant's UTC day before adding that day's events.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Row, text

from townsquare.adapters.postgres.database import PgDatabase
from townsquare.core.earnings.models import (
    EarningBalance,
    EventType,
    LedgerEvent,
    TimelineFilter,
    TimelinePosition,
    Totals,
)
from townsquare.core.earnings.money import Money

SHARDS = 16
_COLUMNS = "id, creator_id, type, kind, earning_id, amount, currency, idempotency_key, reason, recorded_at"

_APPEND = text(
    f"""
    WITH gate AS MATERIALIZED (SELECT pg_advisory_xact_lock_shared(:creator_lock)),
    appended AS (
        INSERT INTO earning_events ({_COLUMNS})
        SELECT :id, :creator_id, :type, :kind, CAST(:earning_id AS uuid), :amount, :currency, :idempotency_key, :reason,
               :recorded_at
        FROM gate
        ON CONFLICT (id) DO NOTHING
        RETURNING id
    ),
    totalled AS (
        INSERT INTO earning_totals AS t (creator_id, currency, shard, total, captured, voided, refunded, events)
        SELECT :creator_id, :currency, :shard, :total, :captured, :voided, :refunded, 1 FROM appended
        ON CONFLICT (creator_id, currency, shard) DO UPDATE SET
            total = t.total + excluded.total,
            captured = t.captured + excluded.captured,
            voided = t.voided + excluded.voided,
            refunded = t.refunded + excluded.refunded,
            events = t.events + 1
    ),
    -- The day's checkpoint (same shard as the totals): an as-of read sums days, then one day's events.
    dayed AS (
        INSERT INTO earning_days AS d (creator_id, day, currency, shard, total, captured, voided, refunded, events)
        SELECT :creator_id, :day, :currency, :shard, :total, :captured, :voided, :refunded, 1 FROM appended
        ON CONFLICT (creator_id, day, currency, shard) DO UPDATE SET
            total = d.total + excluded.total,
            captured = d.captured + excluded.captured,
            voided = d.voided + excluded.voided,
            refunded = d.refunded + excluded.refunded,
            events = d.events + 1
    )
    SELECT count(*) FROM appended
    """
)
_GET = text(f"SELECT {_COLUMNS} FROM earning_events WHERE id = :id")
_LOCK_EARNING = text(f"SELECT {_COLUMNS} FROM earning_events WHERE id = :id AND type = 'earning' FOR UPDATE")
_GET_EARNING = text(f"SELECT {_COLUMNS} FROM earning_events WHERE id = :id AND type = 'earning'")
_FOLLOW_UP_SUMS = text(
    """
    SELECT coalesce(sum(amount) FILTER (WHERE type = 'capture'), 0)::bigint AS captured,
           coalesce(sum(amount) FILTER (WHERE type = 'refund'), 0)::bigint AS refunded,
           coalesce(bool_or(type = 'void'), false) AS voided
    FROM earning_events WHERE earning_id = :id AND type <> 'earning'
    """
)
_STORED_TOTALS = text(
    """
    SELECT currency, sum(total)::bigint AS total, sum(captured)::bigint AS captured,
           sum(voided)::bigint AS voided, sum(refunded)::bigint AS refunded, sum(events)::bigint AS events
    FROM earning_totals WHERE creator_id = :creator_id GROUP BY currency ORDER BY currency
    """
)
_SUM_EVENTS = text(
    """
    SELECT currency,
           coalesce(sum(amount) FILTER (WHERE type = 'earning'), 0)::bigint AS total,
           coalesce(sum(amount) FILTER (WHERE type = 'capture'), 0)::bigint AS captured,
           coalesce(sum(amount) FILTER (WHERE type = 'void'), 0)::bigint AS voided,
           coalesce(sum(amount) FILTER (WHERE type = 'refund'), 0)::bigint AS refunded,
           count(*) AS events
    FROM earning_events WHERE creator_id = :creator_id GROUP BY currency ORDER BY currency
    """
)
# The checkpoints of the days before the instant's UTC day (earning_days' primary key), then
# that day's events up to the instant (a range scan of earning_events_timeline, index-only).
_SUM_EVENTS_AS_OF = text(
    """
    SELECT currency, sum(total)::bigint AS total, sum(captured)::bigint AS captured, sum(voided)::bigint AS voided,
           sum(refunded)::bigint AS refunded, sum(events)::bigint AS events
    FROM (
        SELECT currency, total, captured, voided, refunded, events
        FROM earning_days WHERE creator_id = :creator_id AND day < :day
        UNION ALL
        SELECT currency,
               CASE WHEN type = 'earning' THEN amount ELSE 0 END,
               CASE WHEN type = 'capture' THEN amount ELSE 0 END,
               CASE WHEN type = 'void' THEN amount ELSE 0 END,
               CASE WHEN type = 'refund' THEN amount ELSE 0 END,
               1
        FROM earning_events
        WHERE creator_id = :creator_id AND recorded_at >= :day_start AND recorded_at <= :as_of
    ) AS sums
    GROUP BY currency ORDER BY currency
    """
)
_LOCK_CREATOR = text("SELECT pg_advisory_xact_lock(:creator_lock)")
_DELETE_TOTALS = text("DELETE FROM earning_totals WHERE creator_id = :creator_id")
_INSERT_TOTALS = text(
    """
    INSERT INTO earning_totals (creator_id, currency, shard, total, captured, voided, refunded, events)
    VALUES (:creator_id, :currency, 0, :total, :captured, :voided, :refunded, :events)
    """
)
# The checkpoints recomputed from the events, writing only the rows that differ (a daily
# reconciliation of everyone rewrites nothing when they agree).
_REBUILD_DAYS = text(
    """
    WITH recomputed AS (
        SELECT creator_id, (recorded_at AT TIME ZONE 'UTC')::date AS day, currency,
               position(right(id::text, 1) IN '0123456789abcdef') - 1 AS shard,
               coalesce(sum(amount) FILTER (WHERE type = 'earning'), 0) AS total,
               coalesce(sum(amount) FILTER (WHERE type = 'capture'), 0) AS captured,
               coalesce(sum(amount) FILTER (WHERE type = 'void'), 0) AS voided,
               coalesce(sum(amount) FILTER (WHERE type = 'refund'), 0) AS refunded,
               count(*) AS events
        FROM earning_events WHERE creator_id = :creator_id GROUP BY 1, 2, 3, 4
    ),
    removed AS (
        DELETE FROM earning_days d WHERE d.creator_id = :creator_id AND NOT EXISTS (
            SELECT 1 FROM recomputed r WHERE (r.day, r.currency, r.shard) = (d.day, d.currency, d.shard)
        )
    )
    INSERT INTO earning_days AS d (creator_id, day, currency, shard, total, captured, voided, refunded, events)
    SELECT creator_id, day, currency, shard, total, captured, voided, refunded, events FROM recomputed
    ON CONFLICT (creator_id, day, currency, shard) DO UPDATE SET
        total = excluded.total, captured = excluded.captured, voided = excluded.voided,
        refunded = excluded.refunded, events = excluded.events
    WHERE (d.total, d.captured, d.voided, d.refunded, d.events)
          IS DISTINCT FROM (excluded.total, excluded.captured, excluded.voided, excluded.refunded, excluded.events)
    """
)
_CREATORS = text("SELECT DISTINCT creator_id FROM earning_totals ORDER BY creator_id")


def creator_lock_key(creator_id: str) -> int:
    """The advisory lock key of a creator's ledger (a signed 64-bit hash, namespaced to earnings)."""
    digest = hashlib.blake2b(f"townsquare.earnings:{creator_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def shard_of(event_id: str) -> int:
    """The totals shard an event adds to: spread evenly by the (hash-derived) event id."""
    return uuid.UUID(event_id).int % SHARDS


def utc_day(instant: datetime) -> date:
    """The UTC day an instant falls on: the day of the checkpoint an event recorded then adds to."""
    return instant.astimezone(UTC).date()


def _event_from_row(row: Row[Any]) -> LedgerEvent:
    return LedgerEvent(
        id=str(row.id),
        creator_id=row.creator_id,
        type=row.type,
        kind=row.kind,
        earning_id=str(row.id if row.earning_id is None else row.earning_id),
        money=Money(row.amount, row.currency),
        idempotency_key=row.idempotency_key,
        reason=row.reason,
        recorded_at=row.recorded_at.astimezone(UTC),
    )


def _totals_from_row(row: Row[Any]) -> Totals:
    return Totals(
        row.currency,
        total=row.total,
        captured=row.captured,
        voided=row.voided,
        refunded=row.refunded,
        events=row.events,
    )


class PgEarningsLedger:
    """Implements :class:`townsquare.core.earnings.ports.EarningsLedger` on Postgres."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    def append(self, event: LedgerEvent) -> LedgerEvent:
        delta = Totals.of_event(event)
        appended = (
            self._db.connection()
            .execute(
                _APPEND,
                {
                    "creator_lock": creator_lock_key(event.creator_id),
                    "id": uuid.UUID(event.id),
                    "creator_id": event.creator_id,
                    "type": event.type.value,
                    "kind": event.kind.value,
                    "earning_id": None if event.type is EventType.EARNING else uuid.UUID(event.earning_id),
                    "amount": event.amount,
                    "currency": event.currency,
                    "idempotency_key": event.idempotency_key,
                    "reason": event.reason,
                    "recorded_at": event.recorded_at,
                    "day": utc_day(event.recorded_at),
                    "shard": shard_of(event.id),
                    "total": delta.total,
                    "captured": delta.captured,
                    "voided": delta.voided,
                    "refunded": delta.refunded,
                },
            )
            .scalar_one()
        )
        if appended:
            return event
        stored = self.get(event.id)
        if stored is None:  # the id conflicted, so the row exists: this would be a broken invariant
            raise RuntimeError(f"earning event {event.id} conflicted on insert but cannot be read")
        return stored

    def get(self, event_id: str) -> LedgerEvent | None:
        row = self._db.connection().execute(_GET, {"id": uuid.UUID(event_id)}).one_or_none()
        return None if row is None else _event_from_row(row)

    def lock_earning(self, earning_id: str) -> EarningBalance | None:
        return self._balance(earning_id, _LOCK_EARNING)

    def balance(self, earning_id: str) -> EarningBalance | None:
        return self._balance(earning_id, _GET_EARNING)

    def _balance(self, earning_id: str, load_earning: Any) -> EarningBalance | None:
        conn = self._db.connection()
        row = conn.execute(load_earning, {"id": uuid.UUID(earning_id)}).one_or_none()
        if row is None:
            return None
        # A separate statement, so its snapshot is taken after the row lock was granted and
        # includes every follow-up committed by whoever held the lock before.
        sums = conn.execute(_FOLLOW_UP_SUMS, {"id": uuid.UUID(earning_id)}).one()
        return EarningBalance(
            earning=_event_from_row(row), captured=sums.captured, refunded=sums.refunded, voided=sums.voided
        )

    def stored_totals(self, creator_id: str) -> Sequence[Totals]:
        rows = self._db.connection().execute(_STORED_TOTALS, {"creator_id": creator_id})
        return [_totals_from_row(row) for row in rows]

    def lock_totals(self, creator_id: str) -> None:
        self._db.connection().execute(_LOCK_CREATOR, {"creator_lock": creator_lock_key(creator_id)})

    def sum_events(self, creator_id: str) -> Sequence[Totals]:
        rows = self._db.connection().execute(_SUM_EVENTS, {"creator_id": creator_id})
        return [_totals_from_row(row) for row in rows]

    def sum_events_as_of(self, creator_id: str, as_of: datetime) -> Sequence[Totals]:
        day = utc_day(as_of)
        params = {
            "creator_id": creator_id,
            "as_of": as_of,
            "day": day,
            "day_start": datetime.combine(day, datetime.min.time(), tzinfo=UTC),
        }
        rows = self._db.connection().execute(_SUM_EVENTS_AS_OF, params)
        return [_totals_from_row(row) for row in rows]

    def replace_totals(self, creator_id: str, totals: Sequence[Totals]) -> None:
        conn = self._db.connection()
        conn.execute(_DELETE_TOTALS, {"creator_id": creator_id})
        if totals:
            conn.execute(
                _INSERT_TOTALS,
                [
                    {
                        "creator_id": creator_id,
                        "currency": each.currency,
                        "total": each.total,
                        "captured": each.captured,
                        "voided": each.voided,
                        "refunded": each.refunded,
                        "events": each.events,
                    }
                    for each in totals
                ],
            )

    def rebuild_checkpoints(self, creator_id: str) -> None:
        self._db.connection().execute(_REBUILD_DAYS, {"creator_id": creator_id})

    def timeline(
        self, creator_id: str, where: TimelineFilter, after: TimelinePosition | None, limit: int
    ) -> Sequence[LedgerEvent]:
        conditions = ["creator_id = :creator_id"]
        params: dict[str, Any] = {"creator_id": creator_id, "limit": limit}
        if where.kinds:
            conditions.append("kind = ANY(:kinds)")
            params["kinds"] = sorted(kind.value for kind in where.kinds)
        if where.types:
            conditions.append("type = ANY(:types)")
            params["types"] = sorted(kind.value for kind in where.types)
        if where.since is not None:
            conditions.append("recorded_at >= :since")
            params["since"] = where.since
        if where.until is not None:
            conditions.append("recorded_at < :until")
            params["until"] = where.until
        if after is not None:
            conditions.append("(recorded_at, id) < (:after_at, :after_id)")
            params["after_at"] = after.recorded_at
            params["after_id"] = uuid.UUID(after.event_id)
        statement = text(
            f"SELECT {_COLUMNS} FROM earning_events WHERE {' AND '.join(conditions)} "
            "ORDER BY recorded_at DESC, id DESC LIMIT :limit"
        )
        return [_event_from_row(row) for row in self._db.connection().execute(statement, params)]

    def creators(self) -> Sequence[str]:
        return list(self._db.connection().execute(_CREATORS).scalars())
