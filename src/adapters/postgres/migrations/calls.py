"""What the migrations that define ``PgDatabase.call`` functions share.

Such a function takes the role and the acting user to switch to as its first two arguments
(``p_role``, ``p_user``; ``NULL`` keeps the role of the transaction it runs in) and begins
with these statements (its body lives in a ``.sql`` file next to its migration)::

    IF p_role IS NOT NULL THEN
        PERFORM set_config('role', p_role, true), set_config('app.user_id', coalesce(p_user, ''), true);
    END IF;

The login role may call it before it has switched.
"""

from __future__ import annotations

from alembic import op

from townsquare.adapters.postgres.database import APP_ROLE, HOST_ROLE, SYSTEM_ROLE


def grant_calls(*signatures: str) -> None:
    """Let only the login role and the two roles it switches to execute these functions."""
    for signature in signatures:
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {HOST_ROLE}, {APP_ROLE}, {SYSTEM_ROLE}")
