-- app.feed_items (migration 0010_one_statement_feed_pages): whole rows for the ids the store does not hold.
CREATE FUNCTION app.feed_items(p_role text, p_user text, p_ids text[])
RETURNS SETOF feed_items
LANGUAGE plpgsql AS $$
BEGIN
    
    IF p_role IS NOT NULL THEN
        PERFORM set_config('role', p_role, true), set_config('app.user_id', coalesce(p_user, ''), true);
    END IF;

    RETURN QUERY SELECT * FROM feed_items AS i WHERE i.item_id = ANY (p_ids);
END
$$
