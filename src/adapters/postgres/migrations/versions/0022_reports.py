"""Reports: bulk actions and their items; the producer's registrations by time.

- ``bulk_actions``: one row per bulk refund or cancellation (its filter, reason, how many
  registrations it took and what they were to cost). ``bulk_action_items``: one row per
  registration it took, ``pending`` until a worker marks it ``done`` or ``failed`` (with the
  reason). Progress is counted from the items (no counter row for two workers to fight
  over); a worker claims an item with ``FOR UPDATE SKIP LOCKED``.
- ``event_registrations_by_producer (producer_id, created_at, registration_id)``: a
  producer's registrations in a range of days, and the keyset pages of the reconciliation
  list and the exports.

Writes run as the system role after the core's checks; a producer may read their own
actions, the items are the system's only (read through the service).

Revision ID: 0022_reports
Revises: 0021_event_waitlist
"""

from alembic import op

from townsquare.adapters.postgres.database import APP_ROLE, SYSTEM_ROLE

revision = "0022_reports"
down_revision = "0021_event_waitlist"
branch_labels = None
depends_on = None

_ME = "(SELECT app.current_user_id())"


def upgrade() -> None:
    op.execute(
        "CREATE INDEX event_registrations_by_producer ON event_registrations (producer_id, created_at, registration_id)"
    )
    op.execute(
        """
        CREATE TABLE bulk_actions (
            action_id   text COLLATE "C" PRIMARY KEY,
            producer_id text NOT NULL,
            kind        text NOT NULL CHECK (kind IN ('refund', 'cancel')),
            filter      jsonb NOT NULL,
            reason      text NOT NULL,
            total       integer NOT NULL CHECK (total >= 0),
            amounts     jsonb NOT NULL,
            job_id      bigint,
            created_at  timestamptz NOT NULL,
            finished_at timestamptz
        )
        """
    )
    op.execute(
        """
        CREATE TABLE bulk_action_items (
            action_id       text COLLATE "C" NOT NULL REFERENCES bulk_actions (action_id),
            position        integer NOT NULL,
            registration_id text COLLATE "C" NOT NULL,
            state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
            error           text,
            finished_at     timestamptz,
            PRIMARY KEY (action_id, registration_id),
            CHECK ((state = 'failed') = (error IS NOT NULL))
        )
        """
    )
    # The next pending item in order, and the counts by state.
    op.execute("CREATE INDEX bulk_action_items_by_state ON bulk_action_items (action_id, state, position)")
    for table in ("bulk_actions", "bulk_action_items"):
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {SYSTEM_ROLE}")
        op.execute(f"CREATE POLICY {table}_system ON {table} FOR ALL TO {SYSTEM_ROLE} USING (true) WITH CHECK (true)")
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY")
    op.execute(f"GRANT SELECT ON bulk_actions TO {APP_ROLE}")
    op.execute(
        f"CREATE POLICY bulk_actions_user_0 ON bulk_actions FOR SELECT TO {APP_ROLE} USING (producer_id = {_ME})"
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS bulk_action_items")
    op.execute("DROP TABLE IF EXISTS bulk_actions")
    op.execute("DROP INDEX IF EXISTS event_registrations_by_producer")
