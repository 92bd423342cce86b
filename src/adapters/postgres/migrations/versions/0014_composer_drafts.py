"""Composer: drafts, versioned, with their schedule; the author's own rows only (forced RLS).

A draft's ``version`` is the compare-and-set of every change (``UPDATE ... WHERE version =
:based_on``). A schedule is four columns set together (the instant, the local time and zone
the author wrote, and the version it was set at, which the publish job carries).

Revision ID: 0014_composer_drafts
Revises: 0013_idempotent_last_cap_slot
"""

from alembic import op

from townsquare.adapters.postgres.database import APP_ROLE, SYSTEM_ROLE

revision = "0014_composer_drafts"
down_revision = "0013_idempotent_last_cap_slot"
branch_labels = None
depends_on = None

_ME = "(SELECT app.current_user_id())"


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE composer_drafts (
            draft_id         text COLLATE "C" PRIMARY KEY,
            author_id        text NOT NULL,
            version          bigint NOT NULL CHECK (version >= 1),
            title            text NOT NULL DEFAULT '',
            body             text NOT NULL DEFAULT '',
            attachments      text[] NOT NULL DEFAULT '{}',
            mentions         text[] NOT NULL DEFAULT '{}',
            created_at       timestamptz NOT NULL,
            updated_at       timestamptz NOT NULL,
            publish_at       timestamptz,
            schedule_local   timestamp,
            schedule_zone    text,
            schedule_version bigint,
            CONSTRAINT composer_drafts_schedule_whole CHECK (
                (publish_at IS NULL) = (schedule_local IS NULL)
                AND (publish_at IS NULL) = (schedule_zone IS NULL)
                AND (publish_at IS NULL) = (schedule_version IS NULL)
            )
        )
        """
    )
    # The author's list, newest first, a keyset page at a time.
    op.execute("CREATE INDEX composer_drafts_by_author ON composer_drafts (author_id, created_at DESC, draft_id DESC)")
    # The per-author limit counts scheduled drafts only.
    op.execute("CREATE INDEX composer_drafts_scheduled ON composer_drafts (author_id) WHERE publish_at IS NOT NULL")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON composer_drafts TO {APP_ROLE}")
    op.execute(
        f"CREATE POLICY composer_drafts_user_0 ON composer_drafts FOR ALL TO {APP_ROLE} "
        f"USING (author_id = {_ME}) WITH CHECK (author_id = {_ME})"
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON composer_drafts TO {SYSTEM_ROLE}")
    op.execute(
        f"CREATE POLICY composer_drafts_system ON composer_drafts FOR ALL TO {SYSTEM_ROLE} "
        "USING (true) WITH CHECK (true)"
    )
    op.execute("ALTER TABLE composer_drafts ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS composer_drafts")
