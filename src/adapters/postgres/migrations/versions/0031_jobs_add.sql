-- app.jobs_add (first defined in 0024, parking in 0028): it also stores the enqueuer's trace
-- context (p_trace_parent, the W3C traceparent; NULL without tracing) for the run's span link.
-- A single enqueue in one call, so that outside a transaction it is one
-- autocommit round trip (BEGIN, the role switch, the INSERT and COMMIT took four).
-- The idempotency key holds as in the batch insert: a known key returns the stored job's id
-- (the payload of the repeat is ignored); a racing insert of the same key waits in ON CONFLICT
-- for the other's commit, and the SELECT after it, a new statement with a new snapshot, sees
-- that job. Two tries: the row holding the key can be pruned between the conflict and the read.
CREATE FUNCTION app.jobs_add(
    p_role text, p_user text,
    p_job_type text, p_payload jsonb, p_priority smallint, p_max_attempts integer, p_run_at timestamptz,
    p_key text, p_now timestamptz, p_trace_parent text
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
BEGIN
    IF p_role IS NOT NULL THEN
        PERFORM set_config('role', p_role, true), set_config('app.user_id', coalesce(p_user, ''), true);
    END IF;
    IF p_key IS NULL THEN
        INSERT INTO jobs (job_type, payload, status, priority, max_attempts, run_at, created_at, parked, trace_parent)
        VALUES (p_job_type, p_payload, 'pending', p_priority, p_max_attempts, p_run_at, p_now, p_run_at > p_now,
            p_trace_parent)
        RETURNING id INTO v_id;
        RETURN v_id;
    END IF;
    FOR attempt IN 1..2 LOOP
        INSERT INTO jobs (
            job_type, payload, status, priority, max_attempts, run_at, idempotency_key, created_at, parked, trace_parent
        )
        VALUES (
            p_job_type, p_payload, 'pending', p_priority, p_max_attempts, p_run_at, p_key, p_now, p_run_at > p_now,
            p_trace_parent
        )
        ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
        RETURNING id INTO v_id;
        IF v_id IS NOT NULL THEN
            RETURN v_id;
        END IF;
        SELECT j.id INTO v_id FROM jobs j WHERE j.idempotency_key = p_key;
        IF v_id IS NOT NULL THEN
            RETURN v_id;
        END IF;
    END LOOP;
    RAISE EXCEPTION 'job with idempotency key % vanished during enqueue; retry', p_key
        USING ERRCODE = 'serialization_failure';
END
$$;
