"""Notifications: "read up to" marks, so marking a lane all read writes one row, not one per notification.

Adds ``notifications.seq`` (the order notifications were stored in), the unread index by
``(user_id, lane, seq)``, and ``notification_read_marks``: a row per mark-all-read and lane
saying "everything of this lane up to ``read_up_to`` was read at ``marked_at``". The new table
is user data; this migration grants it and writes its row-level security policies itself,
the way ``0006_security`` does for the tables before it (docs/notifications.md, docs/security.md).

Revision ID: 0007_notification_read_marks
Revises: 0006_security
"""

from alembic import op

from townsquare.adapters.postgres.database import APP_ROLE, SYSTEM_ROLE

revision = "0007_notification_read_marks"
down_revision = "0006_security"
branch_labels = None
depends_on = None

_ME = "app.current_user_id()"


def upgrade() -> None:
    # Identity values grow in insertion order; sends to one user serialize on their daily
    # counter row, so a user's notifications commit in seq order (docs/notifications.md).
    op.execute("ALTER TABLE notifications ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY")
    op.execute("DROP INDEX notifications_unread")
    # Counts and mark-all-read range-scan the entries past the lane's read mark.
    op.execute(
        "CREATE INDEX notifications_unread ON notifications (user_id, lane, seq) "
        "WHERE channel = 'inapp' AND read_at IS NULL"
    )
    op.execute(
        """
        CREATE TABLE notification_read_marks (
            user_id text NOT NULL,
            lane text NOT NULL CHECK (lane IN ('social', 'commerce', 'events', 'system')),
            read_up_to bigint NOT NULL,
            marked_at timestamptz NOT NULL,
            PRIMARY KEY (user_id, lane, read_up_to)
        )
        """
    )
    op.execute(f"GRANT SELECT, INSERT ON notification_read_marks TO {APP_ROLE}")
    op.execute(
        f"CREATE POLICY notification_read_marks_user_0 ON notification_read_marks FOR ALL TO {APP_ROLE} "
        f"USING (user_id = {_ME}) WITH CHECK (user_id = {_ME})"
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON notification_read_marks TO {SYSTEM_ROLE}")
    op.execute(
        f"CREATE POLICY notification_read_marks_system ON notification_read_marks FOR ALL TO {SYSTEM_ROLE} "
        "USING (true) WITH CHECK (true)"
    )
    op.execute("ALTER TABLE notification_read_marks ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY")


def downgrade() -> None:
    # Keep what the marks say: a notification they cover gets its read time on its own row.
    op.execute(
        """
        UPDATE notifications n SET read_at = (
            SELECT m.marked_at FROM notification_read_marks m
            WHERE m.user_id = n.user_id AND m.lane = n.lane AND m.read_up_to >= n.seq
            ORDER BY m.read_up_to LIMIT 1
        )
        WHERE n.channel = 'inapp' AND n.read_at IS NULL AND EXISTS (
            SELECT 1 FROM notification_read_marks m
            WHERE m.user_id = n.user_id AND m.lane = n.lane AND m.read_up_to >= n.seq
        )
        """
    )
    op.execute("DROP TABLE IF EXISTS notification_read_marks")
    op.execute("DROP INDEX IF EXISTS notifications_unread")
    op.execute("ALTER TABLE notifications DROP COLUMN IF EXISTS seq")
    op.execute(
        "CREATE INDEX notifications_unread ON notifications (user_id, lane) WHERE channel = 'inapp' AND read_at IS NULL"
    )
