"""Jobs: the claim is one statement (``app.jobs_claim_call``, body in ``0038_jobs_claim_call.sql``).

``app.jobs_claim`` (``0031``) stays the claim; the new function switches role itself and calls
it, so ``PgDatabase.call`` runs the claim alone in autocommit (one round trip) and reads its
rows through the kept psycopg cursor.

Revision ID: 0038_one_statement_claim
Revises: 0037_one_statement_start
"""

from pathlib import Path

from alembic import op

from townsquare.adapters.postgres.migrations.calls import grant_calls

revision = "0038_one_statement_claim"
down_revision = "0037_one_statement_start"
branch_labels = None
depends_on = None

_FUNCTION = "app.jobs_claim_call(text, text, timestamptz, integer, uuid, timestamptz, uuid, integer)"


def upgrade() -> None:
    op.execute((Path(__file__).parent / "0038_jobs_claim_call.sql").read_text())
    grant_calls(_FUNCTION)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {_FUNCTION}")
