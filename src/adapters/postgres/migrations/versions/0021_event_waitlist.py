"""Events: the waitlist (one row per user in line for a ticket type), and each event's waitlist mode.

- ``events.waitlist_mode`` (``automatic``: freed seats are offered to the next in line;
  ``manual``: the producer approves entries) and ``events.offer_hours`` (how long an offer holds
  its seat).
- ``event_waitlist``: entries in line order ``(joined_at, seq)``, ``seq`` being the event's join
  counter (taken under the event's lock). An offer is a reservation in ``event_registrations``
  (``registration_id``), so it counts against quota and capacity like any hold. One active
  (waiting or offered) entry per user and type: a partial unique index.
- ``event_waitlist_line``: the waiting entries of an event in line order, with their type: the
  promotion's next candidates, the claims a reservation counts, a place in line (index-only).
- Forced RLS: the system role writes; a user reads their own entries, a producer those of
  their events.

Revision ID: 0021_event_waitlist
Revises: 0020_job_controls
"""

from alembic import op

from townsquare.adapters.postgres.database import APP_ROLE, SYSTEM_ROLE

revision = "0021_event_waitlist"
down_revision = "0020_job_controls"
branch_labels = None
depends_on = None

_ME = "(SELECT app.current_user_id())"


def upgrade() -> None:
    op.execute(
        "ALTER TABLE events "
        "ADD COLUMN waitlist_mode text NOT NULL DEFAULT 'automatic' CHECK (waitlist_mode IN ('automatic', 'manual')), "
        "ADD COLUMN offer_hours integer NOT NULL DEFAULT 24 CHECK (offer_hours BETWEEN 1 AND 168)"
    )
    op.execute(
        """
        CREATE TABLE event_waitlist (
            entry_id         text COLLATE "C" PRIMARY KEY,
            event_id         text COLLATE "C" NOT NULL,
            type_id          text COLLATE "C" NOT NULL,
            user_id          text NOT NULL,
            producer_id      text NOT NULL,
            seq              bigint NOT NULL CHECK (seq > 0),
            status           text NOT NULL
                CHECK (status IN ('waiting', 'offered', 'accepted', 'declined', 'expired', 'rejected', 'left')),
            joined_at        timestamptz NOT NULL,
            updated_at       timestamptz NOT NULL,
            registration_id  text COLLATE "C" REFERENCES event_registrations (registration_id),
            offered_at       timestamptz,
            offer_expires_at timestamptz,
            FOREIGN KEY (event_id, type_id) REFERENCES event_ticket_types (event_id, type_id),
            UNIQUE (event_id, seq),
            CHECK ((status IN ('waiting', 'rejected', 'left')) = (registration_id IS NULL)),
            CHECK ((registration_id IS NULL) = (offer_expires_at IS NULL))
        )
        """
    )
    op.execute(
        "CREATE UNIQUE INDEX event_waitlist_one_active ON event_waitlist (event_id, type_id, user_id) "
        "WHERE status IN ('waiting', 'offered')"
    )
    op.execute(
        "CREATE INDEX event_waitlist_line ON event_waitlist (event_id, joined_at, seq) INCLUDE (type_id) "
        "WHERE status = 'waiting'"
    )
    # The producer's view of the whole line (every status), and the user's own entries.
    op.execute("CREATE INDEX event_waitlist_by_event ON event_waitlist (event_id, joined_at, seq)")
    op.execute("CREATE INDEX event_waitlist_by_user ON event_waitlist (user_id, joined_at DESC, entry_id DESC)")
    # The expiry job finds lapsed offers by expiry; a confirmation finds its entry by offer.
    op.execute("CREATE INDEX event_waitlist_offers ON event_waitlist (offer_expires_at) WHERE status = 'offered'")
    op.execute(
        "CREATE UNIQUE INDEX event_waitlist_by_offer ON event_waitlist (registration_id) "
        "WHERE registration_id IS NOT NULL"
    )
    op.execute(f"GRANT SELECT ON event_waitlist TO {APP_ROLE}")
    op.execute(
        f"CREATE POLICY event_waitlist_user_0 ON event_waitlist FOR SELECT TO {APP_ROLE} "
        f"USING (user_id = {_ME} OR producer_id = {_ME})"
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON event_waitlist TO {SYSTEM_ROLE}")
    op.execute(
        f"CREATE POLICY event_waitlist_system ON event_waitlist FOR ALL TO {SYSTEM_ROLE} USING (true) WITH CHECK (true)"
    )
    op.execute("ALTER TABLE event_waitlist ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS event_waitlist")
    op.execute("ALTER TABLE events DROP COLUMN IF EXISTS offer_hours, DROP COLUMN IF EXISTS waitlist_mode")
