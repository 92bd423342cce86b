"""The waitlist's ``closed`` status: a waiting entry whose event can no longer sell.

A promotion run that finds the event cancelled, its sales ended or started closes the line's
waiting entries (``WaitlistService.promote``); like ``left`` and ``rejected`` such an entry
never held an offer, so it has no registration.

Revision ID: 0026_waitlist_closed
Revises: 0025_composer_search_walk
"""

from alembic import op

revision = "0026_waitlist_closed"
down_revision = "0025_composer_search_walk"
branch_labels = None
depends_on = None

_STATUSES = "'waiting', 'offered', 'accepted', 'declined', 'expired', 'rejected', 'left'"
_NO_OFFER = "'waiting', 'rejected', 'left'"


def _constraints(statuses: str, no_offer: str) -> None:
    op.execute(
        "ALTER TABLE event_waitlist DROP CONSTRAINT event_waitlist_status_check, "
        "DROP CONSTRAINT event_waitlist_check, "
        f"ADD CONSTRAINT event_waitlist_status_check CHECK (status IN ({statuses})), "
        f"ADD CONSTRAINT event_waitlist_check CHECK ((status IN ({no_offer})) = (registration_id IS NULL))"
    )


def upgrade() -> None:
    _constraints(f"{_STATUSES}, 'closed'", f"{_NO_OFFER}, 'closed'")


def downgrade() -> None:
    op.execute("UPDATE event_waitlist SET status = 'left' WHERE status = 'closed'")
    _constraints(_STATUSES, _NO_OFFER)
