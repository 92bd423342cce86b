"""The Postgres reports adapter: read-only queries over ``event_registrations`` and ``earning_events``,
and the bulk actions' tables (migration 0022).

Every money figure is summed from ``earning_events`` joined to the registrations it covers
(an earning by its id, its captures, voids and refunds through ``earning_events_follow_ups``):
there is no report table to drift from the ledger. A filter becomes a WHERE clause made of
fixed fragments with named parameters, one per filter field present, so each shape of filter
gets its own plan.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text

from townsquare.adapters.postgres.database import PgDatabase
from townsquare.adapters.postgres.engine import kept_cursor
from townsquare.adapters.postgres.events import REGISTRATION_COLUMNS
from townsquare.core.events.models import Registration, RegistrationStatus
from townsquare.core.reports.bulk import MAX_ITEMS, BulkAction, BulkCandidate, BulkFailure, BulkProgress
from townsquare.core.reports.export import RegistrationExportRow
from townsquare.core.reports.models import FigureRow, LedgerLine, RegistrationFilter

# The status a reader sees: a reserved hold whose expiry has passed reads as expired.
_STATUS_SEEN = "CASE WHEN r.status = 'reserved' AND r.expires_at <= :now THEN 'expired' ELSE r.status END"
_STATUS_IS = {
    RegistrationStatus.RESERVED: "r.status = 'reserved' AND r.expires_at > :now",
    RegistrationStatus.EXPIRED: "(r.status = 'expired' OR (r.status = 'reserved' AND r.expires_at <= :now))",
}
_FILTERS = {
    "producer_id": "r.producer_id = :producer_id",
    "event_id": "r.event_id = :event_id",
    "type_id": "r.type_id = :type_id",
    "code": "r.discount_code = :code",
    "since": "r.created_at >= :since",
    "until": "r.created_at < :until",
}
_ZERO = timedelta(0)
_NAMED = re.compile(r"(?<![:\w]):(\w+)")
_REG_COLUMNS_R = ", ".join(f"r.{column.strip()}" for column in REGISTRATION_COLUMNS.split(","))

_FIGURES = """
    SELECT width_bucket(r.created_at, CAST(:boundaries AS timestamptz[])) - 1 AS day,
           {status_seen} AS status,
           r.currency,
           count(*) AS registrations,
           coalesce(sum(r.quantity) FILTER (WHERE r.confirm_key IS NOT NULL), 0) AS tickets,
           coalesce(sum(r.discount) FILTER (WHERE r.confirm_key IS NOT NULL), 0) AS discounts,
           coalesce(sum(e.amount), 0) AS gross,
           coalesce(sum(f.captured), 0) AS captured,
           coalesce(sum(f.voided), 0) AS voided,
           coalesce(sum(f.refunded), 0) AS refunded
    FROM event_registrations r
    LEFT JOIN earning_events e ON e.id = CAST(r.earning_id AS uuid) AND e.type = 'earning'
    LEFT JOIN LATERAL (
        SELECT sum(x.amount) FILTER (WHERE x.type = 'capture') AS captured,
               sum(x.amount) FILTER (WHERE x.type = 'void') AS voided,
               sum(x.amount) FILTER (WHERE x.type = 'refund') AS refunded
        FROM earning_events x WHERE x.earning_id = e.id AND x.type <> 'earning'
    ) f ON e.id IS NOT NULL
    WHERE {where}
    GROUP BY 1, 2, 3
    ORDER BY 1, 2, 3
"""
# The same figures from the hourly sums the triggers keep (migration 0035_report_hours): the
# counts per stored status, lapsed holds moved from reserved to expired (the few rows
# event_registrations_lapsing finds), and the money per hour with no status. One statement,
# one snapshot; the day of an hour is its bucket among the boundaries (all on whole hours).
_FIGURES_FROM_HOURS = """
    SELECT width_bucket(hour, CAST(:boundaries AS timestamptz[])) - 1 AS day, status, currency,
           sum(registrations) AS registrations, sum(tickets) AS tickets, sum(discounts) AS discounts,
           sum(gross) AS gross, sum(captured) AS captured, sum(voided) AS voided, sum(refunded) AS refunded
    FROM (
        SELECT hour, status, currency, registrations, tickets, discounts,
               0 AS gross, 0 AS captured, 0 AS voided, 0 AS refunded
        FROM report_hour_counts WHERE {hours}
        UNION ALL
        SELECT date_trunc('hour', r.created_at, 'UTC'), s.status, r.currency, s.sign,
               s.sign * CASE WHEN r.confirm_key IS NOT NULL THEN r.quantity ELSE 0 END,
               s.sign * CASE WHEN r.confirm_key IS NOT NULL THEN r.discount ELSE 0 END, 0, 0, 0, 0
        FROM event_registrations r CROSS JOIN (VALUES ('reserved', -1), ('expired', 1)) AS s (status, sign)
        WHERE r.status = 'reserved' AND r.expires_at <= :now AND {where}
        UNION ALL
        SELECT hour, NULL, currency, 0, 0, 0, gross, captured, voided, refunded
        FROM report_hour_money WHERE {hours}
    ) AS sums
    GROUP BY 1, 2, 3
    ORDER BY 1, 2, 3
"""
_REGISTRATIONS = """
    SELECT {columns} FROM event_registrations r
    WHERE {where}
    ORDER BY r.created_at DESC, r.registration_id DESC
    LIMIT :limit
"""
# An export page as plain rows (psycopg's named tuples on the unit of work's kept cursor): no
# SQLAlchemy row mapping and no model per row. The columns are RegistrationExportRow's, the
# instant as export_instant writes it (Python's isoformat: microseconds only when not 0).
_EXPORT_ROWS = """
    SELECT r.registration_id, r.event_id, r.type_id, r.attendee_id, {status_seen} AS status, r.quantity, r.currency,
           r.unit_price, r.subtotal, r.discount, r.total, r.refunded, r.discount_code,
           to_char(r.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
           || CASE WHEN date_trunc('second', r.created_at) = r.created_at THEN ''
                   ELSE to_char(r.created_at AT TIME ZONE 'UTC', '.US') END || 'Z' AS created_at
    FROM event_registrations r
    WHERE {where}
    ORDER BY r.created_at DESC, r.registration_id DESC
    LIMIT %(limit)s
"""
_CANDIDATES = """
    SELECT r.registration_id, {status_seen} AS status, r.currency,
           CASE WHEN r.status = 'confirmed' THEN r.total - r.refunded ELSE 0 END AS refundable
    FROM event_registrations r
    WHERE {where}
    ORDER BY r.created_at, r.registration_id
"""
_LEDGER_LINES = text(
    """
    SELECT id, recorded_at, type, amount, currency, reason, id AS earning
    FROM earning_events WHERE id = ANY (CAST(:earnings AS uuid[])) AND type = 'earning'
    UNION ALL
    SELECT id, recorded_at, type, amount, currency, reason, earning_id AS earning
    FROM earning_events WHERE earning_id = ANY (CAST(:earnings AS uuid[])) AND type <> 'earning'
    ORDER BY recorded_at, id
    """
)

_ACTION_COLUMNS = "action_id, producer_id, kind, filter, reason, total, amounts, job_id, created_at, finished_at"
_ADD_ACTION = text(
    f"""
    INSERT INTO bulk_actions ({_ACTION_COLUMNS})
    VALUES (:action_id, :producer_id, :kind, CAST(:filter AS jsonb), :reason, :total, CAST(:amounts AS jsonb),
            :job_id, :created_at, NULL)
    ON CONFLICT (action_id) DO NOTHING
    RETURNING action_id
    """
)
_ADD_ITEMS = text(
    """
    INSERT INTO bulk_action_items (action_id, position, registration_id)
    SELECT :action_id, position, registration_id
    FROM unnest(CAST(:registration_ids AS text[])) WITH ORDINALITY AS items (registration_id, position)
    """
)
_GET_ACTION = text(f"SELECT {_ACTION_COLUMNS} FROM bulk_actions WHERE action_id = :action_id")
# SKIP LOCKED: a second worker on the same action takes the next item instead of waiting.
_CLAIM_ITEM = text(
    """
    SELECT registration_id FROM bulk_action_items
    WHERE action_id = :action_id AND state = 'pending' AND position BETWEEN :first AND :last
    ORDER BY position LIMIT 1
    FOR UPDATE SKIP LOCKED
    """
)
_FINISH_ITEM = text(
    """
    UPDATE bulk_action_items SET state = :state, error = :error, finished_at = :at
    WHERE action_id = :action_id AND registration_id = :registration_id AND state = 'pending'
    """
)
_FINISH_ACTION = text("UPDATE bulk_actions SET finished_at = :at WHERE action_id = :action_id AND finished_at IS NULL")
_PROGRESS = text(
    """
    SELECT count(*) FILTER (WHERE state = 'done') AS done,
           count(*) FILTER (WHERE state = 'failed') AS failed,
           count(*) FILTER (WHERE state = 'pending') AS pending
    FROM bulk_action_items WHERE action_id = :action_id
    """
)
_FAILURES = text(
    """
    SELECT registration_id, error FROM bulk_action_items
    WHERE action_id = :action_id AND state = 'failed'
    ORDER BY position LIMIT :limit
    """
)


REPORT_TABLES = ("report_hour_counts", "report_hour_money")
"""The reports' hourly sums (a TRUNCATE of the registrations in tests must truncate them too)."""


def _where(where: RegistrationFilter, now: datetime) -> tuple[str, dict[str, Any]]:
    """The WHERE clause and parameters of a filter (fixed fragments, one per field present)."""
    clauses = ["true"]
    params: dict[str, Any] = {"now": now}
    for name, fragment in _FILTERS.items():
        value = getattr(where, name)
        if value is not None:
            clauses.append(fragment)
            params[name] = value
    if where.status is not None:
        if where.status in _STATUS_IS:
            clauses.append(_STATUS_IS[where.status])
        else:
            clauses.append("r.status = :status")
            params["status"] = where.status.value
    return " AND ".join(clauses), params


def _pyformat(statement: str) -> str:
    """The filter's ``:name`` parameters in psycopg's ``%(name)s`` style (no ``::`` cast is near one)."""
    return _NAMED.sub(r"%(\1)s", statement)


def _whole_hour(instant: datetime) -> bool:
    return instant.minute == 0 and instant.second == 0 and instant.microsecond == 0 and instant.utcoffset() == _ZERO


def _hours_answer(where: RegistrationFilter, boundaries: Sequence[datetime]) -> bool:
    """Whether the hourly sums answer these figures exactly: every day boundary on a whole UTC
    hour (zones with whole-hour offsets; not India's +05:30), and nothing filtered but the
    producer, the event and the range of the days."""
    return (
        where.status is None
        and where.type_id is None
        and where.code is None
        and where.since == boundaries[0]
        and where.until == boundaries[-1]
        and all(_whole_hour(each) for each in boundaries)
    )


class PgReportStore:
    """Implements :class:`townsquare.core.reports.ReportStore` on Postgres (reads only)."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    def figures(self, where: RegistrationFilter, boundaries: Sequence[datetime], now: datetime) -> list[FigureRow]:
        if _hours_answer(where, boundaries):
            return self.figures_from_hours(where, boundaries, now)
        return self.figures_from_registrations(where, boundaries, now)

    def figures_from_hours(
        self, where: RegistrationFilter, boundaries: Sequence[datetime], now: datetime
    ) -> list[FigureRow]:
        """:meth:`figures` from the hourly sums (boundaries on whole UTC hours, no filter but the
        producer, event and range)."""
        clause, params = _where(where, now)
        clause += " AND r.created_at >= :first_boundary AND r.created_at < :last_boundary"
        hours = ["hour >= :first_boundary", "hour < :last_boundary"]
        if where.producer_id is not None:
            hours.append("producer_id = :producer_id")
        if where.event_id is not None:
            hours.append("event_id = :event_id")
        params.update(boundaries=list(boundaries), first_boundary=boundaries[0], last_boundary=boundaries[-1])
        statement = text(_FIGURES_FROM_HOURS.format(hours=" AND ".join(hours), where=clause))
        return [FigureRow.from_row(row) for row in self._run(statement, params).mappings()]

    def figures_from_registrations(
        self, where: RegistrationFilter, boundaries: Sequence[datetime], now: datetime
    ) -> list[FigureRow]:
        """:meth:`figures` summed from the registrations and their ledger events themselves (any
        filter, any boundaries; and the check of the hourly sums)."""
        clause, params = _where(where, now)
        clause += " AND r.created_at >= :first_boundary AND r.created_at < :last_boundary"
        params.update(boundaries=list(boundaries), first_boundary=boundaries[0], last_boundary=boundaries[-1])
        statement = text(_FIGURES.format(status_seen=_STATUS_SEEN, where=clause))
        return [FigureRow.from_row(row) for row in self._run(statement, params).mappings()]

    def registrations(
        self, where: RegistrationFilter, now: datetime, *, after: tuple[datetime, str] | None, limit: int
    ) -> list[Registration]:
        clause, params = _where(where, now)
        if after is not None:
            clause += " AND (r.created_at, r.registration_id) < (:after_created_at, :after_id)"
            params.update(after_created_at=after[0], after_id=after[1])
        params["limit"] = limit
        statement = text(_REGISTRATIONS.format(columns=_REG_COLUMNS_R, where=clause))
        return [Registration.from_row(row) for row in self._run(statement, params).mappings()]

    def export_rows(
        self, where: RegistrationFilter, now: datetime, *, after: tuple[datetime, str] | None, limit: int
    ) -> list[RegistrationExportRow]:
        clause, params = _where(where, now)
        if after is not None:
            clause += " AND (r.created_at, r.registration_id) < (:after_created_at, :after_id)"
            params.update(after_created_at=after[0], after_id=after[1])
        params["limit"] = limit
        statement = _EXPORT_ROWS.format(status_seen=_pyformat(_STATUS_SEEN), where=_pyformat(clause))
        rows: list[RegistrationExportRow] = (
            kept_cursor(self._db.connection().connection).execute(statement, params).fetchall()
        )
        return rows

    def candidates(self, where: RegistrationFilter, now: datetime) -> list[BulkCandidate]:
        clause, params = _where(where, now)
        statement = text(_CANDIDATES.format(status_seen=_STATUS_SEEN, where=clause))
        return [BulkCandidate.from_row(row) for row in self._run(statement, params).mappings()]

    def ledger_lines(self, registrations: Sequence[Registration]) -> list[LedgerLine]:
        by_earning = {each.earning_id: each for each in registrations if each.earning_id is not None}
        if not by_earning:
            return []
        rows = self._run(_LEDGER_LINES, {"earnings": list(by_earning)}).mappings()
        lines: dict[str, list[LedgerLine]] = {}
        for row in rows:
            registration = by_earning[str(row["earning"])]
            lines.setdefault(registration.registration_id, []).append(LedgerLine.from_row(row, registration))
        return [line for each in registrations for line in lines.get(each.registration_id, ())]

    def _run(self, statement: Any, params: dict[str, Any]) -> Any:
        return self._db.connection().execute(statement, params)


class PgBulkActionStore:
    """Implements :class:`townsquare.core.reports.BulkActionStore` on Postgres."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    def add_action(self, action: BulkAction, registration_ids: Sequence[str]) -> bool:
        params = {
            "action_id": action.action_id,
            "producer_id": action.producer_id,
            "kind": action.kind.value,
            "filter": json.dumps(action.where.as_payload()),
            "reason": action.reason,
            "total": action.total,
            "amounts": json.dumps(action.amounts),
            "job_id": action.job_id,
            "created_at": action.created_at,
        }
        if self._run(_ADD_ACTION, params).one_or_none() is None:
            return False
        if registration_ids:
            self._run(_ADD_ITEMS, {"action_id": action.action_id, "registration_ids": list(registration_ids)})
        return True

    def get_action(self, action_id: str) -> BulkAction | None:
        row = self._run(_GET_ACTION, {"action_id": action_id}).mappings().one_or_none()
        return None if row is None else BulkAction.from_row(row)

    def claim_item(self, action_id: str, positions: tuple[int, int] | None = None) -> str | None:
        first, last = positions if positions is not None else (1, MAX_ITEMS)
        row = self._run(_CLAIM_ITEM, {"action_id": action_id, "first": first, "last": last}).one_or_none()
        return None if row is None else str(row.registration_id)

    def finish_item(self, action_id: str, registration_id: str, *, error: str | None, at: datetime) -> bool:
        params = {
            "action_id": action_id,
            "registration_id": registration_id,
            "state": "done" if error is None else "failed",
            "error": error,
            "at": at,
        }
        return int(self._run(_FINISH_ITEM, params).rowcount) == 1

    def finish_action(self, action_id: str, at: datetime) -> None:
        self._run(_FINISH_ACTION, {"action_id": action_id, "at": at})

    def progress(self, action_id: str, *, failures: int) -> BulkProgress:
        counts = self._run(_PROGRESS, {"action_id": action_id}).mappings().one()
        failed = self._run(_FAILURES, {"action_id": action_id, "limit": failures}).mappings()
        return BulkProgress(
            done=int(counts["done"]),
            failed=int(counts["failed"]),
            pending=int(counts["pending"]),
            failures=tuple(BulkFailure(registration_id=row["registration_id"], error=row["error"]) for row in failed),
        )

    def _run(self, statement: Any, params: dict[str, Any]) -> Any:
        return self._db.connection().execute(statement, params)
