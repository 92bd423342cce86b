-- app.jobs_start: the worker marks a chunk of claimed jobs begun (started_at) just before
-- running them, in one call, so that it runs alone in autocommit: one round trip where the
-- transaction took four (BEGIN, the role switch, the UPDATE, COMMIT). The fence is the
-- store's statement as before: only a job still running under the claim's lease token is
-- marked and returned; a job rescued or cancelled since its claim is not, and must not run.
CREATE FUNCTION app.jobs_start(
    p_role text, p_user text, p_ids bigint[], p_tokens uuid[], p_now timestamptz
) RETURNS SETOF bigint LANGUAGE plpgsql AS $$
BEGIN
    IF p_role IS NOT NULL THEN
        PERFORM set_config('role', p_role, true), set_config('app.user_id', coalesce(p_user, ''), true);
    END IF;
    RETURN QUERY
        UPDATE jobs SET started_at = p_now
        FROM unnest(p_ids, p_tokens) AS r(id, token)
        WHERE jobs.id = r.id AND jobs.status = 'running' AND jobs.lease_token = r.token
        RETURNING jobs.id;
END
$$;
