"""The Postgres JobStore: one table, claims with FOR UPDATE SKIP LOCKED, batched reports.

Every statement is set-based (``unnest`` of arrays), so a batch of a thousand jobs costs one
round trip. Reports are fenced by the claim's lease token: a run that lost its job changes
nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, overload

from sqlalchemy import RowMapping, text

from townsquare.adapters.postgres.database import PgDatabase
from townsquare.core.jobs import (
    ClaimedJob,
    DeadLetterFilter,
    FailureUpdate,
    Job,
    JobError,
    JobStats,
    JobStatus,
    Lease,
    NewJob,
    StrandedJob,
    TypeControl,
    TypeCounts,
)

_JOB_COLUMNS = (
    "id, job_type, payload, status, priority, attempts, max_attempts, run_at, idempotency_key,"
    " created_at, finished_at, lease_expires_at, last_error, errors, worker_id, started_at"
)

# One enqueue is one call (migration 0024; the trace parent since 0031): alone, in autocommit,
# it is a single round trip.
_ADD_ONE = (
    "SELECT app.jobs_add(%(role)s, %(actor)s, %(job_type)s, %(payload)s::jsonb, %(priority)s::smallint,"
    " %(max_attempts)s::integer, %(run_at)s::timestamptz, %(key)s::text, %(now)s::timestamptz,"
    " %(trace_parent)s::text)"
)
_RESERVE_IDS = text("SELECT array(SELECT nextval('jobs_id_seq') FROM generate_series(1, :count))")
# The batch travels as one JSON document (one fast encode, no per-element array quoting).
# A job due later is parked (migration 0028): out of the claim's index until it is due.
_INSERT_ROWS = """
    INSERT INTO jobs (
        id, job_type, payload, status, priority, max_attempts, run_at, idempotency_key, created_at, parked,
        trace_parent
    )
    SELECT r.id, r.job_type, r.payload, 'pending', r.priority, r.max_attempts, r.run_at, r.key, :now, r.run_at > :now,
        coalesce(r.trace_parent, CAST(:trace_parent AS text))
    FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(
        id bigint, job_type text, payload jsonb, priority smallint, max_attempts integer, run_at timestamptz, key text,
        trace_parent text
    )
"""
_INSERT_MANY = text(_INSERT_ROWS)
_INSERT_MANY_KEYED = text(
    _INSERT_ROWS + " ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING RETURNING id"
)
_IDS_BY_KEY = text("SELECT idempotency_key, id FROM jobs WHERE idempotency_key = ANY(CAST(:keys AS text[]))")

# The claim is one call of app.jobs_claim (migration 0020_job_controls): it skips paused types
# and honours per-type limits, taking the limits' advisory lock only while a limit exists.
# The running cap (max_running) is read inside it, so a dispatcher never overshoots it by a
# whole batch; concurrent dispatchers may still overshoot by their in-flight claims.
# Called through app.jobs_claim_call (migration 0038), which switches role itself: alone, in
# autocommit, the claim is one round trip, its rows read through the kept cursor.
_CLAIM = (
    "SELECT * FROM app.jobs_claim_call(%(role)s, %(actor)s, %(now)s::timestamptz, %(limit)s::integer,"
    " %(token)s::uuid, %(lease_expires_at)s::timestamptz, %(worker_id)s::uuid, %(max_running)s::integer)"
)
# Marking a chunk begun is one call (migration 0037): alone, in autocommit, one round trip
# (the worker does it before every chunk it runs).
_START = (
    "SELECT * FROM app.jobs_start(%(role)s, %(actor)s, %(ids)s::bigint[], %(tokens)s::uuid[], %(now)s::timestamptz)"
)
_REGISTER_WORKER = text(
    """
    INSERT INTO job_workers (id, name, started_at, seen_at) VALUES (:id, :name, :now, :now)
    ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at
    """
)
_BEAT_WORKER = text("UPDATE job_workers SET seen_at = :now WHERE id = :id")
_FORGET_WORKER = text("DELETE FROM job_workers WHERE id = :id")
_FORGET_DEAD_WORKERS = text(
    """
    DELETE FROM job_workers AS w
    WHERE w.seen_at < :seen_before
      AND NOT EXISTS (SELECT FROM jobs WHERE jobs.status = 'running' AND jobs.worker_id = w.id)
    RETURNING w.id
    """
)
_EXTEND_LEASE = text(
    """
    UPDATE jobs SET lease_expires_at = :lease_expires_at
    WHERE id = :id AND status = 'running' AND lease_token = :token
    """
)
_COMPLETE = text(
    """
    UPDATE jobs SET status = 'completed', finished_at = :now, lease_token = NULL, lease_expires_at = NULL,
        worker_id = NULL, started_at = NULL
    FROM unnest(CAST(:ids AS bigint[]), CAST(:tokens AS uuid[])) AS r(id, token)
    WHERE jobs.id = r.id AND jobs.status = 'running' AND jobs.lease_token = r.token
    """
)
_RELEASE = text(
    """
    UPDATE jobs SET status = 'pending', attempts = jobs.attempts - 1, lease_token = NULL, lease_expires_at = NULL,
        worker_id = NULL, started_at = NULL, parked = false
    FROM unnest(CAST(:ids AS bigint[]), CAST(:tokens AS uuid[])) AS r(id, token)
    WHERE jobs.id = r.id AND jobs.status = 'running' AND jobs.lease_token = r.token
    """
)
_FAIL = text(
    """
    UPDATE jobs SET
        status = CASE WHEN r.retry_at IS NULL THEN 'dead' ELSE 'pending' END,
        run_at = coalesce(r.retry_at, jobs.run_at),
        parked = coalesce(r.retry_at > CAST(:now AS timestamptz), false),
        finished_at = CASE WHEN r.retry_at IS NULL THEN CAST(:now AS timestamptz) END,
        lease_token = NULL,
        lease_expires_at = NULL,
        worker_id = NULL,
        started_at = NULL,
        last_error = r.message,
        errors = jobs.errors
            || jsonb_build_array(jsonb_build_object('attempt', r.attempt, 'at', r.at, 'message', r.message))
    FROM unnest(
        CAST(:ids AS bigint[]), CAST(:tokens AS uuid[]), CAST(:retry_ats AS timestamptz[]),
        CAST(:attempts AS integer[]), CAST(:ats AS text[]), CAST(:messages AS text[])
    ) AS r(id, token, retry_at, attempt, at, message)
    WHERE jobs.id = r.id AND jobs.status = 'running' AND jobs.lease_token = r.token
    """
)
# Served by partial indexes on running jobs (jobs_leases, jobs_by_worker). A worker with no
# row (found dead and forgotten while it was only paused, then killed before it registered
# again) is as dead as a silent one.
_STRANDED = text(
    """
    SELECT id, lease_token, attempts, max_attempts,
        worker_id IS NULL OR started_at IS NOT NULL AS started,
        lease_expires_at > :now AS worker_died
    FROM jobs
    WHERE status = 'running' AND (
        lease_expires_at <= :now
        OR worker_id = ANY(ARRAY(SELECT id FROM job_workers WHERE seen_at < :seen_before))
        OR (worker_id IS NOT NULL AND NOT EXISTS (SELECT FROM job_workers WHERE job_workers.id = jobs.worker_id))
    )
    ORDER BY lease_expires_at, id
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
    """
)
_GET = text(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = :id")
_REQUEUE_DEAD = text(
    """
    UPDATE jobs SET status = 'pending', attempts = 0, run_at = :now, finished_at = NULL, parked = false
    WHERE id = :id AND status = 'dead'
    """
)
_COUNTS = text("SELECT job_type, status, count(*) FROM jobs GROUP BY job_type, status")
# The cheap read of stats_estimate: the planner's row count of the table, the statuses an
# operator acts on counted through the status index, and a block sample (~5,000 rows) for how the
# completed rest splits by type (pg_stats would say, but row-level security hides it).
_ROW_ESTIMATE = text("SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = 'jobs'::regclass")
_ACTIVE_COUNTS = text(
    "SELECT job_type, status, count(*) FROM jobs"
    " WHERE status = ANY(CAST(:statuses AS text[])) GROUP BY job_type, status"
)
_COMPLETED_SAMPLE = text(
    "SELECT job_type, count(*) FROM jobs TABLESAMPLE SYSTEM (:percent) WHERE status = 'completed' GROUP BY job_type"
)
SAMPLE_ROWS = 5_000
"""About how many rows the block sample behind the completed split reads, whatever the table's size."""
ESTIMATE_ABOVE_ROWS = 100_000
"""stats_estimate counts exactly below this many rows (about 15 ms), estimates above."""
_OLDEST_DUE = text("SELECT min(run_at) FROM jobs WHERE status = 'pending' AND run_at <= :now")
_CANCEL = text(
    """
    UPDATE jobs SET status = 'cancelled', finished_at = :now, lease_token = NULL, lease_expires_at = NULL,
        worker_id = NULL, started_at = NULL
    WHERE id = :id AND status = ANY(CAST(:cancellable AS text[]))
    """
)
_CONTROLS = text("SELECT job_type, paused, max_running FROM job_type_controls ORDER BY job_type")
# Limit changes take the claims' lock, so a claim either ran wholly before the change or sees it.
_LOCK_TYPE_LIMITS = text("SELECT pg_advisory_xact_lock(hashtextextended('townsquare.jobs.type_limits', 0))")
_SET_CONTROL = text(
    """
    INSERT INTO job_type_controls (job_type, paused, max_running, updated_at)
    VALUES (:job_type, :paused, :max_running, :now)
    ON CONFLICT (job_type) DO UPDATE
        SET paused = excluded.paused, max_running = excluded.max_running, updated_at = excluded.updated_at
    """
)
_DELETE_CONTROL = text("DELETE FROM job_type_controls WHERE job_type = :job_type")
# The dead-letter filter: served by jobs_status (status, id); error text matched ignoring ASCII
# case, as the core's ascii_lower does (translate, not lower(): collation-independent).
_DEAD_MATCHING = """
    status = 'dead'
    AND (CAST(:job_type AS text) IS NULL OR job_type = :job_type)
    AND (CAST(:error_contains AS text) IS NULL
         OR strpos(translate(coalesce(last_error, ''), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'),
                   :error_contains) > 0)
    AND (CAST(:dead_since AS timestamptz) IS NULL OR finished_at >= :dead_since)
    AND (CAST(:dead_until AS timestamptz) IS NULL OR finished_at < :dead_until)
"""
_REQUEUE_DEAD_MATCHING = text(
    f"UPDATE jobs SET status = 'pending', attempts = 0, run_at = :now, finished_at = NULL, parked = false"
    f" WHERE {_DEAD_MATCHING}"
)
_DELETE_DEAD_MATCHING = text(f"DELETE FROM jobs WHERE {_DEAD_MATCHING}")
_PRUNE = text(
    """
    DELETE FROM jobs WHERE id IN (
        SELECT id FROM jobs
        WHERE status IN ('completed', 'cancelled') AND finished_at < :cutoff
        ORDER BY finished_at, id
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    )
    """
)


class PgJobStore:
    """Stores jobs in the ``jobs`` table, on the unit of work's current connection."""

    def __init__(self, db: PgDatabase, *, estimate_above_rows: int = ESTIMATE_ABOVE_ROWS) -> None:
        self._estimate_above_rows = estimate_above_rows
        self._db = db

    def add(self, jobs: Sequence[NewJob], now: datetime) -> list[int]:
        if len(jobs) == 1:
            return [self.add_one(jobs[0], now)]
        conn = self._db.connection()
        reserved: list[int] = conn.execute(_RESERVE_IDS, {"count": len(jobs)}).scalar_one()
        first_of_key: dict[str, int] = {}
        rows: list[tuple[int, NewJob]] = []
        for job_id, job in zip(reserved, jobs, strict=True):
            key = job.idempotency_key
            if key is not None:
                if key in first_of_key:
                    continue
                first_of_key[key] = job_id
            rows.append((job_id, job))
        # Insert keyed rows in key order: two batches racing on the same keys then take the
        # unique-index locks in the same order and wait for each other instead of deadlocking.
        rows.sort(key=lambda row: (row[1].idempotency_key is not None, row[1].idempotency_key or ""))
        # A batch's jobs were enqueued under one span (one call): its context travels once, as a
        # parameter; only jobs of different contexts carry their own in the document.
        shared: str | None = jobs[0].trace_parent
        records = [
            {
                "id": job_id,
                "job_type": job.job_type,
                "payload": job.payload,
                "priority": job.priority,
                "max_attempts": job.max_attempts,
                "run_at": job.run_at.isoformat(),
                "key": job.idempotency_key,
            }
            for job_id, job in rows
        ]
        if any(job.trace_parent != shared for job in jobs):
            shared = None
            for record, (_job_id, job) in zip(records, rows, strict=True):
                record["trace_parent"] = job.trace_parent
        document = json.dumps(records, separators=(",", ":"), ensure_ascii=False)
        params = {"rows": document, "now": now, "trace_parent": shared}
        if not first_of_key:
            conn.execute(_INSERT_MANY, params)
            return reserved
        inserted = set(conn.execute(_INSERT_MANY_KEYED, params).scalars())
        taken = [key for key, job_id in first_of_key.items() if job_id not in inserted]
        existing: dict[str, int] = dict(conn.execute(_IDS_BY_KEY, {"keys": taken}).all()) if taken else {}
        ids = []
        for job_id, job in zip(reserved, jobs, strict=True):
            key = job.idempotency_key
            if key is None:
                ids.append(job_id)
            else:
                resolved = first_of_key[key] if first_of_key[key] in inserted else existing.get(key)
                if resolved is None:
                    # The conflicting job was deleted between our insert and our read; the
                    # caller's transaction retries cleanly from the start.
                    raise RuntimeError(f"job with idempotency key {key!r} vanished during enqueue; retry")
                ids.append(resolved)
        return ids

    def add_one(self, job: NewJob, now: datetime) -> int:
        params = {
            "job_type": job.job_type,
            "payload": _dump(job.payload),
            "priority": job.priority,
            "max_attempts": job.max_attempts,
            "run_at": job.run_at,
            "key": job.idempotency_key,
            "now": now,
            "trace_parent": job.trace_parent,
        }
        ((job_id,),) = self._db.call(_ADD_ONE, params)
        return int(job_id)

    def claim(
        self,
        now: datetime,
        *,
        limit: int,
        token: uuid.UUID,
        lease_expires_at: datetime,
        max_running: int | None,
        worker_id: uuid.UUID | None,
    ) -> list[ClaimedJob]:
        params: dict[str, Any] = {
            "now": now,
            "limit": limit,
            "token": token,
            "lease_expires_at": lease_expires_at,
            "worker_id": worker_id,
            "max_running": max_running,
        }
        rows = self._db.call(_CLAIM, params)
        rows.sort(key=lambda row: (row.priority, row.run_at, row.id))
        return [
            ClaimedJob(
                id=row.id,
                job_type=row.job_type,
                payload=row.payload,
                attempt=row.attempts,
                max_attempts=row.max_attempts,
                lease_token=token,
                lease_expires_at=lease_expires_at,
                trace_parent=row.trace_parent,
            )
            for row in rows
        ]

    def start(self, leases: Sequence[Lease], now: datetime) -> list[int]:
        rows = self._db.call(
            _START,
            {"ids": [lease.job_id for lease in leases], "tokens": [lease.token for lease in leases], "now": now},
        )
        return [row[0] for row in rows]

    def register_worker(self, worker_id: uuid.UUID, name: str, now: datetime) -> None:
        self._db.connection().execute(_REGISTER_WORKER, {"id": worker_id, "name": name, "now": now})

    def beat_worker(self, worker_id: uuid.UUID, now: datetime) -> bool:
        return self._db.connection().execute(_BEAT_WORKER, {"id": worker_id, "now": now}).rowcount == 1

    def forget_worker(self, worker_id: uuid.UUID) -> None:
        self._db.connection().execute(_FORGET_WORKER, {"id": worker_id})

    def forget_dead_workers(self, seen_before: datetime) -> list[uuid.UUID]:
        return list(self._db.connection().execute(_FORGET_DEAD_WORKERS, {"seen_before": seen_before}).scalars())

    def extend_lease(self, lease: Lease, lease_expires_at: datetime) -> bool:
        result = self._db.connection().execute(
            _EXTEND_LEASE, {"id": lease.job_id, "token": lease.token, "lease_expires_at": lease_expires_at}
        )
        return result.rowcount == 1

    def complete(self, leases: Sequence[Lease], now: datetime) -> int:
        result = self._db.connection().execute(
            _COMPLETE,
            {"ids": [lease.job_id for lease in leases], "tokens": [lease.token for lease in leases], "now": now},
        )
        return int(result.rowcount)

    def release(self, leases: Sequence[Lease]) -> int:
        result = self._db.connection().execute(
            _RELEASE, {"ids": [lease.job_id for lease in leases], "tokens": [lease.token for lease in leases]}
        )
        return int(result.rowcount)

    def fail(self, failures: Sequence[FailureUpdate], now: datetime) -> int:
        result = self._db.connection().execute(
            _FAIL,
            {
                "ids": [failure.lease.job_id for failure in failures],
                "tokens": [failure.lease.token for failure in failures],
                "retry_ats": [failure.retry_at for failure in failures],
                "attempts": [failure.error.attempt for failure in failures],
                "ats": [failure.error.at.isoformat() for failure in failures],
                "messages": [failure.error.message for failure in failures],
                "now": now,
            },
        )
        return int(result.rowcount)

    def stranded(self, now: datetime, *, workers_seen_before: datetime, limit: int) -> list[StrandedJob]:
        rows = self._db.connection().execute(
            _STRANDED, {"now": now, "seen_before": workers_seen_before, "limit": limit}
        )
        return [
            StrandedJob(
                lease=Lease(job_id=row.id, token=row.lease_token),
                attempt=row.attempts,
                max_attempts=row.max_attempts,
                started=row.started,
                worker_died=row.worker_died,
            )
            for row in rows
        ]

    def get(self, job_id: int) -> Job | None:
        row = self._db.connection().execute(_GET, {"id": job_id}).mappings().first()
        return _job(row) if row is not None else None

    def list_jobs(self, status: JobStatus, *, limit: int, before_id: int | None, job_type: str | None) -> list[Job]:
        conditions = ["status = :status"]
        params: dict[str, Any] = {"status": status.value, "limit": limit}
        if before_id is not None:
            conditions.append("id < :before_id")
            params["before_id"] = before_id
        if job_type is not None:
            conditions.append("job_type = :job_type")
            params["job_type"] = job_type
        statement = text(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE {' AND '.join(conditions)} ORDER BY id DESC LIMIT :limit"
        )
        return [_job(row) for row in self._db.connection().execute(statement, params).mappings()]

    def requeue_dead(self, job_id: int, now: datetime) -> bool:
        return self._db.connection().execute(_REQUEUE_DEAD, {"id": job_id, "now": now}).rowcount == 1

    def cancel(self, job_id: int, cancellable: frozenset[JobStatus], now: datetime) -> bool:
        result = self._db.connection().execute(
            _CANCEL, {"id": job_id, "cancellable": sorted(status.value for status in cancellable), "now": now}
        )
        return result.rowcount == 1

    def controls(self) -> list[TypeControl]:
        return [
            TypeControl(job_type=row.job_type, paused=row.paused, max_running=row.max_running)
            for row in self._db.connection().execute(_CONTROLS)
        ]

    def set_control(self, control: TypeControl, now: datetime) -> None:
        conn = self._db.connection()
        conn.execute(_LOCK_TYPE_LIMITS)
        if control.is_default:
            conn.execute(_DELETE_CONTROL, {"job_type": control.job_type})
        else:
            conn.execute(
                _SET_CONTROL,
                {
                    "job_type": control.job_type,
                    "paused": control.paused,
                    "max_running": control.max_running,
                    "now": now,
                },
            )

    def requeue_dead_matching(self, dead: DeadLetterFilter, now: datetime) -> int:
        result = self._db.connection().execute(_REQUEUE_DEAD_MATCHING, {**_filter_params(dead), "now": now})
        return int(result.rowcount)

    def delete_dead_matching(self, dead: DeadLetterFilter) -> int:
        return int(self._db.connection().execute(_DELETE_DEAD_MATCHING, _filter_params(dead)).rowcount)

    def stats(self, now: datetime) -> JobStats:
        conn = self._db.connection()
        by_status = dict.fromkeys(JobStatus, 0)
        by_type: dict[str, dict[JobStatus, int]] = {}
        for job_type, status, count in conn.execute(_COUNTS):
            by_status[JobStatus(status)] += count
            by_type.setdefault(job_type, dict.fromkeys(JobStatus, 0))[JobStatus(status)] = count
        oldest = conn.execute(_OLDEST_DUE, {"now": now}).scalar()
        return JobStats(
            by_status=by_status,
            by_type=tuple(TypeCounts(job_type=name, counts=by_type[name]) for name in sorted(by_type)),
            oldest_due_age=now - oldest if oldest is not None else timedelta(0),
            dead_letters=by_status[JobStatus.DEAD],
        )

    def stats_estimate(self, now: datetime) -> JobStats:
        conn = self._db.connection()
        rows = int(conn.execute(_ROW_ESTIMATE).scalar() or 0)
        if rows < self._estimate_above_rows:
            return self.stats(now)
        by_status = dict.fromkeys(JobStatus, 0)
        by_type: dict[str, dict[JobStatus, int]] = {}
        active = [status.value for status in JobStatus if status is not JobStatus.COMPLETED]
        for job_type, status, count in conn.execute(_ACTIVE_COUNTS, {"statuses": active}):
            by_status[JobStatus(status)] += count
            by_type.setdefault(job_type, dict.fromkeys(JobStatus, 0))[JobStatus(status)] = count
        completed = max(0, rows - sum(by_status.values()))
        by_status[JobStatus.COMPLETED] = completed
        percent = min(100.0, 100.0 * SAMPLE_ROWS / rows)
        sample = {job_type: int(n) for job_type, n in conn.execute(_COMPLETED_SAMPLE, {"percent": percent})}
        sampled = sum(sample.values())
        for job_type, count in sample.items():
            counts = by_type.setdefault(job_type, dict.fromkeys(JobStatus, 0))
            counts[JobStatus.COMPLETED] = round(completed * count / sampled)
        oldest = conn.execute(_OLDEST_DUE, {"now": now}).scalar()
        return JobStats(
            by_status=by_status,
            by_type=tuple(TypeCounts(job_type=name, counts=by_type[name]) for name in sorted(by_type)),
            oldest_due_age=now - oldest if oldest is not None else timedelta(0),
            dead_letters=by_status[JobStatus.DEAD],
            estimated=True,
        )

    def prune(self, finished_before: datetime, *, limit: int) -> int:
        result = self._db.connection().execute(_PRUNE, {"cutoff": finished_before, "limit": limit})
        return int(result.rowcount)


def _filter_params(dead: DeadLetterFilter) -> dict[str, Any]:
    return {
        "job_type": dead.job_type,
        "error_contains": dead.error_contains,
        "dead_since": dead.dead_since,
        "dead_until": dead.dead_until,
    }


def _dump(payload: Mapping[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


@overload
def _utc(when: datetime) -> datetime: ...
@overload
def _utc(when: None) -> None: ...
def _utc(when: datetime | None) -> datetime | None:
    # psycopg returns the session's zone; the domain speaks UTC.
    return when.astimezone(UTC) if when is not None else None


def _job(row: RowMapping) -> Job:
    return Job(
        id=row["id"],
        job_type=row["job_type"],
        payload=row["payload"],
        status=JobStatus(row["status"]),
        priority=row["priority"],
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        run_at=_utc(row["run_at"]),
        idempotency_key=row["idempotency_key"],
        created_at=_utc(row["created_at"]),
        finished_at=_utc(row["finished_at"]),
        lease_expires_at=_utc(row["lease_expires_at"]),
        last_error=row["last_error"],
        worker_id=row["worker_id"],
        started_at=_utc(row["started_at"]),
        errors=tuple(
            JobError(attempt=entry["attempt"], at=datetime.fromisoformat(entry["at"]), message=entry["message"])
            for entry in row["errors"]
        ),
    )
