"""Events: discount codes, and the code each registration applied.

A code belongs to a producer (one event, or all of theirs when ``event_id`` is NULL). Its uses
are counted from the registrations that hold seats with it (no counter to drift), under the
code row's lock; ``event_registrations_code_uses`` makes that count index-only.

Revision ID: 0019_event_discounts
Revises: 0018_events
"""

from alembic import op

from townsquare.adapters.postgres.database import APP_ROLE, SYSTEM_ROLE

revision = "0019_event_discounts"
down_revision = "0018_events"
branch_labels = None
depends_on = None

_ME = "(SELECT app.current_user_id())"


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE event_discount_codes (
            producer_id    text NOT NULL,
            code           text COLLATE "C" NOT NULL CHECK (code ~ '^[A-Z0-9][A-Z0-9_-]{0,31}$'),
            event_id       text COLLATE "C" REFERENCES events (event_id),
            kind           text NOT NULL CHECK (kind IN ('percent', 'fixed')),
            value          bigint NOT NULL CHECK (value > 0 AND (kind = 'fixed' OR value <= 100)),
            valid_from     timestamptz NOT NULL,
            valid_until    timestamptz NOT NULL,
            max_uses       integer CHECK (max_uses > 0),
            per_user_limit integer CHECK (per_user_limit > 0),
            min_quantity   integer NOT NULL CHECK (min_quantity > 0),
            type_ids       text[] NOT NULL DEFAULT '{}',
            created_at     timestamptz NOT NULL,
            PRIMARY KEY (producer_id, code),
            CHECK (valid_until > valid_from)
        )
        """
    )
    op.execute('ALTER TABLE event_registrations ADD COLUMN discount_code text COLLATE "C"')
    # A code's uses: its live registrations, counted under the code's lock.
    op.execute(
        "CREATE INDEX event_registrations_code_uses ON event_registrations (producer_id, discount_code) "
        "INCLUDE (attendee_id, status, expires_at) "
        "WHERE discount_code IS NOT NULL AND status IN ('reserved', 'confirmed')"
    )
    op.execute(f"GRANT SELECT ON event_discount_codes TO {APP_ROLE}")
    op.execute(
        f"CREATE POLICY event_discount_codes_user_0 ON event_discount_codes FOR SELECT TO {APP_ROLE} "
        f"USING (producer_id = {_ME})"
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON event_discount_codes TO {SYSTEM_ROLE}")
    op.execute(
        f"CREATE POLICY event_discount_codes_system ON event_discount_codes FOR ALL TO {SYSTEM_ROLE} "
        "USING (true) WITH CHECK (true)"
    )
    op.execute("ALTER TABLE event_discount_codes ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS event_registrations_code_uses")
    op.execute("ALTER TABLE event_registrations DROP COLUMN IF EXISTS discount_code")
    op.execute("DROP TABLE IF EXISTS event_discount_codes")
