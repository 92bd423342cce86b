"""Feed: items, follows, hidden items and carts, with the indexes that keep every page a bounded index scan.

Item ids use the "C" collation so that the tie-breaker (id descending) is the same byte
order in Postgres as in the memory adapter, on every server locale.

Revision ID: 0004_feed
Revises: 0001_foundation
"""

from alembic import op

revision = "0004_feed"
down_revision = "0001_foundation"
branch_labels = ("feed",)
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE feed_items (
            item_id      text COLLATE "C" PRIMARY KEY,
            creator_id   text NOT NULL,
            kind         text NOT NULL CHECK (kind IN ('post', 'product', 'event', 'video')),
            title        text NOT NULL,
            body         text NOT NULL DEFAULT '',
            price_cents  bigint CHECK (price_cents >= 0),
            currency     text CHECK (currency ~ '^[A-Z]{3}$'),
            published_at timestamptz NOT NULL,
            rank_key     bigint NOT NULL,
            sequence     bigint GENERATED ALWAYS AS IDENTITY (SEQUENCE NAME feed_items_sequence),
            removed_at   timestamptz,
            CONSTRAINT feed_items_price_for_products
                CHECK ((kind = 'product') = (price_cents IS NOT NULL AND currency IS NOT NULL))
        )
        """
    )
    # One ordered index per stream, live items only: a page reads each stream from the
    # cursor's (rank_key, item_id) downwards and stops after limit + 1 (or quota + 1) rows.
    # Deliberately no other index on feed_items that a page could use (not on sequence, not
    # per creator): the planner is left with these ordered scans, which stop early, instead
    # of reading every item of the followed creators (or every item) and sorting them.
    # A first page's snapshot is the identity sequence's last value, read without an index.
    # INCLUDE (creator_id, sequence): the snapshot, follows, hidden and cart checks run on
    # the index alone (an index-only scan); only the page's own rows are read from the table.
    op.execute(
        """
        CREATE INDEX feed_items_others_by_rank ON feed_items (rank_key, item_id) INCLUDE (creator_id, sequence)
        WHERE removed_at IS NULL AND kind <> 'product'
        """
    )
    op.execute(
        """
        CREATE INDEX feed_items_products_by_rank ON feed_items (rank_key, item_id) INCLUDE (creator_id, sequence)
        WHERE removed_at IS NULL AND kind = 'product'
        """
    )
    op.execute(
        """
        CREATE TABLE feed_follows (
            follower_id text NOT NULL,
            creator_id  text NOT NULL,
            followed_at timestamptz NOT NULL,
            PRIMARY KEY (follower_id, creator_id),
            CHECK (follower_id <> creator_id)
        )
        """
    )
    # Follower counts (the engagement boost) by creator.
    op.execute("CREATE INDEX feed_follows_by_creator ON feed_follows (creator_id)")
    op.execute(
        """
        CREATE TABLE feed_hidden_items (
            viewer_id text NOT NULL,
            item_id   text COLLATE "C" NOT NULL REFERENCES feed_items (item_id) ON DELETE CASCADE,
            hidden_at timestamptz NOT NULL,
            PRIMARY KEY (viewer_id, item_id)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE feed_cart_items (
            viewer_id text NOT NULL,
            item_id   text COLLATE "C" NOT NULL REFERENCES feed_items (item_id) ON DELETE CASCADE,
            added_at  timestamptz NOT NULL,
            PRIMARY KEY (viewer_id, item_id)
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS feed_cart_items")
    op.execute("DROP TABLE IF EXISTS feed_hidden_items")
    op.execute("DROP TABLE IF EXISTS feed_follows")
    op.execute("DROP TABLE IF EXISTS feed_items")
