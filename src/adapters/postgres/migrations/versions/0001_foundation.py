"""Foundation: the application schema helpers every port's tables and policies use.

``app.current_user_id()`` reads the acting user that the unit of work sets per transaction
(``SET LOCAL``-style ``set_config(..., true)``); row-level security policies compare with it.

Revision ID: 0001_foundation
Revises:
"""

from alembic import op

revision = "0001_foundation"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS app")
    op.execute(
        """
        CREATE OR REPLACE FUNCTION app.current_user_id() RETURNS text
        LANGUAGE sql STABLE AS $$ SELECT nullif(current_setting('app.user_id', true), '') $$
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS app.current_user_id()")
    op.execute("DROP SCHEMA IF EXISTS app")
