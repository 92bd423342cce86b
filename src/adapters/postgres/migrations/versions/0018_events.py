"""Events: events, their ticket types and registrations; forced RLS on each.

Seats held are counted from the registrations themselves (confirmed, or reserved with
``expires_at`` after the caller's now), so an expired hold stops counting at its expiry
instant with no job. The partial index ``event_registrations_holding`` makes that count an
index-only scan of the event's live registrations. Writes run as the system role (a
confirmation writes the producer's ledger); users read their own rows: a producer their
events and every registration for them, anyone a published event and its ticket types, an
attendee their own registrations.

Revision ID: 0018_events
Revises: 0017_cart_demand
"""

from alembic import op

from townsquare.adapters.postgres.database import APP_ROLE, SYSTEM_ROLE

revision = "0018_events"
down_revision = "0017_cart_demand"
branch_labels = None
depends_on = None

_ME = "(SELECT app.current_user_id())"


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE events (
            event_id     text COLLATE "C" PRIMARY KEY,
            producer_id  text NOT NULL,
            title        text NOT NULL,
            description  text NOT NULL DEFAULT '',
            starts_at    timestamptz NOT NULL,
            ends_at      timestamptz NOT NULL,
            time_zone    text NOT NULL,
            online       boolean NOT NULL,
            venue        text,
            sales_start  timestamptz NOT NULL,
            sales_end    timestamptz NOT NULL,
            capacity     integer NOT NULL CHECK (capacity > 0),
            currency     text NOT NULL,
            status       text NOT NULL CHECK (status IN ('draft', 'published', 'cancelled')),
            publications integer NOT NULL DEFAULT 0,
            created_at   timestamptz NOT NULL,
            updated_at   timestamptz NOT NULL,
            CHECK (ends_at > starts_at),
            CHECK (sales_end > sales_start AND sales_end <= starts_at),
            CHECK (online = (venue IS NULL))
        )
        """
    )
    # The producer's list, newest first, a keyset page at a time.
    op.execute("CREATE INDEX events_by_producer ON events (producer_id, created_at DESC, event_id DESC)")
    op.execute(
        """
        CREATE TABLE event_ticket_types (
            event_id    text COLLATE "C" NOT NULL REFERENCES events (event_id),
            type_id     text COLLATE "C" NOT NULL,
            producer_id text NOT NULL,
            name        text NOT NULL,
            price       bigint NOT NULL CHECK (price >= 0),
            quota       integer NOT NULL CHECK (quota > 0),
            created_at  timestamptz NOT NULL,
            PRIMARY KEY (event_id, type_id)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE event_registrations (
            registration_id text COLLATE "C" PRIMARY KEY,
            event_id        text COLLATE "C" NOT NULL,
            type_id         text COLLATE "C" NOT NULL,
            attendee_id     text NOT NULL,
            producer_id     text NOT NULL,
            quantity        integer NOT NULL CHECK (quantity > 0),
            currency        text NOT NULL,
            unit_price      bigint NOT NULL CHECK (unit_price >= 0),
            subtotal        bigint NOT NULL CHECK (subtotal >= 0),
            discount        bigint NOT NULL CHECK (discount >= 0),
            total           bigint NOT NULL CHECK (total >= 0 AND total = subtotal - discount),
            status          text NOT NULL
                CHECK (status IN ('reserved', 'confirmed', 'cancelled', 'refunded', 'expired')),
            expires_at      timestamptz,
            refunded        bigint NOT NULL DEFAULT 0 CHECK (refunded >= 0 AND refunded <= total),
            reserve_key     text NOT NULL,
            confirm_key     text,
            earning_id      text,
            created_at      timestamptz NOT NULL,
            updated_at      timestamptz NOT NULL,
            FOREIGN KEY (event_id, type_id) REFERENCES event_ticket_types (event_id, type_id),
            CHECK (status <> 'reserved' OR expires_at IS NOT NULL)
        )
        """
    )
    # The seat count under the event's lock: only live registrations, index-only.
    op.execute(
        "CREATE INDEX event_registrations_holding ON event_registrations (event_id, type_id) "
        "INCLUDE (status, quantity, expires_at) WHERE status IN ('reserved', 'confirmed')"
    )
    # The attendee's list, newest first.
    op.execute(
        "CREATE INDEX event_registrations_by_attendee ON event_registrations "
        "(attendee_id, created_at DESC, registration_id DESC)"
    )
    # A confirmation's idempotency key names one registration of the attendee.
    op.execute(
        "CREATE UNIQUE INDEX event_registrations_confirm_key ON event_registrations (attendee_id, confirm_key) "
        "WHERE confirm_key IS NOT NULL"
    )
    # The bookkeeping job finds lapsed holds by expiry.
    op.execute("CREATE INDEX event_registrations_lapsing ON event_registrations (expires_at) WHERE status = 'reserved'")
    for table in ("events", "event_ticket_types", "event_registrations"):
        op.execute(f"GRANT SELECT ON {table} TO {APP_ROLE}")
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {SYSTEM_ROLE}")
        op.execute(f"CREATE POLICY {table}_system ON {table} FOR ALL TO {SYSTEM_ROLE} USING (true) WITH CHECK (true)")
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY events_user_0 ON events FOR SELECT TO {APP_ROLE} "
        f"USING (producer_id = {_ME} OR status <> 'draft')"
    )
    op.execute(
        f"CREATE POLICY event_ticket_types_user_0 ON event_ticket_types FOR SELECT TO {APP_ROLE} "
        f"USING (producer_id = {_ME} OR EXISTS (SELECT 1 FROM events e "
        "WHERE e.event_id = event_ticket_types.event_id AND e.status <> 'draft'))"
    )
    op.execute(
        f"CREATE POLICY event_registrations_user_0 ON event_registrations FOR SELECT TO {APP_ROLE} "
        f"USING (attendee_id = {_ME} OR producer_id = {_ME})"
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS event_registrations")
    op.execute("DROP TABLE IF EXISTS event_ticket_types")
    op.execute("DROP TABLE IF EXISTS events")
