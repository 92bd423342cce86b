"""Security: the app role's policies read the acting user once per statement, not once per row.

A policy that compares with ``app.current_user_id()`` evaluates the function (a
``current_setting`` lookup) for every row it filters. Written as a scalar subquery,
``(SELECT app.current_user_id())``, it becomes an *initPlan*: evaluated once per statement,
then a plain parameter (the same advice as Supabase's for ``auth.uid()``). The feed's
``following`` page filters the viewer's 500 follows through ``feed_follows``' policy twice:
0.24 -> 0.16 ms per scan, about a tenth of the page's Postgres time (docs/security.md).

Rewrites every ``townsquare_app`` policy in place (``ALTER POLICY``), whatever migration
created it; what the policies allow does not change. New policies are written this way from
the start, and ``tests/integration/test_row_level_security.py`` refuses a bare call.

Revision ID: 0008_policy_initplans
Revises: 0007_notification_read_marks
"""

import re

from alembic import op
from sqlalchemy import text

from townsquare.adapters.postgres.database import APP_ROLE

revision = "0008_policy_initplans"
down_revision = "0007_notification_read_marks"
branch_labels = None
depends_on = None

_BARE = re.compile(r"(?<!SELECT )app\.current_user_id\(\)")
# How Postgres prints the subquery back (pg_policies deparses the expression).
_WRAPPED = re.compile(r"\(\s*SELECT app\.current_user_id\(\) AS current_user_id\)")


def _rewrite(change: "re.Pattern[str]", replacement: str) -> None:
    policies = op.get_bind().execute(
        text(
            "SELECT policyname, schemaname, tablename, qual, with_check FROM pg_policies "
            "WHERE :role = ANY (roles) ORDER BY tablename, policyname"
        ),
        {"role": APP_ROLE},
    )
    for name, schema, table, using, check in policies.all():
        clauses = ""
        if using is not None:
            clauses += f" USING ({change.sub(replacement, using)})"
        if check is not None:
            clauses += f" WITH CHECK ({change.sub(replacement, check)})"
        op.execute(f'ALTER POLICY "{name}" ON "{schema}"."{table}"{clauses}')


def upgrade() -> None:
    _rewrite(_BARE, "(SELECT app.current_user_id())")


def downgrade() -> None:
    _rewrite(_WRAPPED, "app.current_user_id()")
