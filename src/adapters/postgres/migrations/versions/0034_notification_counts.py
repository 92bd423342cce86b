"""Notifications: the unread counts are one call (``app.notification_counts``).

``app.notification_counts(role, user, user_id, lanes)`` returns a row per lane with the
user's unread in-app notifications past the lane's read mark, the statement the store ran
inside a transaction before. Like ``0009``'s and ``0010``'s functions it switches role itself
(``NULL`` keeps the transaction's), so the counts run alone in autocommit: one round trip
where the transaction took four (BEGIN, the role switch, the statement, COMMIT).

Revision ID: 0034_notification_counts
Revises: 0033_unlimited_code_counts
"""

from pathlib import Path

from alembic import op

from townsquare.adapters.postgres.migrations.calls import grant_calls

revision = "0034_notification_counts"
down_revision = "0033_unlimited_code_counts"
branch_labels = None
depends_on = None

_FUNCTION = "app.notification_counts(text, text, text, text[])"


def upgrade() -> None:
    op.execute((Path(__file__).parent / "0034_notification_counts.sql").read_text())
    grant_calls(_FUNCTION)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {_FUNCTION}")
