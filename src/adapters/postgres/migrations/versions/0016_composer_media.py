"""Composer: who uploaded which media (the bytes live in the media store, by content key).

One row per owner and key: two owners uploading the same image share its file and each has
a record. The thumbnail key is filled by the thumbnail job. Owners read their own rows; the
system writes them (an upload's record and its thumbnail job commit together).

Revision ID: 0016_composer_media
Revises: 0015_composer_entities
"""

from alembic import op

from townsquare.adapters.postgres.database import APP_ROLE, SYSTEM_ROLE

revision = "0016_composer_media"
down_revision = "0015_composer_entities"
branch_labels = None
depends_on = None

_ME = "(SELECT app.current_user_id())"


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE composer_media (
            owner_id      text NOT NULL,
            media_key     text COLLATE "C" NOT NULL CHECK (media_key ~ '^[0-9a-f]{64}$'),
            content_type  text NOT NULL,
            width         integer NOT NULL CHECK (width > 0),
            height        integer NOT NULL CHECK (height > 0),
            size          bigint NOT NULL CHECK (size > 0),
            created_at    timestamptz NOT NULL,
            thumbnail_key text COLLATE "C",
            PRIMARY KEY (owner_id, media_key)
        )
        """
    )
    # The thumbnail job updates every owner's record of a key.
    op.execute("CREATE INDEX composer_media_by_key ON composer_media (media_key)")
    op.execute(f"GRANT SELECT ON composer_media TO {APP_ROLE}")
    op.execute(
        f"CREATE POLICY composer_media_user_0 ON composer_media FOR SELECT TO {APP_ROLE} USING (owner_id = {_ME})"
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON composer_media TO {SYSTEM_ROLE}")
    op.execute(
        f"CREATE POLICY composer_media_system ON composer_media FOR ALL TO {SYSTEM_ROLE} USING (true) WITH CHECK (true)"
    )
    op.execute("ALTER TABLE composer_media ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS composer_media")
