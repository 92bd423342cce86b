"""Composer: the picker's entity index, with a btree for handles and full-text and trigram indexes.

``composer_entities`` holds creators, products and events written by their publishers. The
core computes what is matched (the lowercase handle, the name's words, the lowercase name) and
this table stores it, so the tiers of docs/composer.md are plain indexed predicates:

- exact handle and handle prefix: the btree ``(handle, kind, entity_id)`` in "C" collation,
  which is also every tier's order, so a prefix is a range scan that stops after the page;
- word prefixes: ``words`` is a tsvector of the core's words (``array_to_tsvector``, no
  parser of its own), searched with prefix tsqueries (``'cel':*``) on a GIN index;
- fragments (3+ characters): pg_trgm GIN indexes on the handle and the lowercase name serve
  ``LIKE '%...%'``.

pg_trgm is created here (the migration runs as the tables' owner; on a managed database a
DBA may have to create it first, ``CREATE EXTENSION`` is then a no-op).

Revision ID: 0015_composer_entities
Revises: 0014_composer_drafts
"""

from alembic import op

from townsquare.adapters.postgres.database import APP_ROLE, SYSTEM_ROLE

revision = "0015_composer_entities"
down_revision = "0014_composer_drafts"
branch_labels = None
depends_on = None

_ME = "(SELECT app.current_user_id())"


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute(
        """
        CREATE TABLE composer_entities (
            kind        text COLLATE "C" NOT NULL CHECK (kind IN ('creator', 'product', 'event')),
            entity_id   text COLLATE "C" NOT NULL,
            handle      text COLLATE "C" NOT NULL,
            name        text NOT NULL,
            name_lower  text COLLATE "C" NOT NULL,
            words       tsvector NOT NULL,
            owner_id    text NOT NULL,
            visibility  text NOT NULL CHECK (visibility IN ('public', 'private')),
            PRIMARY KEY (kind, entity_id)
        )
        """
    )
    op.execute("CREATE INDEX composer_entities_by_handle ON composer_entities (handle, kind, entity_id)")
    op.execute("CREATE INDEX composer_entities_words ON composer_entities USING gin (words)")
    op.execute("CREATE INDEX composer_entities_handle_trgm ON composer_entities USING gin (handle gin_trgm_ops)")
    op.execute("CREATE INDEX composer_entities_name_trgm ON composer_entities USING gin (name_lower gin_trgm_ops)")
    op.execute(f"GRANT SELECT ON composer_entities TO {APP_ROLE}")
    # Users read what is public and their own; writes go through the system role after the
    # core's owner check (docs/composer.md).
    op.execute(
        f"CREATE POLICY composer_entities_user_0 ON composer_entities FOR SELECT TO {APP_ROLE} "
        f"USING (visibility = 'public' OR owner_id = {_ME})"
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON composer_entities TO {SYSTEM_ROLE}")
    op.execute(
        f"CREATE POLICY composer_entities_system ON composer_entities FOR ALL TO {SYSTEM_ROLE} "
        "USING (true) WITH CHECK (true)"
    )
    op.execute("ALTER TABLE composer_entities ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS composer_entities")
