-- app.notification_counts (migration 0034_notification_counts): a user's unread in-app
-- notifications per lane, in one call. Per lane: an index probe for the latest read mark, then
-- an index-only range scan of what is past it (the statement PgNotificationStore ran before).
CREATE FUNCTION app.notification_counts(p_role text, p_user text, p_user_id text, p_lanes text[])
RETURNS TABLE (lane text, unread bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    IF p_role IS NOT NULL THEN
        PERFORM set_config('role', p_role, true), set_config('app.user_id', coalesce(p_user, ''), true);
    END IF;
    RETURN QUERY
    SELECT l.lane, u.unread FROM unnest(p_lanes) AS l(lane)
    CROSS JOIN LATERAL (
        SELECT count(*) AS unread FROM notifications AS n
        WHERE n.user_id = p_user_id AND n.channel = 'inapp' AND n.read_at IS NULL AND n.lane = l.lane
          AND n.seq > coalesce((SELECT max(m.read_up_to) FROM notification_read_marks AS m
                                WHERE m.user_id = p_user_id AND m.lane = l.lane), 0)
    ) AS u;
END;
$$;
