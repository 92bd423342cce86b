-- app.jobs_claim (0020_job_controls): the claim as one call. Paused types are skipped; a limited
-- type is claimed only up to its limit minus its running jobs, under one transaction-scoped
-- advisory lock (hashtextextended('townsquare.jobs.type_limits', 0), also taken by every limit
-- change) held only while some limit exists. See the migration's docstring.
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
    PERFORM pg_advisory_xact_lock(hashtextextended('townsquare.jobs.type_limits', 0));
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
$$;
