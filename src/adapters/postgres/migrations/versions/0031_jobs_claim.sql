-- app.jobs_claim (first defined in 0020_job_controls, parking in 0028): the claim also returns
-- each job's trace_parent (the enqueuer's W3C traceparent, NULL without tracing), so the run's
-- span can link to the request that enqueued it. Otherwise as in 0028_jobs_claim.sql:
-- jobs that are due. A job enqueued or retried for later is *parked* (parked = true): it sits in
-- jobs_parked (run_at, id), not in jobs_due (priority, run_at, id), so the claim's scan of
-- jobs_due in priority order never steps over jobs that are not due yet, however many there
-- are and whatever their priority. Each claim first unparks the parked jobs due by p_now (up to
-- 1,000 at a time, skipping rows another claimer is unparking), in a statement of its own, so
-- the claim's next statement sees them. Correctness never depends on the flag: the claim
-- still checks run_at <= p_now, and a parked job due by now is unparked by the very claim that
-- could take it.
CREATE FUNCTION app.jobs_claim(
    p_now timestamptz, p_limit integer, p_token uuid, p_lease_expires_at timestamptz,
    p_worker_id uuid, p_max_running integer
) RETURNS TABLE (
    id bigint, job_type text, payload jsonb, attempts integer, max_attempts integer,
    priority smallint, run_at timestamptz, trace_parent text
) LANGUAGE plpgsql
-- Custom plans would be re-planned on every call (about 1.5 ms); the generic one is as good.
SET plan_cache_mode = force_generic_plan
-- Now that jobs_due holds only due jobs, the planner reckons it small and reads all of it
-- (a bitmap scan and a sort, 24 ms with 2,000 due); read in index order, a claim stops after
-- its LIMIT rows whatever the backlog (0.07 ms). JIT never pays off on these statements.
SET enable_bitmapscan = off
SET enable_sort = off
SET jit = off
AS $$
#variable_conflict use_column
DECLARE
    v_limit integer := p_limit;
    v_limited boolean;
BEGIN
    -- Jobs that were due later are parked (out of jobs_due); make those due by now claimable.
    -- One descent of jobs_parked when none is; SKIP LOCKED: a racing claimer takes the others.
    WITH due AS MATERIALIZED (
        SELECT p.id FROM jobs p
        WHERE p.status = 'pending' AND p.parked AND p.run_at <= p_now
        ORDER BY p.run_at, p.id
        LIMIT 1000
        FOR UPDATE SKIP LOCKED
    )
    UPDATE jobs SET parked = false FROM due WHERE jobs.id = due.id;
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
            WHERE j.status = 'pending' AND NOT j.parked AND j.run_at <= p_now
              AND j.job_type <> ALL (ARRAY(SELECT c.job_type FROM job_type_controls c))
            ORDER BY j.priority, j.run_at, j.id
            LIMIT v_limit
            FOR UPDATE SKIP LOCKED
        )
        UPDATE jobs SET status = 'running', attempts = jobs.attempts + 1,
            lease_token = p_token, lease_expires_at = p_lease_expires_at, worker_id = p_worker_id,
            started_at = NULL
        FROM due WHERE jobs.id = due.id
        RETURNING jobs.id, jobs.job_type, jobs.payload, jobs.attempts, jobs.max_attempts, jobs.priority, jobs.run_at,
            jobs.trace_parent;
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
        WHERE j.status = 'pending' AND NOT j.parked AND j.run_at <= p_now
          AND j.job_type <> ALL (ARRAY(SELECT c.job_type FROM controls c WHERE c.paused OR c.max_running IS NOT NULL))
        ORDER BY j.priority, j.run_at, j.id
        LIMIT v_limit
        FOR UPDATE SKIP LOCKED
    ),
    limited AS MATERIALIZED (
        SELECT x.id, x.priority, x.run_at FROM room
        CROSS JOIN LATERAL (
            SELECT j.id, j.priority, j.run_at FROM jobs j
            WHERE j.status = 'pending' AND NOT j.parked AND j.run_at <= p_now AND j.job_type = room.job_type
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
    RETURNING jobs.id, jobs.job_type, jobs.payload, jobs.attempts, jobs.max_attempts, jobs.priority, jobs.run_at,
        jobs.trace_parent;
END
$$;
