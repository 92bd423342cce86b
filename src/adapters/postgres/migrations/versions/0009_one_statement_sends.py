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

from alembic import op

from townsquare.adapters.postgres.database import APP_ROLE, HOST_ROLE, SYSTEM_ROLE
from townsquare.adapters.postgres.migrations.calls import SWITCH_ROLE, grant_calls

revision = "0009_one_statement_sends"
down_revision = "0008_policy_initplans"
branch_labels = None
depends_on = None


_SEND_CONTEXT = f"""
CREATE FUNCTION app.notification_send_context(
    p_role text, p_user text, p_recipient text, p_key text,
    OUT existing_id uuid, OUT document jsonb, OUT version bigint
) LANGUAGE plpgsql AS $$
BEGIN
    {SWITCH_ROLE}
    IF p_key IS NOT NULL THEN
        SELECT n.id INTO existing_id FROM notifications n WHERE n.user_id = p_recipient AND n.idempotency_key = p_key;
    END IF;
    SELECT p.document, p.version INTO document, version FROM notification_preferences p WHERE p.user_id = p_recipient;
    version := coalesce(version, 0);
END
$$
"""

# outcome: 'added', 'duplicate', 'capped' or 'stale' (then document and version are the current ones).
_ADD = f"""
CREATE FUNCTION app.notification_add(
    p_role text, p_user text,
    p_id uuid, p_recipient text, p_channel text, p_category text, p_lane text, p_title text, p_body text,
    p_data jsonb, p_key text, p_created_at timestamptz, p_day date, p_cap integer, p_version bigint,
    p_mail_id uuid, p_mail_to text, p_mail_subject text, p_mail_body text, p_mail_headers jsonb,
    OUT outcome text, OUT notification_id uuid, OUT document jsonb, OUT version bigint
) LANGUAGE plpgsql AS $$
DECLARE
    counted boolean;
BEGIN
    {SWITCH_ROLE}
    IF p_key IS NOT NULL THEN
        SELECT n.id INTO notification_id FROM notifications n
        WHERE n.user_id = p_recipient AND n.idempotency_key = p_key;
        IF FOUND THEN
            outcome := 'duplicate';
            RETURN;
        END IF;
    END IF;
    IF p_version IS NOT NULL THEN
        SELECT p.document, p.version INTO document, version FROM notification_preferences p
        WHERE p.user_id = p_recipient;
        version := coalesce(version, 0);
        IF version <> p_version THEN
            outcome := 'stale';
            RETURN;
        END IF;
        document := NULL;
        version := NULL;
    END IF;
    -- Racing sends to one user and channel serialize on this counter row: exactly cap pass.
    INSERT INTO notification_daily_sends AS d (user_id, channel, day, sent)
    VALUES (p_recipient, p_channel, p_day, 1)
    ON CONFLICT (user_id, channel, day) DO UPDATE SET sent = d.sent + 1 WHERE d.sent < p_cap;
    counted := FOUND;
    IF NOT counted THEN
        outcome := 'capped';
        RETURN;
    END IF;
    INSERT INTO notifications (id, user_id, channel, category, lane, title, body, data, idempotency_key, created_at)
    VALUES (p_id, p_recipient, p_channel, p_category, p_lane, p_title, p_body, p_data, p_key, p_created_at)
    ON CONFLICT (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING;
    IF NOT FOUND THEN
        -- A racing send with the same key committed first: give the count back, return its id.
        UPDATE notification_daily_sends SET sent = sent - 1
        WHERE user_id = p_recipient AND channel = p_channel AND day = p_day;
        SELECT n.id INTO STRICT notification_id FROM notifications n
        WHERE n.user_id = p_recipient AND n.idempotency_key = p_key;
        outcome := 'duplicate';
        RETURN;
    END IF;
    IF p_mail_id IS NOT NULL THEN
        INSERT INTO notification_mail_outbox (id, user_id, recipient, subject, body, headers, status, created_at)
        VALUES (p_mail_id, p_recipient, p_mail_to, p_mail_subject, p_mail_body, p_mail_headers, 'pending',
                p_created_at);
    END IF;
    notification_id := p_id;
    outcome := 'added';
END
$$
"""

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
    op.execute(_SEND_CONTEXT)
    op.execute(_ADD)
    # The host calls these before it has switched role (that is what they do first).
    op.execute(f"GRANT USAGE ON SCHEMA app TO {HOST_ROLE}")
    grant_calls(*_FUNCTIONS)


def downgrade() -> None:
    for function in _FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {function}")
    op.execute(f"REVOKE USAGE ON SCHEMA app FROM {HOST_ROLE}")
    op.execute("ALTER TABLE notification_preferences DROP COLUMN version")
    op.execute("DROP SEQUENCE notification_preferences_version")
