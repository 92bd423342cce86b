"""Jobs: admin controls (cancel, pause and resume a type, per-type concurrency limits).

- ``jobs.status`` may be ``cancelled`` (an admin stopped the job; it holds no lease, like
  every status but ``running``). Cancelled jobs are pruned like completed ones, so the
  pruning index ``jobs_finished`` now covers both.
- ``job_type_controls``: one row per paused or limited job type (no row: neither). Read by
  every claim, in every worker process, so a pause holds across workers and restarts.
- ``app.jobs_claim(...)``: the claim as one call. Paused types are skipped; a limited type is
  claimed only up to its limit minus its running jobs. While any limit exists, claims take
  one transaction-scoped advisory lock first and count running jobs in a *later* statement
  of the function (plpgsql takes a fresh snapshot per statement in read committed), so a
  claim waiting for another sees that one's committed claims and two claimers cannot both
  pass the limit. Without a limit no lock is taken: the claim is the unlocked ``FOR UPDATE
  SKIP LOCKED`` statement it was, with the controlled types filtered out through one
  initplan (a limit set after the function's check holds its type back until the next claim).
  Limit changes take the same lock. The function runs with generic plans: ``auto`` chose
  custom plans, re-planned on every call (+1.5 ms a claim). Its body: ``0020_jobs_claim.sql``.

Revision ID: 0020_job_controls
Revises: 0019_event_discounts
"""

from pathlib import Path

from alembic import op

from townsquare.adapters.postgres.database import SYSTEM_ROLE
from townsquare.adapters.postgres.migrations.calls import grant_calls

revision = "0020_job_controls"
down_revision = "0019_event_discounts"
branch_labels = None
depends_on = None

_SIGNATURE = "app.jobs_claim(timestamptz, integer, uuid, timestamptz, uuid, integer)"


def upgrade() -> None:
    op.execute("ALTER TABLE jobs DROP CONSTRAINT jobs_status_check")
    op.execute(
        "ALTER TABLE jobs ADD CONSTRAINT jobs_status_check"
        " CHECK (status IN ('pending', 'running', 'completed', 'dead', 'cancelled'))"
    )
    op.execute(
        "CREATE INDEX jobs_finished_or_cancelled ON jobs (finished_at, id) WHERE status IN ('completed', 'cancelled')"
    )
    op.execute("DROP INDEX jobs_finished")
    op.execute("ALTER INDEX jobs_finished_or_cancelled RENAME TO jobs_finished")
    op.execute(
        """
        CREATE TABLE job_type_controls (
            job_type text PRIMARY KEY CHECK (length(job_type) BETWEEN 1 AND 100),
            paused boolean NOT NULL DEFAULT false,
            max_running integer CHECK (max_running >= 1),
            updated_at timestamptz NOT NULL,
            CHECK (paused OR max_running IS NOT NULL)
        )
        """
    )
    # Not user data (like ``jobs``): the system role only, row-level security forced.
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON job_type_controls TO {SYSTEM_ROLE}")
    op.execute(
        f"CREATE POLICY job_type_controls_system ON job_type_controls FOR ALL TO {SYSTEM_ROLE}"
        " USING (true) WITH CHECK (true)"
    )
    op.execute("ALTER TABLE job_type_controls ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY")
    op.execute((Path(__file__).parent / "0020_jobs_claim.sql").read_text())
    grant_calls(_SIGNATURE)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {_SIGNATURE}")
    op.execute("DROP TABLE IF EXISTS job_type_controls")
    op.execute("DELETE FROM jobs WHERE status = 'cancelled'")
    op.execute("ALTER TABLE jobs DROP CONSTRAINT jobs_status_check")
    op.execute(
        "ALTER TABLE jobs ADD CONSTRAINT jobs_status_check"
        " CHECK (status IN ('pending', 'running', 'completed', 'dead'))"
    )
    op.execute("CREATE INDEX jobs_finished_completed ON jobs (finished_at, id) WHERE status = 'completed'")
    op.execute("DROP INDEX jobs_finished")
    op.execute("ALTER INDEX jobs_finished_completed RENAME TO jobs_finished")
