"""Events: no use counter for a code without limits (the checkout's shared row, issue 17).

``event_discount_codes.uses_held`` is kept only for codes with ``max_uses`` or
``per_user_limit`` (the triggers' bodies in ``0033_events_counts.sql``); the others' are zeroed.

Revision ID: 0033_unlimited_code_counts
Revises: 0032_event_counts
"""

from pathlib import Path

from alembic import op

revision = "0033_unlimited_code_counts"
down_revision = "0032_event_counts"
branch_labels = None
depends_on = None

_HERE = Path(__file__).parent


def upgrade() -> None:
    op.execute((_HERE / "0033_events_counts.sql").read_text())
    op.execute("UPDATE event_discount_codes SET uses_held = 0 WHERE max_uses IS NULL AND per_user_limit IS NULL")


def downgrade() -> None:
    op.execute(
        (_HERE / "0032_events_counts.sql")
        .read_text()
        .split("CREATE TRIGGER", 1)[0]
        .replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION")
    )
    op.execute(
        """
        UPDATE event_discount_codes c SET uses_held = (
            SELECT count(*) FROM event_registrations r
            WHERE r.producer_id = c.producer_id AND r.discount_code = c.code AND r.status IN ('reserved', 'confirmed'))
        WHERE c.max_uses IS NULL AND c.per_user_limit IS NULL
        """
    )
