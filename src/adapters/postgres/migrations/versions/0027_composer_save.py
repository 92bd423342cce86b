"""Composer: an autosave is one statement (``app.composer_save``, body in ``0027_composer_save.sql``).

Called through ``PgDatabase.call``: in ``single_statements()`` it switches to the app role and
the author itself and runs alone in autocommit, one round trip; inside a transaction it joins
it and keeps its role.

Revision ID: 0027_composer_save
Revises: 0026_waitlist_closed
"""

from pathlib import Path

from alembic import op

from townsquare.adapters.postgres.migrations.calls import grant_calls

revision = "0027_composer_save"
down_revision = "0026_waitlist_closed"
branch_labels = None
depends_on = None

_SIGNATURE = "app.composer_save(text, text, text, text, bigint, text, text, text[], text[], timestamptz)"


def upgrade() -> None:
    op.execute((Path(__file__).parent / "0027_composer_save.sql").read_text())
    grant_calls(_SIGNATURE)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {_SIGNATURE}")
