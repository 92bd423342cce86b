"""Earnings: per-day checkpoints of the ledger, so a point-in-time summary reads a day's worth of events.

``earning_days (creator_id, day, currency, shard)`` holds the sums of a creator's events
recorded on one UTC day, split over the same 16 shards as ``earning_totals`` (an event adds
to the shard of its id in both, so two writers wait on a day row only where they already
wait on a totals row). They are written by the ledger's append, in the statement that
inserts the event, and rebuilt by a recompute. A summary as of an instant sums the days
before the instant's UTC day and the events of that day up to the instant.

Backfilled from the events already stored.

Revision ID: 0029_earning_days
Revises: 0028_parked_jobs
"""

from alembic import op

from townsquare.adapters.postgres.database import APP_ROLE, SYSTEM_ROLE

revision = "0029_earning_days"
down_revision = "0028_parked_jobs"
branch_labels = None
depends_on = None

_ME = "(SELECT app.current_user_id())"


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE earning_days (
            creator_id text NOT NULL,
            day        date NOT NULL,
            currency   text NOT NULL,
            shard      smallint NOT NULL CHECK (shard BETWEEN 0 AND 15),
            total      bigint NOT NULL DEFAULT 0,
            captured   bigint NOT NULL DEFAULT 0,
            voided     bigint NOT NULL DEFAULT 0,
            refunded   bigint NOT NULL DEFAULT 0,
            events     bigint NOT NULL DEFAULT 0,
            PRIMARY KEY (creator_id, day, currency, shard)
        )
        """
    )
    # The shard is the event id's last hex digit: uuid.int % 16, as the adapter computes it.
    op.execute(
        """
        INSERT INTO earning_days (creator_id, day, currency, shard, total, captured, voided, refunded, events)
        SELECT creator_id, (recorded_at AT TIME ZONE 'UTC')::date, currency,
               position(right(id::text, 1) IN '0123456789abcdef') - 1,
               coalesce(sum(amount) FILTER (WHERE type = 'earning'), 0),
               coalesce(sum(amount) FILTER (WHERE type = 'capture'), 0),
               coalesce(sum(amount) FILTER (WHERE type = 'void'), 0),
               coalesce(sum(amount) FILTER (WHERE type = 'refund'), 0),
               count(*)
        FROM earning_events GROUP BY 1, 2, 3, 4
        """
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON earning_days TO {APP_ROLE}, {SYSTEM_ROLE}")
    op.execute(
        f"CREATE POLICY earning_days_user_0 ON earning_days FOR ALL TO {APP_ROLE} "
        f"USING (creator_id = {_ME}) WITH CHECK (creator_id = {_ME})"
    )
    op.execute(
        f"CREATE POLICY earning_days_system ON earning_days FOR ALL TO {SYSTEM_ROLE} USING (true) WITH CHECK (true)"
    )
    op.execute("ALTER TABLE earning_days ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS earning_days")
