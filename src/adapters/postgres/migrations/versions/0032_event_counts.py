"""Events: checkouts in a few statements (issue 17's speed).

- Counters kept by the store in the statement that changes a registration's status
  (``0032_events_counts.sql``): ``event_ticket_types.held`` and
  ``event_discount_codes.uses_held`` count reserved and confirmed registrations, so a seat or
  use count reads a row instead of every registration of the event or code. Holds lapsed but
  not yet marked expired are taken off through two small partial indexes over reserved rows
  (``event_registrations_reserved``, ``event_registrations_code_reserved``).
- ``event_registrations_code_users`` (a user's uses of a code, for the per-user limit)
  replaces ``event_registrations_code_uses``, which served the count over every use.
- ``app.events_checkout`` (what a reservation decides on, one call), ``app.events_hold`` (the
  hold, written at once under the event's lock if it still fits) and
  ``app.events_lock_for_confirm`` (a confirmation's locks): ``PgDatabase.call`` functions,
  bodies in the ``.sql`` files next to this one.

Revision ID: 0032_event_counts
Revises: 0031_job_trace_parent
"""

from pathlib import Path

from alembic import op

from townsquare.adapters.postgres.migrations.calls import grant_calls

revision = "0032_event_counts"
down_revision = "0031_job_trace_parent"
branch_labels = None
depends_on = None

_HERE = Path(__file__).parent
_CALLS = (
    "app.events_checkout(text, text, text, text, text)",
    "app.events_hold(text, text, text, text, text, text, text, integer, text, bigint, bigint, bigint, bigint, "
    "timestamptz, text, text, timestamptz, text, timestamptz, timestamptz, timestamptz, integer, integer, integer, "
    "integer)",
    "app.events_lock_for_confirm(text, text, text, text, text)",
)


def upgrade() -> None:
    op.execute("ALTER TABLE event_ticket_types ADD COLUMN held integer NOT NULL DEFAULT 0 CHECK (held >= 0)")
    op.execute(
        "ALTER TABLE event_discount_codes ADD COLUMN uses_held integer NOT NULL DEFAULT 0 CHECK (uses_held >= 0)"
    )
    op.execute(
        """
        UPDATE event_ticket_types t SET held = coalesce((
            SELECT sum(r.quantity) FROM event_registrations r
            WHERE r.event_id = t.event_id AND r.type_id = t.type_id AND r.status IN ('reserved', 'confirmed')), 0)
        """
    )
    op.execute(
        """
        UPDATE event_discount_codes c SET uses_held = (
            SELECT count(*) FROM event_registrations r
            WHERE r.producer_id = c.producer_id AND r.discount_code = c.code AND r.status IN ('reserved', 'confirmed'))
        """
    )
    op.execute((_HERE / "0032_events_counts.sql").read_text())
    # Holds still marked reserved, by event, type and expiry: the lapsed ones a count takes off.
    op.execute(
        "CREATE INDEX event_registrations_reserved ON event_registrations (event_id, type_id, expires_at) "
        "INCLUDE (quantity) WHERE status = 'reserved'"
    )
    op.execute(
        "CREATE INDEX event_registrations_code_reserved ON event_registrations "
        "(producer_id, discount_code, expires_at) WHERE status = 'reserved' AND discount_code IS NOT NULL"
    )
    op.execute("DROP INDEX event_registrations_code_uses")
    op.execute(
        "CREATE INDEX event_registrations_code_users ON event_registrations (producer_id, discount_code, attendee_id) "
        "INCLUDE (status, expires_at) WHERE discount_code IS NOT NULL AND status IN ('reserved', 'confirmed')"
    )
    for name in ("0032_events_checkout.sql", "0032_events_hold.sql", "0032_events_lock_for_confirm.sql"):
        op.execute((_HERE / name).read_text())
    grant_calls(*_CALLS)


def downgrade() -> None:
    for signature in _CALLS:
        op.execute(f"DROP FUNCTION IF EXISTS {signature}")
    op.execute("DROP TRIGGER IF EXISTS event_registrations_count_inserted ON event_registrations")
    op.execute("DROP TRIGGER IF EXISTS event_registrations_count_updated ON event_registrations")
    op.execute("DROP FUNCTION IF EXISTS app.events_count_inserted()")
    op.execute("DROP FUNCTION IF EXISTS app.events_count_updated()")
    op.execute("DROP INDEX IF EXISTS event_registrations_code_users")
    op.execute("DROP INDEX IF EXISTS event_registrations_code_reserved")
    op.execute("DROP INDEX IF EXISTS event_registrations_reserved")
    op.execute(
        "CREATE INDEX event_registrations_code_uses ON event_registrations (producer_id, discount_code) "
        "INCLUDE (attendee_id, status, expires_at) "
        "WHERE discount_code IS NOT NULL AND status IN ('reserved', 'confirmed')"
    )
    op.execute("ALTER TABLE event_discount_codes DROP COLUMN IF EXISTS uses_held")
    op.execute("ALTER TABLE event_ticket_types DROP COLUMN IF EXISTS held")
