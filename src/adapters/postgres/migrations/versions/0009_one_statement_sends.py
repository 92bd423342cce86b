"""Notifications: a send is one statement, decided on preferences the core may have cached.

- ``notification_preferences.version``: a number from one sequence, new on every save. A
  user with no row has version 0 (the defaults). Versions never repeat, even after the table
  is emptied, so a cached (document, version) pair is either current or detectably stale.
- ``app.notification_send_context(role, user, recipient, key)``: the key's earlier send and
  the stored preferences with their version, in one call.
- ``app.notification_add(role, user, ..., version, mail ...)``: idempotency, the version check,
  the daily cap, the insert and the optional outbox mail, atomically in one call. With the
  caller's version no longer current it writes nothing and returns the current document.

Both take the role (and acting user) to switch to as their first arguments and switch inside,
so a call outside a transaction runs alone in autocommit: one round trip where BEGIN, the
role switch, the statements and COMMIT took five (docs/notifications.md). ``NULL`` keeps the
role of the transaction the call runs in. They are SECURITY INVOKER: the login role may switch
to these roles anyway, and row-level security applies to every statement inside.

Revision ID: 0009_one_statement_sends
Revises: 0008_policy_initplans
"""

from pathlib import Path

from alembic import op

from townsquare.adapters.postgres.database import APP_ROLE, HOST_ROLE, SYSTEM_ROLE
from townsquare.adapters.postgres.migrations.calls import grant_calls

revision = "0009_one_statement_sends"
down_revision = "0008_policy_initplans"
branch_labels = None
depends_on = None


_HERE = Path(__file__).parent
_BODIES = ("0009_notification_send_context.sql", "0009_notification_add.sql")
"""The two functions, each in its file next to this one."""

_FUNCTIONS = (
    "app.notification_send_context(text, text, text, text)",
    "app.notification_add(text, text, uuid, text, text, text, text, text, text, jsonb, text, timestamptz, date, "
    "integer, bigint, uuid, text, text, text, jsonb)",
)


def upgrade() -> None:
    op.execute("CREATE SEQUENCE notification_preferences_version")
    op.execute("ALTER TABLE notification_preferences ADD COLUMN version bigint")
    op.execute("UPDATE notification_preferences SET version = nextval('notification_preferences_version')")
    op.execute(
        "ALTER TABLE notification_preferences ALTER COLUMN version SET NOT NULL, "
        "ALTER COLUMN version SET DEFAULT nextval('notification_preferences_version')"
    )
    op.execute(f"GRANT USAGE ON SEQUENCE notification_preferences_version TO {APP_ROLE}, {SYSTEM_ROLE}")
    for body in _BODIES:
        op.execute((_HERE / body).read_text())
    # The host calls these before it has switched role (that is what they do first).
    op.execute(f"GRANT USAGE ON SCHEMA app TO {HOST_ROLE}")
    grant_calls(*_FUNCTIONS)


def downgrade() -> None:
    for function in _FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {function}")
    op.execute(f"REVOKE USAGE ON SCHEMA app FROM {HOST_ROLE}")
    op.execute("ALTER TABLE notification_preferences DROP COLUMN version")
    op.execute("DROP SEQUENCE notification_preferences_version")
