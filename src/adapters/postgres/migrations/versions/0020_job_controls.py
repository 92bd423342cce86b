"""Jobs: admin controls (cancel, pause and resume a type, per-type concurrency limits).

- ``jobs.status`` may be ``cancelled`` (an admin stopped the job; it holds no lease, like
  every status but ``running``). Cancelled jobs are pruned like completed ones, so the
  pruning index ``jobs_finished`` now covers both.
- ``job_type_controls``: one row per paused or limited job type (no row: neither). Read by
  every claim, in every worker process, so a pause holds across workers and restarts.
- ``app.jobs_claim(...)``: the claim as one call. Paused types are skipped; a limited type is
  claimed only up to its limit minus its running jobs. While any limit exists, claims take
  one transaction-scoped advisory lock first and count running jobs in a *later* statement
  of the function (plpgsql takes a fresh snapshot per statement in read committed), so a
  claim waiting for another sees that one's committed claims and two claimers cannot both
  pass the limit. Without a limit no lock is taken: the claim is the unlocked ``FOR UPDATE
  SKIP LOCKED`` statement it was, with the controlled types filtered out through one
  initplan (a limit set after the function's check holds its type back until the next claim).
  Limit changes take the same lock. The function runs with generic plans: ``auto`` chose
  custom plans, re-planned on every call (+1.5 ms a claim).

Revision ID: 0020_job_controls
Revises: 0019_event_discounts
"""

from alembic import op

from townsquare.adapters.postgres.database import SYSTEM_ROLE
from townsquare.adapters.postgres.migrations.calls import grant_calls

revision = "0020_job_controls"
down_revision = "0019_event_discounts"
branch_labels = None
depends_on = None

TYPE_LIMITS_LOCK = "hashtextextended('townsquare.jobs.type_limits', 0)"
"""The advisory lock every claim that may hand out a limited type holds (and every limit change)."""

_CLAIM = f"""
CREATE FUNCTION app.jobs_claim(
    p_now timestamptz, p_limit integer, p_token uuid, p_lease_expires_at timestamptz,
    p_worker_id uuid, p_max_running integer
) RETURNS TABLE (
    id bigint, job_type text, payload jsonb, attempts integer, max_attempts integer,
    priority smallint, run_at timestamptz
) LANGUAGE plpgsql
-- Custom plans would be re-planned on every call (about 1.5 ms); the generic one is as good.
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
DECLARE
    v_limit integer := p_limit;
    v_limited boolean;
BEGIN
    IF p_max_running IS NOT NULL THEN
        v_limit := greatest(0, least(p_limit, p_max_running - (SELECT count(*) FROM jobs WHERE status = 'running')));
        IF v_limit = 0 THEN
            RETURN;
        END IF;
    END IF;
    v_limited := EXISTS (SELECT FROM job_type_controls WHERE max_running IS NOT NULL AND NOT paused);
    IF NOT v_limited THEN
        -- The common case: no lock, one scan of the due index. A type paused or limited after
        -- the check above is skipped (this statement's snapshot sees its control row).
        RETURN QUERY
        WITH due AS MATERIALIZED (
            SELECT j.id FROM jobs j
            WHERE j.status = 'pending' AND j.run_at <= p_now
              AND j.job_type <> ALL (ARRAY(SELECT c.job_type FROM job_type_controls c))
            ORDER BY j.priority, j.run_at, j.id
            LIMIT v_limit
            FOR UPDATE SKIP LOCKED
        )
        UPDATE jobs SET status = 'running', attempts = jobs.attempts + 1,
            lease_token = p_token, lease_expires_at = p_lease_expires_at, worker_id = p_worker_id,
            started_at = NULL
        FROM due WHERE jobs.id = due.id
        RETURNING jobs.id, jobs.job_type, jobs.payload, jobs.attempts, jobs.max_attempts, jobs.priority, jobs.run_at;
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock({TYPE_LIMITS_LOCK});
    -- A new statement, so a new snapshot: it sees every claim committed while we waited.
    RETURN QUERY
    WITH controls AS MATERIALIZED (
        SELECT c.job_type, c.paused, c.max_running FROM job_type_controls c
    ),
    room AS MATERIALIZED (
        SELECT c.job_type,
            least(v_limit, c.max_running - (
                SELECT count(*) FROM jobs r WHERE r.status = 'running' AND r.job_type = c.job_type
            )) AS room
        FROM controls c
        WHERE NOT c.paused AND c.max_running IS NOT NULL
    ),
    free AS MATERIALIZED (
        SELECT j.id, j.priority, j.run_at FROM jobs j
        WHERE j.status = 'pending' AND j.run_at <= p_now
          AND j.job_type <> ALL (ARRAY(SELECT c.job_type FROM controls c WHERE c.paused OR c.max_running IS NOT NULL))
        ORDER BY j.priority, j.run_at, j.id
        LIMIT v_limit
        FOR UPDATE SKIP LOCKED
    ),
    limited AS MATERIALIZED (
        SELECT x.id, x.priority, x.run_at FROM room
        CROSS JOIN LATERAL (
            SELECT j.id, j.priority, j.run_at FROM jobs j
            WHERE j.status = 'pending' AND j.run_at <= p_now AND j.job_type = room.job_type
            ORDER BY j.priority, j.run_at, j.id
            LIMIT greatest(room.room, 0)
            FOR UPDATE SKIP LOCKED
        ) x
    ),
    due AS MATERIALIZED (
        SELECT u.id FROM (SELECT * FROM free UNION ALL SELECT * FROM limited) u
        ORDER BY u.priority, u.run_at, u.id
        LIMIT v_limit
    )
    UPDATE jobs SET status = 'running', attempts = jobs.attempts + 1,
        lease_token = p_token, lease_expires_at = p_lease_expires_at, worker_id = p_worker_id, started_at = NULL
    FROM due WHERE jobs.id = due.id
    RETURNING jobs.id, jobs.job_type, jobs.payload, jobs.attempts, jobs.max_attempts, jobs.priority, jobs.run_at;
END
$$
"""
_SIGNATURE = "app.jobs_claim(timestamptz, integer, uuid, timestamptz, uuid, integer)"


def upgrade() -> None:
    op.execute("ALTER TABLE jobs DROP CONSTRAINT jobs_status_check")
    op.execute(
        "ALTER TABLE jobs ADD CONSTRAINT jobs_status_check"
        " CHECK (status IN ('pending', 'running', 'completed', 'dead', 'cancelled'))"
    )
    op.execute(
        "CREATE INDEX jobs_finished_or_cancelled ON jobs (finished_at, id) WHERE status IN ('completed', 'cancelled')"
    )
    op.execute("DROP INDEX jobs_finished")
    op.execute("ALTER INDEX jobs_finished_or_cancelled RENAME TO jobs_finished")
    op.execute(
        """
        CREATE TABLE job_type_controls (
            job_type text PRIMARY KEY CHECK (length(job_type) BETWEEN 1 AND 100),
            paused boolean NOT NULL DEFAULT false,
            max_running integer CHECK (max_running >= 1),
            updated_at timestamptz NOT NULL,
            CHECK (paused OR max_running IS NOT NULL)
        )
        """
    )
    # Not user data (like ``jobs``): the system role only, row-level security forced.
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON job_type_controls TO {SYSTEM_ROLE}")
    op.execute(
        f"CREATE POLICY job_type_controls_system ON job_type_controls FOR ALL TO {SYSTEM_ROLE}"
        " USING (true) WITH CHECK (true)"
    )
    op.execute("ALTER TABLE job_type_controls ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY")
    op.execute(_CLAIM)
    grant_calls(_SIGNATURE)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {_SIGNATURE}")
    op.execute("DROP TABLE IF EXISTS job_type_controls")
    op.execute("DELETE FROM jobs WHERE status = 'cancelled'")
    op.execute("ALTER TABLE jobs DROP CONSTRAINT jobs_status_check")
    op.execute(
        "ALTER TABLE jobs ADD CONSTRAINT jobs_status_check"
        " CHECK (status IN ('pending', 'running', 'completed', 'dead'))"
    )
    op.execute("CREATE INDEX jobs_finished_completed ON jobs (finished_at, id) WHERE status = 'completed'")
    op.execute("DROP INDEX jobs_finished")
    op.execute("ALTER INDEX jobs_finished_completed RENAME TO jobs_finished")
