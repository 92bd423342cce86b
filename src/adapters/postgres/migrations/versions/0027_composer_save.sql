-- app.composer_save: an autosave in one call, so that outside a transaction it is one
-- autocommit round trip (BEGIN, the role switch, the UPDATE and COMMIT took four).
-- The write is conditional on the version it was based on: of racing saves on one version,
-- Postgres re-checks the condition on the row the winner committed, so exactly one matches;
-- no row comes back when the draft moved on, is another author's or does not exist.
CREATE FUNCTION app.composer_save(
    p_role text, p_user text,
    p_draft_id text, p_author_id text, p_based_on bigint, p_title text, p_body text, p_attachments text[],
    p_mentions text[], p_now timestamptz
) RETURNS SETOF composer_drafts LANGUAGE plpgsql AS $$
BEGIN
    IF p_role IS NOT NULL THEN
        PERFORM set_config('role', p_role, true), set_config('app.user_id', coalesce(p_user, ''), true);
    END IF;
    RETURN QUERY
        UPDATE composer_drafts d
        SET version = d.version + 1, title = p_title, body = p_body, attachments = p_attachments,
            mentions = p_mentions, updated_at = p_now
        WHERE d.draft_id = p_draft_id AND d.author_id = p_author_id AND d.version = p_based_on
        RETURNING d.*;
END
$$;
