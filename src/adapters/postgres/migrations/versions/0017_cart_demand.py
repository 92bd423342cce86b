"""Insights: indexes for a creator's products waiting in carts (the missed-opportunities read).

The read goes from the creator's live products (a partial index on creator) to their cart
entries (by item): without these it scans every cart.

Revision ID: 0017_cart_demand
Revises: 0016_composer_media
"""

from alembic import op

revision = "0017_cart_demand"
down_revision = "0016_composer_media"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX feed_items_live_products_by_creator ON feed_items (creator_id) "
        "INCLUDE (price_cents, currency) WHERE kind = 'product' AND removed_at IS NULL"
    )
    op.execute("CREATE INDEX feed_cart_items_by_item ON feed_cart_items (item_id) INCLUDE (added_at)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS feed_cart_items_by_item")
    op.execute("DROP INDEX IF EXISTS feed_items_live_products_by_creator")
