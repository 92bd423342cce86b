"""Reports: hourly sums of the registrations and of their ledger money, kept in the writers' transactions.

- ``report_hour_counts (producer_id, event_id, hour, status, currency)``: registrations made
  in one UTC hour, per stored status: how many, and the tickets and discounts of the ones ever
  confirmed.
- ``report_hour_money (producer_id, event_id, hour, currency)``: the ledger's earnings,
  captures, voids and refunds of the registrations made in that hour.
- Statement triggers (``0035_report_hours.sql``) add what each INSERT into ``earning_events``
  and each INSERT or UPDATE of ``event_registrations`` changed, in the same transaction: the
  ledger's and the registrations' own bookkeeping, not a second one (a test compares them
  with a recomputation after random sequences of sales, captures, refunds and voids).
- ``event_registrations_by_earning (earning_id)``: a ledger event finds its registration.

A report over days whose boundaries fall on whole UTC hours (every zone with a whole-hour
offset) sums these rows instead of 100,000 registrations and their ledger events. Backfilled.

Revision ID: 0035_report_hours
Revises: 0034_notification_counts
"""

from pathlib import Path

from alembic import op

from townsquare.adapters.postgres.database import APP_ROLE, SYSTEM_ROLE

revision = "0035_report_hours"
down_revision = "0034_notification_counts"
branch_labels = None
depends_on = None

_HERE = Path(__file__).parent
_ME = "(SELECT app.current_user_id())"
TABLES = ("report_hour_counts", "report_hour_money")


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE report_hour_counts (
            producer_id   text NOT NULL,
            event_id      text NOT NULL,
            hour          timestamptz NOT NULL,
            status        text NOT NULL,
            currency      text NOT NULL,
            registrations bigint NOT NULL DEFAULT 0,
            tickets       bigint NOT NULL DEFAULT 0,
            discounts     bigint NOT NULL DEFAULT 0,
            PRIMARY KEY (producer_id, event_id, hour, status, currency)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE report_hour_money (
            producer_id text NOT NULL,
            event_id    text NOT NULL,
            hour        timestamptz NOT NULL,
            currency    text NOT NULL,
            gross       bigint NOT NULL DEFAULT 0,
            captured    bigint NOT NULL DEFAULT 0,
            voided      bigint NOT NULL DEFAULT 0,
            refunded    bigint NOT NULL DEFAULT 0,
            PRIMARY KEY (producer_id, event_id, hour, currency)
        )
        """
    )
    # A producer's stats over every event read by hour.
    op.execute("CREATE INDEX report_hour_counts_by_producer ON report_hour_counts (producer_id, hour)")
    op.execute("CREATE INDEX report_hour_money_by_producer ON report_hour_money (producer_id, hour)")
    op.execute(
        "CREATE INDEX event_registrations_by_earning ON event_registrations (earning_id) WHERE earning_id IS NOT NULL"
    )
    op.execute(
        """
        INSERT INTO report_hour_counts (producer_id, event_id, hour, status, currency, registrations, tickets,
                                        discounts)
        SELECT producer_id, event_id, date_trunc('hour', created_at, 'UTC'), status, currency, count(*),
               coalesce(sum(quantity) FILTER (WHERE confirm_key IS NOT NULL), 0),
               coalesce(sum(discount) FILTER (WHERE confirm_key IS NOT NULL), 0)
        FROM event_registrations GROUP BY 1, 2, 3, 4, 5
        """
    )
    op.execute(
        """
        INSERT INTO report_hour_money (producer_id, event_id, hour, currency, gross, captured, voided, refunded)
        SELECT r.producer_id, r.event_id, date_trunc('hour', r.created_at, 'UTC'), r.currency,
               coalesce(sum(l.amount) FILTER (WHERE l.type = 'earning'), 0),
               coalesce(sum(l.amount) FILTER (WHERE l.type = 'capture'), 0),
               coalesce(sum(l.amount) FILTER (WHERE l.type = 'void'), 0),
               coalesce(sum(l.amount) FILTER (WHERE l.type = 'refund'), 0)
        FROM event_registrations r
        JOIN earning_events l ON coalesce(l.earning_id, l.id)::text = r.earning_id
        GROUP BY 1, 2, 3, 4
        """
    )
    op.execute((_HERE / "0035_report_hours.sql").read_text())
    for table in TABLES:
        # Written by the triggers as whoever writes: the system role, or a creator refunding
        # their own earning (the app role, for their own events' rows only).
        op.execute(f"GRANT SELECT, INSERT, UPDATE ON {table} TO {APP_ROLE}")
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {SYSTEM_ROLE}")
        op.execute(
            f"CREATE POLICY {table}_user_0 ON {table} FOR ALL TO {APP_ROLE} "
            f"USING (producer_id = {_ME}) WITH CHECK (producer_id = {_ME})"
        )
        op.execute(f"CREATE POLICY {table}_system ON {table} FOR ALL TO {SYSTEM_ROLE} USING (true) WITH CHECK (true)")
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS report_hours_ledger ON earning_events")
    op.execute("DROP TRIGGER IF EXISTS report_hours_registrations_inserted ON event_registrations")
    op.execute("DROP TRIGGER IF EXISTS report_hours_registrations_updated ON event_registrations")
    op.execute("DROP FUNCTION IF EXISTS app.report_hours_ledger_inserted()")
    op.execute("DROP FUNCTION IF EXISTS app.report_hours_registrations_inserted()")
    op.execute("DROP FUNCTION IF EXISTS app.report_hours_registrations_updated()")
    op.execute("DROP INDEX IF EXISTS event_registrations_by_earning")
    for table in TABLES:
        op.execute(f"DROP TABLE IF EXISTS {table}")
