"""Jobs: marking claimed jobs begun is one statement (``app.jobs_start``, body in ``0037_jobs_start.sql``).

The worker's actor threads mark each chunk of jobs begun just before running them; in a drain
of no-op jobs that transaction (BEGIN, the role switch, the UPDATE, COMMIT: four round trips
per chunk) was half of the worker's time (py-spy, issue 21). Called through
``PgDatabase.call`` in ``single_statements()``, it switches to the system role itself and runs
alone in autocommit: one round trip, committed (synchronously) before a job of the chunk runs.

Revision ID: 0037_one_statement_start
Revises: 0036_confirm_without_event_lock
"""

from pathlib import Path

from alembic import op

from townsquare.adapters.postgres.migrations.calls import grant_calls

revision = "0037_one_statement_start"
down_revision = "0036_confirm_without_event_lock"
branch_labels = None
depends_on = None

_FUNCTION = "app.jobs_start(text, text, bigint[], uuid[], timestamptz)"


def upgrade() -> None:
    op.execute((Path(__file__).parent / "0037_jobs_start.sql").read_text())
    grant_calls(_FUNCTION)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {_FUNCTION}")
