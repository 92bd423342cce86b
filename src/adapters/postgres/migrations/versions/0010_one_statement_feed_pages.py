"""Feed: a page is one call, and returns item ids; the items come from the store's memory of them.

``app.feed_page(role, user, viewer, following, snapshot, others_rank, others_id, others_limit,
products_rank, products_id, products_limit)`` reads both streams of a page as
``0004_feed``'s statement did (backward scans of the per-stream indexes from the cursor's
positions, anti-joins against the viewer's hidden items and cart, the follows in
'following'), but returns only each candidate's id, rank key and sequence, read from the
index alone: no join back to the table. ``app.feed_items(role, user, ids)`` returns whole rows
for the ids the store does not hold yet (items never change once published, so the store
keeps them, docs/feed.md).

Like ``0009``'s send functions they switch role themselves (``NULL`` keeps the transaction's),
so a page runs alone in autocommit in one round trip. Every parameter is a parameter,
limits included: ``plan_cache_mode = force_generic_plan`` makes the function's statements
run on their generic plans, the same bounded index scans (a limit given as ``$n`` otherwise
makes Postgres keep planning each call, docs/feed.md). A first page passes no positions:
``(rank_key, item_id) < (max bigint, '')`` holds for every item and keeps the index condition.

Revision ID: 0010_one_statement_feed_pages
Revises: 0009_one_statement_sends
"""

from alembic import op

from townsquare.adapters.postgres.migrations.calls import SWITCH_ROLE, grant_calls

revision = "0010_one_statement_feed_pages"
down_revision = "0009_one_statement_sends"
branch_labels = None
depends_on = None

_STREAM = """SELECT k.item_id, k.rank_key, k.sequence, {shop}, v_snapshot FROM feed_items AS k
        WHERE k.removed_at IS NULL AND k.kind {op} 'product' AND k.sequence <= v_snapshot
          AND (k.rank_key, k.item_id) < (coalesce(p_{s}_rank, {top}), coalesce(p_{s}_id, ''))
          AND NOT EXISTS (SELECT FROM feed_hidden_items AS h
                          WHERE h.viewer_id = p_viewer AND h.item_id = k.item_id)
          AND NOT EXISTS (SELECT FROM feed_cart_items AS c
                          WHERE c.viewer_id = p_viewer AND c.item_id = k.item_id){following}
        ORDER BY k.rank_key DESC, k.item_id DESC LIMIT p_{s}_limit"""
_FOLLOWING = """
          AND (k.creator_id IN (SELECT f.creator_id FROM feed_follows AS f WHERE f.follower_id = p_viewer)) IS TRUE"""
_TOP = "9223372036854775807"


def _streams(following: bool) -> str:
    others = _STREAM.format(shop="false", op="<>", s="others", top=_TOP, following=_FOLLOWING if following else "")
    products = _STREAM.format(shop="true", op="=", s="products", top=_TOP, following=_FOLLOWING if following else "")
    return f"""
        RETURN QUERY
        {others};
        IF p_products_limit > 0 THEN
            RETURN QUERY
            {products};
        END IF;"""


_FEED_PAGE = f"""
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
    {SWITCH_ROLE}
    IF v_snapshot IS NULL THEN
        -- The last publication sequence handed out (committed or not; see docs/feed.md).
        SELECT CASE WHEN s.is_called THEN s.last_value ELSE 0 END INTO v_snapshot FROM feed_items_sequence AS s;
    END IF;
    -- Each stream in feed order, others first; then a row that carries the snapshot alone.
    IF p_following THEN{{{{following}}}}
    ELSE{{{{for_you}}}}
    END IF;
    RETURN QUERY SELECT NULL::text, NULL::bigint, NULL::bigint, NULL::boolean, v_snapshot;
END
$$
""".replace("{{following}}", _streams(True)).replace("{{for_you}}", _streams(False))

_FEED_ITEMS = f"""
CREATE FUNCTION app.feed_items(p_role text, p_user text, p_ids text[])
RETURNS SETOF feed_items
LANGUAGE plpgsql AS $$
BEGIN
    {SWITCH_ROLE}
    RETURN QUERY SELECT * FROM feed_items AS i WHERE i.item_id = ANY (p_ids);
END
$$
"""

_FUNCTIONS = (
    "app.feed_page(text, text, text, boolean, bigint, bigint, text, integer, bigint, text, integer)",
    "app.feed_items(text, text, text[])",
)


def upgrade() -> None:
    op.execute(_FEED_PAGE)
    op.execute(_FEED_ITEMS)
    grant_calls(*_FUNCTIONS)


def downgrade() -> None:
    for function in _FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {function}")
