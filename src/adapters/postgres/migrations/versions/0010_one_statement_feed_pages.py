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

from pathlib import Path

from alembic import op

from townsquare.adapters.postgres.migrations.calls import grant_calls

revision = "0010_one_statement_feed_pages"
down_revision = "0009_one_statement_sends"
branch_labels = None
depends_on = None

_HERE = Path(__file__).parent
_BODIES = ("0010_feed_page.sql", "0010_feed_items.sql")
"""The two functions, each in its file next to this one."""

_FUNCTIONS = (
    "app.feed_page(text, text, text, boolean, bigint, bigint, text, integer, bigint, text, integer)",
    "app.feed_items(text, text, text[])",
)


def upgrade() -> None:
    for body in _BODIES:
        op.execute((_HERE / body).read_text())
    grant_calls(*_FUNCTIONS)


def downgrade() -> None:
    for function in _FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {function}")
