"""Events: a confirmation no longer locks its event's row (issue 17's hot event).

``app.events_lock_for_confirm`` locks the registration (and a limited code) but not the event
(but for a waitlist offer); ``app.events_hold`` and the store's count for a change lock the
lapsed holds they take off, which is what a confirmation of such a hold now waits for. Bodies in
``0036_events_hold.sql`` and ``0036_events_lock_for_confirm.sql``.

Revision ID: 0036_confirm_without_event_lock
Revises: 0035_report_hours
"""

from pathlib import Path

from alembic import op

revision = "0036_confirm_without_event_lock"
down_revision = "0035_report_hours"
branch_labels = None
depends_on = None

_HERE = Path(__file__).parent


def upgrade() -> None:
    op.execute((_HERE / "0036_events_hold.sql").read_text())
    op.execute((_HERE / "0036_events_lock_for_confirm.sql").read_text())


def downgrade() -> None:
    for name in ("0032_events_hold.sql", "0032_events_lock_for_confirm.sql"):
        op.execute((_HERE / name).read_text().replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
