-- app.notification_send_context: the key's earlier send and the stored preferences with their
-- version, in one call (migration 0009_one_statement_sends).
CREATE FUNCTION app.notification_send_context(
    p_role text, p_user text, p_recipient text, p_key text,
    OUT existing_id uuid, OUT document jsonb, OUT version bigint
) LANGUAGE plpgsql AS $$
BEGIN
    
    IF p_role IS NOT NULL THEN
        PERFORM set_config('role', p_role, true), set_config('app.user_id', coalesce(p_user, ''), true);
    END IF;

    IF p_key IS NOT NULL THEN
        SELECT n.id INTO existing_id FROM notifications n WHERE n.user_id = p_recipient AND n.idempotency_key = p_key;
    END IF;
    SELECT p.document, p.version INTO document, version FROM notification_preferences p WHERE p.user_id = p_recipient;
    version := coalesce(version, 0);
END
$$
