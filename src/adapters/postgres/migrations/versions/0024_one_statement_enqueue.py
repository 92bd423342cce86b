"""Jobs: a single enqueue is one statement (``app.jobs_add``, body in ``0024_jobs_add.sql``).

Called through ``PgDatabase.call``: outside a transaction it switches to the system role
itself and runs alone in autocommit, one round trip; inside a caller's transaction it joins
it (transactional enqueue) and keeps its role. Batches keep their multi-statement insert.

Revision ID: 0024_one_statement_enqueue
Revises: 0023_waiting_by_producer
"""

from pathlib import Path

from alembic import op

from townsquare.adapters.postgres.migrations.calls import grant_calls

revision = "0024_one_statement_enqueue"
down_revision = "0023_waiting_by_producer"
branch_labels = None
depends_on = None

_SIGNATURE = "app.jobs_add(text, text, text, jsonb, smallint, integer, timestamptz, text, timestamptz)"


def upgrade() -> None:
    op.execute((Path(__file__).parent / "0024_jobs_add.sql").read_text())
    grant_calls(_SIGNATURE)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {_SIGNATURE}")
