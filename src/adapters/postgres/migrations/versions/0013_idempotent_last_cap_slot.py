"""Notifications: a send that waited on the day's counter row re-checks its key before "capped".

``app.notification_add`` (0009) answered "capped" to a send that had waited on the counter
row's lock while a send with the same idempotency key took the last slot; it now answers
that send's id, as memory mode does. The body lives in ``0013_notification_add.sql``; the
signature, and so the grants, are unchanged.

Revision ID: 0013_idempotent_last_cap_slot
Revises: 0012_assistant
"""

from pathlib import Path

from alembic import op

revision = "0013_idempotent_last_cap_slot"
down_revision = "0012_assistant"
branch_labels = None
depends_on = None

_HERE = Path(__file__).parent


def upgrade() -> None:
    op.execute((_HERE / "0013_notification_add.sql").read_text())


def downgrade() -> None:
    # 0009's body, as it was.
    op.execute(
        (_HERE / "0009_notification_add.sql").read_text().replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
    )
