"""Events: a producer's waiting lines across their events, for the assistant's "raise a quota" action.

- ``event_waitlist_waiting_by_producer (producer_id, event_id, type_id) WHERE status = 'waiting'``:
  the waiting counts per ticket type of every event of one producer (``waiting_of_producer``),
  an index-only scan instead of a pass over every line of every producer. No new table: the
  policies and grants of 0021 apply.

Revision ID: 0023_waiting_by_producer
Revises: 0022_reports
"""

from alembic import op

revision = "0023_waiting_by_producer"
down_revision = "0022_reports"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX event_waitlist_waiting_by_producer ON event_waitlist (producer_id, event_id, type_id) "
        "WHERE status = 'waiting'"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS event_waitlist_waiting_by_producer")
