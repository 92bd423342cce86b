"""Jobs: a job keeps the trace context of its enqueuer, so its run's span links to it (issue 20).

- ``jobs.trace_parent``: the W3C ``traceparent`` of the span current when the job was enqueued
  (an HTTP request's, say); ``NULL`` when tracing is off. Nullable without a default: adding
  it rewrites nothing.
- ``app.jobs_add`` takes it as a last argument (``0031_jobs_add.sql``), and the batch insert
  writes it; ``app.jobs_claim`` returns it (``0031_jobs_claim.sql``). Both signatures change
  (an argument; a result column), so the functions are dropped and created again, with their
  grants.

Revision ID: 0031_job_trace_parent
Revises: 0030_composer_due
"""

from pathlib import Path

from alembic import op

from townsquare.adapters.postgres.migrations.calls import grant_calls

revision = "0031_job_trace_parent"
down_revision = "0030_composer_due"
branch_labels = None
depends_on = None

_HERE = Path(__file__).parent
_ADD_BEFORE = "app.jobs_add(text, text, text, jsonb, smallint, integer, timestamptz, text, timestamptz)"
_ADD = "app.jobs_add(text, text, text, jsonb, smallint, integer, timestamptz, text, timestamptz, text)"
_CLAIM = "app.jobs_claim(timestamptz, integer, uuid, timestamptz, uuid, integer)"


def upgrade() -> None:
    op.execute("ALTER TABLE jobs ADD COLUMN trace_parent text")
    op.execute(f"DROP FUNCTION {_ADD_BEFORE}")
    op.execute((_HERE / "0031_jobs_add.sql").read_text())
    op.execute(f"DROP FUNCTION {_CLAIM}")
    op.execute((_HERE / "0031_jobs_claim.sql").read_text())
    grant_calls(_ADD, _CLAIM)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {_ADD}")
    op.execute((_HERE / "0028_jobs_add.sql").read_text())
    op.execute(f"DROP FUNCTION {_CLAIM}")
    op.execute((_HERE / "0028_jobs_claim.sql").read_text())
    grant_calls(_ADD_BEFORE, _CLAIM)
    op.execute("ALTER TABLE jobs DROP COLUMN trace_parent")
