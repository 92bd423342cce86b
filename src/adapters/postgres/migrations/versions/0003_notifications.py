"""Notifications: the inbox, daily sent counts, preferences, digest runs and the mail outbox.

Every table carries the owning ``user_id`` so a row-level security policy can compare it with
``app.current_user_id()``.

Revision ID: 0003_notifications
Revises: 0001_foundation
"""

from alembic import op

revision = "0003_notifications"
down_revision = "0001_foundation"
branch_labels = ("notifications",)
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE notifications (
            id uuid PRIMARY KEY,
            user_id text NOT NULL,
            channel text NOT NULL CHECK (channel IN ('inapp', 'email', 'push')),
            category text NOT NULL,
            lane text NOT NULL,
            title text NOT NULL,
            body text NOT NULL,
            data jsonb NOT NULL DEFAULT '{}'::jsonb,
            idempotency_key text,
            created_at timestamptz NOT NULL,
            read_at timestamptz
        )
        """
    )
    # Same key, same notification: the retry lookup and the race-proof insert.
    op.execute(
        "CREATE UNIQUE INDEX notifications_user_key ON notifications (user_id, idempotency_key) "
        "WHERE idempotency_key IS NOT NULL"
    )
    # The inbox, newest first per lane (keyset pages on (created_at, id)); the all-lanes page
    # merges the lanes' scans, so there is no second inbox index to update on every read.
    op.execute(
        "CREATE INDEX notifications_inbox_lane ON notifications (user_id, lane, created_at DESC, id DESC) "
        "WHERE channel = 'inapp'"
    )
    # Unread counts per lane and mark-all-read touch only the unread entries.
    op.execute(
        "CREATE INDEX notifications_unread ON notifications (user_id, lane) WHERE channel = 'inapp' AND read_at IS NULL"
    )
    op.execute(
        """
        CREATE TABLE notification_daily_sends (
            user_id text NOT NULL,
            channel text NOT NULL,
            day date NOT NULL,
            sent integer NOT NULL CHECK (sent >= 0),
            PRIMARY KEY (user_id, channel, day)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE notification_preferences (
            user_id text PRIMARY KEY,
            document jsonb NOT NULL,
            timezone text NOT NULL,
            digest_frequency text NOT NULL CHECK (digest_frequency IN ('off', 'daily', 'weekly')),
            digest_slot smallint NOT NULL CHECK (digest_slot BETWEEN 0 AND 167),
            updated_at timestamptz NOT NULL
        )
        """
    )
    # enqueue_due joins (time zone, frequency) windows with the users whose slot has passed.
    op.execute(
        "CREATE INDEX notification_preferences_digest "
        "ON notification_preferences (timezone, digest_frequency, digest_slot) WHERE digest_frequency <> 'off'"
    )
    op.execute(
        """
        CREATE TABLE notification_digest_runs (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            user_id text NOT NULL,
            period_key text NOT NULL,
            status text NOT NULL CHECK (status IN ('pending', 'mailed', 'skipped', 'sent')),
            created_at timestamptz NOT NULL,
            sent_at timestamptz,
            CONSTRAINT notification_digest_runs_once UNIQUE (user_id, period_key)
        )
        """
    )
    op.execute(
        "CREATE INDEX notification_digest_runs_pending ON notification_digest_runs (created_at, id) "
        "WHERE status = 'pending'"
    )
    op.execute(
        """
        CREATE TABLE notification_mail_outbox (
            id uuid PRIMARY KEY,
            user_id text NOT NULL,
            recipient text NOT NULL,
            subject text NOT NULL,
            body text NOT NULL,
            headers jsonb NOT NULL DEFAULT '{}'::jsonb,
            status text NOT NULL CHECK (status IN ('pending', 'dispatched', 'delivered')),
            digest_run_id uuid UNIQUE REFERENCES notification_digest_runs (id),
            created_at timestamptz NOT NULL,
            delivered_at timestamptz
        )
        """
    )
    op.execute(
        "CREATE INDEX notification_mail_outbox_pending ON notification_mail_outbox (created_at, id) "
        "WHERE status = 'pending'"
    )
    op.execute("CREATE INDEX notification_mail_outbox_user ON notification_mail_outbox (user_id, created_at)")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS notification_mail_outbox")
    op.execute("DROP TABLE IF EXISTS notification_digest_runs")
    op.execute("DROP TABLE IF EXISTS notification_preferences")
    op.execute("DROP TABLE IF EXISTS notification_daily_sends")
    op.execute("DROP TABLE IF EXISTS notifications")
