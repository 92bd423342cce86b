-- app.feed_page (migration 0010_one_statement_feed_pages): a page's candidates, both streams
-- (others, then products) read from their indexes, and a last row that carries the snapshot alone.
-- The two branches differ only in the follows condition: each statement keeps its own generic plan.
CREATE FUNCTION app.feed_page(
    p_role text, p_user text, p_viewer text, p_following boolean, p_snapshot bigint,
    p_others_rank bigint, p_others_id text, p_others_limit integer,
    p_products_rank bigint, p_products_id text, p_products_limit integer
) RETURNS TABLE (item_id text, rank_key bigint, sequence bigint, is_product boolean, snapshot bigint)
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
DECLARE
    v_snapshot bigint := p_snapshot;
BEGIN
    
    IF p_role IS NOT NULL THEN
        PERFORM set_config('role', p_role, true), set_config('app.user_id', coalesce(p_user, ''), true);
    END IF;

    IF v_snapshot IS NULL THEN
        -- The last publication sequence handed out (committed or not; see docs/feed.md).
        SELECT CASE WHEN s.is_called THEN s.last_value ELSE 0 END INTO v_snapshot FROM feed_items_sequence AS s;
    END IF;
    -- Each stream in feed order, others first; then a row that carries the snapshot alone.
    IF p_following THEN
        RETURN QUERY
        SELECT k.item_id, k.rank_key, k.sequence, false, v_snapshot FROM feed_items AS k
        WHERE k.removed_at IS NULL AND k.kind <> 'product' AND k.sequence <= v_snapshot
          AND (k.rank_key, k.item_id) < (coalesce(p_others_rank, 9223372036854775807), coalesce(p_others_id, ''))
          AND NOT EXISTS (SELECT FROM feed_hidden_items AS h
                          WHERE h.viewer_id = p_viewer AND h.item_id = k.item_id)
          AND NOT EXISTS (SELECT FROM feed_cart_items AS c
                          WHERE c.viewer_id = p_viewer AND c.item_id = k.item_id)
          AND (k.creator_id IN (SELECT f.creator_id FROM feed_follows AS f WHERE f.follower_id = p_viewer)) IS TRUE
        ORDER BY k.rank_key DESC, k.item_id DESC LIMIT p_others_limit;
        IF p_products_limit > 0 THEN
            RETURN QUERY
            SELECT k.item_id, k.rank_key, k.sequence, true, v_snapshot FROM feed_items AS k
        WHERE k.removed_at IS NULL AND k.kind = 'product' AND k.sequence <= v_snapshot
          AND (k.rank_key, k.item_id) < (coalesce(p_products_rank, 9223372036854775807), coalesce(p_products_id, ''))
          AND NOT EXISTS (SELECT FROM feed_hidden_items AS h
                          WHERE h.viewer_id = p_viewer AND h.item_id = k.item_id)
          AND NOT EXISTS (SELECT FROM feed_cart_items AS c
                          WHERE c.viewer_id = p_viewer AND c.item_id = k.item_id)
          AND (k.creator_id IN (SELECT f.creator_id FROM feed_follows AS f WHERE f.follower_id = p_viewer)) IS TRUE
        ORDER BY k.rank_key DESC, k.item_id DESC LIMIT p_products_limit;
        END IF;
    ELSE
        RETURN QUERY
        SELECT k.item_id, k.rank_key, k.sequence, false, v_snapshot FROM feed_items AS k
        WHERE k.removed_at IS NULL AND k.kind <> 'product' AND k.sequence <= v_snapshot
          AND (k.rank_key, k.item_id) < (coalesce(p_others_rank, 9223372036854775807), coalesce(p_others_id, ''))
          AND NOT EXISTS (SELECT FROM feed_hidden_items AS h
                          WHERE h.viewer_id = p_viewer AND h.item_id = k.item_id)
          AND NOT EXISTS (SELECT FROM feed_cart_items AS c
                          WHERE c.viewer_id = p_viewer AND c.item_id = k.item_id)
        ORDER BY k.rank_key DESC, k.item_id DESC LIMIT p_others_limit;
        IF p_products_limit > 0 THEN
            RETURN QUERY
            SELECT k.item_id, k.rank_key, k.sequence, true, v_snapshot FROM feed_items AS k
        WHERE k.removed_at IS NULL AND k.kind = 'product' AND k.sequence <= v_snapshot
          AND (k.rank_key, k.item_id) < (coalesce(p_products_rank, 9223372036854775807), coalesce(p_products_id, ''))
          AND NOT EXISTS (SELECT FROM feed_hidden_items AS h
                          WHERE h.viewer_id = p_viewer AND h.item_id = k.item_id)
          AND NOT EXISTS (SELECT FROM feed_cart_items AS c
                          WHERE c.viewer_id = p_viewer AND c.item_id = k.item_id)
        ORDER BY k.rank_key DESC, k.item_id DESC LIMIT p_products_limit;
        END IF;
    END IF;
    RETURN QUERY SELECT NULL::text, NULL::bigint, NULL::bigint, NULL::boolean, v_snapshot;
END
$$
