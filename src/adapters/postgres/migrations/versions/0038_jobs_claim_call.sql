-- app.jobs_claim_call: the claim (app.jobs_claim, 0031_jobs_claim.sql) as a PgDatabase.call
-- function: it switches role itself, so the worker's claim runs alone in autocommit, one round
-- trip where the transaction took four (BEGIN, the role switch, the call, COMMIT), and its rows
-- are read through the kept psycopg cursor instead of SQLAlchemy's result layer (the two were
-- about 40% of a 500-job claim's time in the dispatcher, issue 21). The claim was the only
-- statement of its transaction, so it commits exactly what it committed before, when it did.
CREATE FUNCTION app.jobs_claim_call(
    p_role text, p_user text,
    p_now timestamptz, p_limit integer, p_token uuid, p_lease_expires_at timestamptz,
    p_worker_id uuid, p_max_running integer
) RETURNS TABLE (
    id bigint, job_type text, payload jsonb, attempts integer, max_attempts integer,
    priority smallint, run_at timestamptz, trace_parent text
) LANGUAGE plpgsql AS $$
BEGIN
    IF p_role IS NOT NULL THEN
        PERFORM set_config('role', p_role, true), set_config('app.user_id', coalesce(p_user, ''), true);
    END IF;
    RETURN QUERY SELECT * FROM app.jobs_claim(p_now, p_limit, p_token, p_lease_expires_at, p_worker_id, p_max_running);
END
$$;
