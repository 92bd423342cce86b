-- app.notification_add as 0009_one_statement_sends made it (0013 replaced its body):
-- idempotency, the version check, the daily cap, the insert and the optional outbox mail, atomically.
-- outcome: 'added', 'duplicate', 'capped' or 'stale' (then document and version are the current ones).
CREATE FUNCTION app.notification_add(
    p_role text, p_user text,
    p_id uuid, p_recipient text, p_channel text, p_category text, p_lane text, p_title text, p_body text,
    p_data jsonb, p_key text, p_created_at timestamptz, p_day date, p_cap integer, p_version bigint,
    p_mail_id uuid, p_mail_to text, p_mail_subject text, p_mail_body text, p_mail_headers jsonb,
    OUT outcome text, OUT notification_id uuid, OUT document jsonb, OUT version bigint
) LANGUAGE plpgsql AS $$
DECLARE
    counted boolean;
BEGIN
    
    IF p_role IS NOT NULL THEN
        PERFORM set_config('role', p_role, true), set_config('app.user_id', coalesce(p_user, ''), true);
    END IF;

    IF p_key IS NOT NULL THEN
        SELECT n.id INTO notification_id FROM notifications n
        WHERE n.user_id = p_recipient AND n.idempotency_key = p_key;
        IF FOUND THEN
            outcome := 'duplicate';
            RETURN;
        END IF;
    END IF;
    IF p_version IS NOT NULL THEN
        SELECT p.document, p.version INTO document, version FROM notification_preferences p
        WHERE p.user_id = p_recipient;
        version := coalesce(version, 0);
        IF version <> p_version THEN
            outcome := 'stale';
            RETURN;
        END IF;
        document := NULL;
        version := NULL;
    END IF;
    -- Racing sends to one user and channel serialize on this counter row: exactly cap pass.
    INSERT INTO notification_daily_sends AS d (user_id, channel, day, sent)
    VALUES (p_recipient, p_channel, p_day, 1)
    ON CONFLICT (user_id, channel, day) DO UPDATE SET sent = d.sent + 1 WHERE d.sent < p_cap;
    counted := FOUND;
    IF NOT counted THEN
        outcome := 'capped';
        RETURN;
    END IF;
    INSERT INTO notifications (id, user_id, channel, category, lane, title, body, data, idempotency_key, created_at)
    VALUES (p_id, p_recipient, p_channel, p_category, p_lane, p_title, p_body, p_data, p_key, p_created_at)
    ON CONFLICT (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING;
    IF NOT FOUND THEN
        -- A racing send with the same key committed first: give the count back, return its id.
        UPDATE notification_daily_sends SET sent = sent - 1
        WHERE user_id = p_recipient AND channel = p_channel AND day = p_day;
        SELECT n.id INTO STRICT notification_id FROM notifications n
        WHERE n.user_id = p_recipient AND n.idempotency_key = p_key;
        outcome := 'duplicate';
        RETURN;
    END IF;
    IF p_mail_id IS NOT NULL THEN
        INSERT INTO notification_mail_outbox (id, user_id, recipient, subject, body, headers, status, created_at)
        VALUES (p_mail_id, p_recipient, p_mail_to, p_mail_subject, p_mail_body, p_mail_headers, 'pending',
                p_created_at);
    END IF;
    notification_id := p_id;
    outcome := 'added';
END
$$
