"""Security: the database roles, least-privilege grants and row-level security on every user table.

Merges the port branches. The host logs in as ``townsquare_host``, a NOINHERIT role that
owns nothing and can do nothing until a transaction switches to ``townsquare_app`` (a user's
transaction: policies show and accept only that user's rows) or ``townsquare_system``
(worker, admin and system transactions: every row, still without DDL or ownership).
docs/security.md has the policy of every table and why.

Roles are cluster-wide and outlive this migration (a downgrade keeps them, other databases
of the cluster may use them); a DBA may create them beforehand, then this only grants.

Revision ID: 0006_security
Revises: 0002_jobs, 0003_notifications, 0004_feed, 0005_earnings
"""

from alembic import op

from townsquare.adapters.postgres.database import APP_ROLE, HOST_ROLE, SYSTEM_ROLE

revision = "0006_security"
down_revision = ("0002_jobs", "0003_notifications", "0004_feed", "0005_earnings")
branch_labels = None
depends_on = None

_ME = "app.current_user_id()"

# Row-level security of every user table for the app role: table -> (privileges, policies).
# A policy is (command, USING, WITH CHECK); None leaves that clause out.
_USER_TABLES: dict[str, tuple[str, list[tuple[str, str | None, str | None]]]] = {
    "notifications": ("SELECT, INSERT, UPDATE", [("ALL", f"user_id = {_ME}", f"user_id = {_ME}")]),
    "notification_daily_sends": ("SELECT, INSERT, UPDATE", [("ALL", f"user_id = {_ME}", f"user_id = {_ME}")]),
    "notification_preferences": ("SELECT, INSERT, UPDATE", [("ALL", f"user_id = {_ME}", f"user_id = {_ME}")]),
    "notification_digest_runs": ("SELECT, INSERT, UPDATE", [("ALL", f"user_id = {_ME}", f"user_id = {_ME}")]),
    "notification_mail_outbox": ("SELECT, INSERT, UPDATE", [("ALL", f"user_id = {_ME}", f"user_id = {_ME}")]),
    # Live items are everyone's feed; removed ones stay readable so that publishing under a
    # taken id is a clear 409 rather than a unique violation. Only the creator writes theirs.
    "feed_items": (
        "SELECT, INSERT, UPDATE",
        [
            ("SELECT", "true", None),
            ("INSERT", None, f"creator_id = {_ME}"),
            ("UPDATE", f"creator_id = {_ME}", f"creator_id = {_ME}"),
        ],
    ),
    # A user sees whom they follow and who follows them (a creator's follower count ranks
    # their new items); only the follower adds or drops a follow.
    "feed_follows": (
        "SELECT, INSERT, DELETE",
        [
            ("SELECT", f"follower_id = {_ME} OR creator_id = {_ME}", None),
            ("INSERT", None, f"follower_id = {_ME}"),
            ("DELETE", f"follower_id = {_ME}", None),
        ],
    ),
    "feed_hidden_items": ("SELECT, INSERT, DELETE", [("ALL", f"viewer_id = {_ME}", f"viewer_id = {_ME}")]),
    "feed_cart_items": ("SELECT, INSERT, DELETE", [("ALL", f"viewer_id = {_ME}", f"viewer_id = {_ME}")]),
    # Append-only: UPDATE on one column only because SELECT ... FOR UPDATE (the earning's row
    # lock) needs it; the append-only trigger still refuses every actual UPDATE.
    "earning_events": (
        "SELECT, INSERT, UPDATE (id)",
        [("ALL", f"creator_id = {_ME}", f"creator_id = {_ME}")],
    ),
    "earning_totals": ("SELECT, INSERT, UPDATE, DELETE", [("ALL", f"creator_id = {_ME}", f"creator_id = {_ME}")]),
}
# Not user data: the app role has no privilege on them at all.
_SYSTEM_TABLES = ("jobs",)
# The system role's privileges where they are narrower than full DML.
_SYSTEM_PRIVILEGES = {"earning_events": "SELECT, INSERT, UPDATE (id)"}
_APP_SEQUENCES = ("feed_items_sequence",)


def _ensure_role(name: str, attributes: str) -> None:
    # Roles are cluster-wide: migrations of several databases (tests clone many at once) may
    # race to create the same role; the loser's duplicate is the very role it wanted.
    op.execute(
        f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{name}') THEN
                CREATE ROLE {name} {attributes};
            END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            RAISE NOTICE 'role {name} was created concurrently';
        END
        $$
        """
    )


def _ensure_member(role: str, member: str) -> None:
    op.execute(
        f"""
        DO $$
        BEGIN
            IF NOT pg_has_role('{member}', '{role}', 'MEMBER') THEN
                GRANT {role} TO {member};
            END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            RAISE NOTICE 'role {role} was granted to {member} concurrently';
        END
        $$
        """
    )


def upgrade() -> None:
    _ensure_role(APP_ROLE, "NOLOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS")
    # Not BYPASSRLS (only a superuser may grant that): explicit permissive policies below.
    _ensure_role(SYSTEM_ROLE, "NOLOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS")
    # NOINHERIT: logged in, the host holds no privilege of its own until a transaction
    # switches to one of the two roles.
    _ensure_role(HOST_ROLE, "LOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS")
    _ensure_member(APP_ROLE, HOST_ROLE)
    _ensure_member(SYSTEM_ROLE, HOST_ROLE)

    for role in (APP_ROLE, SYSTEM_ROLE):
        op.execute(f"GRANT USAGE ON SCHEMA public, app TO {role}")
    for table, (privileges, policies) in _USER_TABLES.items():
        op.execute(f"GRANT {privileges} ON {table} TO {APP_ROLE}")
        for number, (command, using, check) in enumerate(policies):
            clauses = (f" USING ({using})" if using else "") + (f" WITH CHECK ({check})" if check else "")
            op.execute(f"CREATE POLICY {table}_user_{number} ON {table} FOR {command} TO {APP_ROLE}{clauses}")
    for table in (*_USER_TABLES, *_SYSTEM_TABLES):
        privileges = _SYSTEM_PRIVILEGES.get(table, "SELECT, INSERT, UPDATE, DELETE")
        op.execute(f"GRANT {privileges} ON {table} TO {SYSTEM_ROLE}")
        op.execute(f"CREATE POLICY {table}_system ON {table} FOR ALL TO {SYSTEM_ROLE} USING (true) WITH CHECK (true)")
        # FORCE: even the owner obeys the policies, unless it is a superuser.
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY")
    for sequence in _APP_SEQUENCES:
        op.execute(f"GRANT USAGE, SELECT ON SEQUENCE {sequence} TO {APP_ROLE}")
    op.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {SYSTEM_ROLE}")
    # Tables later migrations create are the system's to use; the app role gets nothing until
    # a migration grants it and writes the table's policies (fail closed).
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {SYSTEM_ROLE}"
    )
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {SYSTEM_ROLE}")


def downgrade() -> None:
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE USAGE, SELECT ON SEQUENCES FROM {SYSTEM_ROLE}")
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM {SYSTEM_ROLE}"
    )
    for table, (_privileges, policies) in _USER_TABLES.items():
        for number in range(len(policies)):
            op.execute(f"DROP POLICY IF EXISTS {table}_user_{number} ON {table}")
    for table in (*_USER_TABLES, *_SYSTEM_TABLES):
        op.execute(f"DROP POLICY IF EXISTS {table}_system ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY")
    for role in (APP_ROLE, SYSTEM_ROLE):
        op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}")
        op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {role}")
        op.execute(f"REVOKE USAGE ON SCHEMA public, app FROM {role}")
