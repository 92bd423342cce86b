"""Due scheduled drafts in publish order: the index a scheduled publish's batch reads.

``DraftStore.due_for_update`` takes the earliest due drafts (publish time, then id) with
``FOR UPDATE SKIP LOCKED``; this index returns them in that order from the first due one,
without sorting every scheduled draft.

Revision ID: 0030_composer_due
Revises: 0029_earning_days
"""

from alembic import op

revision = "0030_composer_due"
down_revision = "0029_earning_days"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX composer_drafts_due ON composer_drafts (publish_at, draft_id) WHERE publish_at IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX composer_drafts_due")
