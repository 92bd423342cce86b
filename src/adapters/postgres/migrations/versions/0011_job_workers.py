"""Jobs: a registry of live worker processes, so a killed worker's jobs are re-offered in seconds.

- ``job_workers``: one row per running worker process, its heartbeat refreshed every few
  seconds (a HOT update: ``seen_at`` is not indexed). A worker last seen more than the
  worker timeout ago is dead.
- ``jobs.worker_id``: the worker process that claimed a running job; ``jobs.started_at``:
  when that worker began running it (``NULL``: claimed, still waiting in the worker's queue).
  A dead worker's begun jobs are retried as lost runs; the ones it never began are given
  back without spending an attempt.
- ``jobs_by_worker (worker_id) WHERE status = 'running'``: the rescue's lookup of a dead
  worker's jobs.

Revision ID: 0011_job_workers
Revises: 0010_one_statement_feed_pages
"""

from alembic import op

from townsquare.adapters.postgres.database import SYSTEM_ROLE

revision = "0011_job_workers"
down_revision = "0010_one_statement_feed_pages"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE job_workers (
            id uuid PRIMARY KEY,
            name text NOT NULL CHECK (length(name) <= 200),
            started_at timestamptz NOT NULL,
            seen_at timestamptz NOT NULL
        ) WITH (fillfactor = 50)
        """
    )
    op.execute("ALTER TABLE jobs ADD COLUMN worker_id uuid, ADD COLUMN started_at timestamptz")
    op.execute("CREATE INDEX jobs_by_worker ON jobs (worker_id) WHERE status = 'running'")
    # Not user data (like ``jobs``): the system role only, row-level security forced.
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON job_workers TO {SYSTEM_ROLE}")
    op.execute(
        f"CREATE POLICY job_workers_system ON job_workers FOR ALL TO {SYSTEM_ROLE} USING (true) WITH CHECK (true)"
    )
    op.execute("ALTER TABLE job_workers ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS jobs_by_worker")
    op.execute("ALTER TABLE jobs DROP COLUMN IF EXISTS worker_id, DROP COLUMN IF EXISTS started_at")
    op.execute("DROP TABLE IF EXISTS job_workers")
