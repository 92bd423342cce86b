"""A fast generator of feed data for benchmarks and plan tests: everything is INSERT ... SELECT generate_series.

Items are ``it-00000001`` ... one every 3 seconds up to ``newest``; every fifth one is a
product (20%), the rest posts, events and videos, spread over the creators ``cr-<n>``. The
viewer follows every twentieth creator, has the newest products in their cart and the
newest other items hidden: the worst case for filtering, since every one of them would
otherwise be on the first page.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from attrs import frozen
from sqlalchemy import Connection, text

from townsquare.core.feed.rules import BOOST_CAP, BOOST_STEP


@frozen
class FeedData:
    """What :func:`generate_feed_data` creates.

    Attributes:
        items: how many items (every fifth a product).
        creators: how many creators the items are spread over.
        viewer: the user whose feed is measured.
        follows: creators the viewer follows.
        cart: products in the viewer's cart.
        hidden: items the viewer hid.
        other_follows: follow rows of other users (so the follows table is not tiny).
    """

    items: int = 1_000_000
    creators: int = 10_000
    viewer: str = "bench-viewer"
    follows: int = 500
    cart: int = 50
    hidden: int = 200
    other_follows: int = 200_000


def generate_feed_data(conn: Connection, data: FeedData, newest: datetime) -> None:
    """Fill the (empty, migrated) feed tables of ``conn``'s database and ANALYZE them."""
    steps = BOOST_CAP // BOOST_STEP
    conn.execute(
        text(
            """
            INSERT INTO feed_items (item_id, creator_id, kind, title, body, price_cents, currency,
                                    published_at, rank_key)
            SELECT 'it-' || lpad(g::text, 8, '0'),
                   'cr-' || creator,
                   CASE g % 5 WHEN 0 THEN 'product' WHEN 1 THEN 'event' WHEN 2 THEN 'video' ELSE 'post' END,
                   'Item number ' || g,
                   'Generated for the feed benchmark.',
                   CASE WHEN g % 5 = 0 THEN 500 + g % 10000 END,
                   CASE WHEN g % 5 = 0 THEN 'EUR' END,
                   published_at,
                   (extract(epoch FROM published_at) * 1000000)::bigint
                     -- a per-creator engagement boost, as if creators had different audiences
                     + ((creator * 2654435761) % (:steps + 1)) * :step_us
            FROM (
                SELECT g,
                       (hashint4(g)::bigint & 2147483647) % :creators AS creator,
                       CAST(:newest AS timestamptz) - (:items - g) * interval '3 seconds' AS published_at
                FROM generate_series(1, :items) AS g
            ) AS generated
            ORDER BY g
            """
        ),
        {
            "items": data.items,
            "creators": data.creators,
            "newest": newest,
            "steps": steps,
            "step_us": BOOST_STEP // timedelta(microseconds=1),
        },
    )
    conn.execute(
        text(
            """
            INSERT INTO feed_follows (follower_id, creator_id, followed_at)
            SELECT :viewer, 'cr-' || (k * (:creators / :follows)), :newest
            FROM generate_series(0, :follows - 1) AS k
            """
        ),
        {"viewer": data.viewer, "creators": data.creators, "follows": max(data.follows, 1), "newest": newest},
    )
    conn.execute(
        text(
            """
            INSERT INTO feed_follows (follower_id, creator_id, followed_at)
            SELECT DISTINCT 'user-' || (g % 20000), 'cr-' || ((g * 31) % :creators), CAST(:newest AS timestamptz)
            FROM generate_series(1, :n) AS g
            ON CONFLICT DO NOTHING
            """
        ),
        {"creators": data.creators, "n": data.other_follows, "newest": newest},
    )
    # The newest products go in the cart and the newest other items are hidden.
    newest_product = data.items - data.items % 5
    conn.execute(
        text(
            """
            INSERT INTO feed_cart_items (viewer_id, item_id, added_at)
            SELECT :viewer, 'it-' || lpad((:top - 5 * k)::text, 8, '0'), :newest
            FROM generate_series(0, :n - 1) AS k WHERE :top - 5 * k > 0
            """
        ),
        {"viewer": data.viewer, "top": newest_product, "n": data.cart, "newest": newest},
    )
    conn.execute(
        text(
            """
            INSERT INTO feed_hidden_items (viewer_id, item_id, hidden_at)
            SELECT :viewer, 'it-' || lpad(g::text, 8, '0'), :newest
            FROM generate_series(:items, 1, -1) AS g
            WHERE g % 5 <> 0
            LIMIT :n
            """
        ),
        {"viewer": data.viewer, "items": data.items, "n": data.hidden, "newest": newest},
    )
    for table in ("feed_items", "feed_follows", "feed_cart_items", "feed_hidden_items"):
        conn.execute(text(f"ANALYZE {table}"))
