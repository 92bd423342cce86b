"""Row-level security: a query that forgets its user filter still sees and changes only the acting user's rows.

Rows are written as the owner (the superuser login of the tests); every probe then runs the
way the product does, through ``PgDatabase.transaction`` as the app role (with an acting
user) or the system role (without one).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError

from tests.conftest import EPOCH, postgres_settings
from townsquare.adapters.postgres.database import APP_ROLE, HOST_ROLE, SYSTEM_ROLE, PgDatabase
from townsquare.bootstrap import bootstrap
from townsquare.core.clock import ManualClock
from townsquare.core.feed.models import Draft
from townsquare.core.identity import Actor

SENDER = Actor("test-sender", roles=["service"])

pytestmark = pytest.mark.postgres

AT = "'2026-01-15T12:00:00Z'"
# One row per owner; :owner is the owning user. The feed rows refer to carol's item.
ROWS: dict[str, tuple[str, str]] = {
    "notifications": (
        "user_id",
        "INSERT INTO notifications (id, user_id, channel, category, lane, title, body, created_at) "
        f"VALUES (gen_random_uuid(), :owner, 'inapp', 'system', 'system', 'hello', '', {AT})",
    ),
    "notification_daily_sends": (
        "user_id",
        f"INSERT INTO notification_daily_sends (user_id, channel, day, sent) VALUES (:owner, 'inapp', {AT}::date, 1)",
    ),
    "notification_preferences": (
        "user_id",
        "INSERT INTO notification_preferences (user_id, document, timezone, digest_frequency, digest_slot, updated_at) "
        f"VALUES (:owner, '{{}}', 'UTC', 'daily', 8, {AT})",
    ),
    "notification_digest_runs": (
        "user_id",
        "INSERT INTO notification_digest_runs (user_id, period_key, status, created_at) "
        f"VALUES (:owner, 'daily:2026-01-15', 'pending', {AT})",
    ),
    "notification_mail_outbox": (
        "user_id",
        "INSERT INTO notification_mail_outbox (id, user_id, recipient, subject, body, status, created_at) "
        f"VALUES (gen_random_uuid(), :owner, :owner || '@example.com', 'digest', '', 'pending', {AT})",
    ),
    "notification_read_marks": (
        "user_id",
        "INSERT INTO notification_read_marks (user_id, lane, read_up_to, marked_at) "
        f"VALUES (:owner, 'system', 1, {AT})",
    ),
    "feed_items": (
        "creator_id",
        "INSERT INTO feed_items (item_id, creator_id, kind, title, published_at, rank_key) "
        f"VALUES ('item-' || :owner, :owner, 'post', 'hi', {AT}, 1)",
    ),
    "feed_follows": (
        "follower_id",
        f"INSERT INTO feed_follows (follower_id, creator_id, followed_at) VALUES (:owner, 'carol', {AT})",
    ),
    "feed_hidden_items": (
        "viewer_id",
        f"INSERT INTO feed_hidden_items (viewer_id, item_id, hidden_at) VALUES (:owner, 'item-carol', {AT})",
    ),
    "feed_cart_items": (
        "viewer_id",
        f"INSERT INTO feed_cart_items (viewer_id, item_id, added_at) VALUES (:owner, 'item-carol', {AT})",
    ),
    "composer_drafts": (
        "author_id",
        "INSERT INTO composer_drafts (draft_id, author_id, version, created_at, updated_at) "
        f"VALUES ('draft-' || :owner, :owner, 1, {AT}, {AT})",
    ),
    # Private entities: public ones are everyone's to find, like feed items.
    "composer_entities": (
        "owner_id",
        "INSERT INTO composer_entities (kind, entity_id, handle, name, name_lower, words, owner_id, visibility) "
        "VALUES ('product', 'p-' || :owner, 'h', 'n', 'n', '', :owner, 'private')",
    ),
    "composer_media": (
        "owner_id",
        "INSERT INTO composer_media (owner_id, media_key, content_type, width, height, size, created_at) "
        f"VALUES (:owner, repeat('a', 64), 'image/png', 1, 1, 1, {AT})",
    ),
    "events": (
        "producer_id",
        "INSERT INTO events (event_id, producer_id, title, starts_at, ends_at, time_zone, online, venue, "
        "sales_start, sales_end, capacity, currency, status, created_at, updated_at) "
        f"VALUES ('ev-' || :owner, :owner, 'gig', {AT}::timestamptz + interval '2 days', "
        f"{AT}::timestamptz + interval '3 days', 'UTC', false, 'hall', {AT}, {AT}::timestamptz + interval '1 day', "
        f"10, 'EUR', 'draft', {AT}, {AT})",
    ),
    "event_ticket_types": (
        "producer_id",
        "INSERT INTO event_ticket_types (event_id, type_id, producer_id, name, price, quota, created_at) "
        f"VALUES ('ev-' || :owner, 'std', :owner, 'Standard', 100, 10, {AT})",
    ),
    "event_registrations": (
        "attendee_id",
        "INSERT INTO event_registrations (registration_id, event_id, type_id, attendee_id, producer_id, quantity, "
        "currency, unit_price, subtotal, discount, total, status, expires_at, reserve_key, created_at, updated_at) "
        f"VALUES ('reg-' || :owner, 'ev-' || :owner, 'std', :owner, :owner, 1, 'EUR', 100, 100, 0, 100, "
        f"'reserved', {AT}, 'k', {AT}, {AT})",
    ),
    "event_waitlist": (
        "user_id",
        "INSERT INTO event_waitlist (entry_id, event_id, type_id, user_id, producer_id, seq, status, joined_at, "
        f"updated_at) VALUES ('wl-' || :owner, 'ev-' || :owner, 'std', :owner, :owner, 1, 'waiting', {AT}, {AT})",
    ),
    "event_discount_codes": (
        "producer_id",
        "INSERT INTO event_discount_codes (producer_id, code, kind, value, valid_from, valid_until, min_quantity, "
        f"created_at) VALUES (:owner, 'SAVE10', 'percent', 10, {AT}, {AT}::timestamptz + interval '1 day', 1, {AT})",
    ),
    "bulk_actions": (
        "producer_id",
        "INSERT INTO bulk_actions (action_id, producer_id, kind, filter, reason, total, amounts, created_at) "
        f"VALUES ('bulk-' || :owner, :owner, 'refund', '{{}}', 'r', 0, '{{}}', {AT})",
    ),
    "earning_events": (
        "creator_id",
        "INSERT INTO earning_events (id, creator_id, type, kind, amount, currency, idempotency_key, recorded_at) "
        f"VALUES (gen_random_uuid(), :owner, 'earning', 'sale', 500, 'USD', 'key-' || :owner, {AT})",
    ),
    "earning_totals": (
        "creator_id",
        "INSERT INTO earning_totals (creator_id, currency, shard, total, events) VALUES (:owner, 'USD', 3, 500, 1)",
    ),
    # The reports' hourly sums: the registration above already made its count row (a trigger).
    "report_hour_counts": (
        "producer_id",
        "INSERT INTO report_hour_counts (producer_id, event_id, hour, status, currency, registrations) "
        f"VALUES (:owner, 'ev-' || :owner, date_trunc('hour', {AT}::timestamptz, 'UTC'), 'reserved', 'EUR', 1) "
        "ON CONFLICT DO NOTHING",
    ),
    "report_hour_money": (
        "producer_id",
        "INSERT INTO report_hour_money (producer_id, event_id, hour, currency, gross) "
        f"VALUES (:owner, 'ev-' || :owner, {AT}, 'EUR', 100)",
    ),
    "earning_days": (
        "creator_id",
        "INSERT INTO earning_days (creator_id, day, currency, shard, total, events) "
        "VALUES (:owner, '2026-01-15', 'USD', 3, 500, 1)",
    ),
    "assistant_memory_heads": (
        "user_id",
        "INSERT INTO assistant_memory_heads (user_id, version) VALUES (:owner, 1)",
    ),
    "assistant_memories": (
        "user_id",
        "INSERT INTO assistant_memories (id, user_id, text, embedding, dims, created_at, updated_at, version) "
        f"VALUES (gen_random_uuid(), :owner, 'likes tea', '\\x0000803f', 1, {AT}, {AT}, 1)",
    ),
    "assistant_memory_history": (
        "user_id",
        "INSERT INTO assistant_memory_history (memory_id, user_id, event, text, at) "
        f"VALUES (gen_random_uuid(), :owner, 'added', 'likes tea', {AT})",
    ),
    "assistant_conversations": (
        "user_id",
        "INSERT INTO assistant_conversations (id, user_id, title, created_at, updated_at) "
        f"VALUES (md5(:owner)::uuid, :owner, 'chat', {AT}, {AT})",
    ),
    "assistant_messages": (
        "user_id",
        "INSERT INTO assistant_messages (id, conversation_id, user_id, seq, role, content, status, created_at) "
        f"VALUES (gen_random_uuid(), md5(:owner)::uuid, :owner, 1, 'user', 'hi', 'complete', {AT})",
    ),
    "assistant_action_feedback": (
        "user_id",
        "INSERT INTO assistant_action_feedback (user_id, action_key, kind, decision, decided_at) "
        f"VALUES (:owner, 'clear_unread:all', 'clear_unread', 'dismissed', {AT})",
    ),
}
# Each user table's write without a WHERE clause, as a forgetful query would run it.
UNFILTERED_WRITES = {
    "notifications": "UPDATE notifications SET title = 'changed'",
    "notification_daily_sends": "UPDATE notification_daily_sends SET sent = sent + 10",
    "notification_preferences": "UPDATE notification_preferences SET timezone = 'Europe/Paris'",
    "notification_digest_runs": "UPDATE notification_digest_runs SET status = 'skipped'",
    "notification_mail_outbox": "UPDATE notification_mail_outbox SET subject = 'changed'",
    "feed_items": "UPDATE feed_items SET title = 'changed'",
    "feed_follows": "DELETE FROM feed_follows",
    "feed_hidden_items": "DELETE FROM feed_hidden_items",
    "feed_cart_items": "DELETE FROM feed_cart_items",
    "earning_totals": "DELETE FROM earning_totals",
    "earning_days": "DELETE FROM earning_days",
    "report_hour_money": "UPDATE report_hour_money SET gross = gross + 1",
    "assistant_memory_heads": "UPDATE assistant_memory_heads SET version = version + 1",
    "assistant_memories": "DELETE FROM assistant_memories",
    "assistant_memory_history": "UPDATE assistant_memory_history SET text = ''",
    "assistant_conversations": "UPDATE assistant_conversations SET title = 'changed'",
    "assistant_messages": "UPDATE assistant_messages SET content = 'changed'",
    "composer_drafts": "UPDATE composer_drafts SET title = 'changed'",
}
PRIVATE_TABLES = [table for table in ROWS if table != "feed_items"]


@pytest.fixture
def owner(pg_url: str) -> Iterator[Engine]:
    """The tests' login (the superuser that owns the tables), with a row of every user table per owner."""
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(text(ROWS["feed_items"][1]), {"owner": "carol"})
        for _column, insert in ROWS.values():
            for user in ("alice", "bob"):
                conn.execute(text(insert), {"owner": user})
    yield engine
    engine.dispose()


@pytest.fixture
def db(owner: Engine) -> Iterator[PgDatabase]:
    database = PgDatabase(owner)
    yield database


def _owners(db: PgDatabase, table: str, *, actor: str | None) -> list[str]:
    column = ROWS[table][0]
    with db.transaction(actor=actor):
        return sorted(db.connection().execute(text(f"SELECT {column} FROM {table}")).scalars())


def _everything(owner: Engine, table: str, user: str) -> list[Any]:
    column = ROWS[table][0]
    with owner.connect() as conn:
        rows = conn.execute(text(f"SELECT * FROM {table} WHERE {column} = :user"), {"user": user})
        return sorted(tuple(str(value) for value in row) for row in rows)


def _refused(error: DBAPIError) -> bool:
    return getattr(error.orig, "sqlstate", None) == "42501"  # insufficient_privilege (and RLS violations)


# One database per test costs about a second, so each test walks every table.


def test_a_forgotten_filter_reads_only_the_acting_users_rows(db: PgDatabase) -> None:
    # Given alice's and bob's rows in every user table
    for table in PRIVATE_TABLES:
        # When alice's transaction selects the whole table
        seen = _owners(db, table, actor="alice")
        # Then only her rows come back
        assert seen == ["alice"], table


def test_without_an_acting_user_the_app_role_sees_nothing(db: PgDatabase) -> None:
    # Given rows of two users
    with db.transaction(actor="alice"):
        conn = db.connection()
        # When the acting user is cleared inside an app-role transaction
        conn.execute(text("SELECT set_config('app.user_id', '', true)"))
        counts = {table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() for table in PRIVATE_TABLES}
    # Then no row of any user table is visible
    assert counts == dict.fromkeys(PRIVATE_TABLES, 0)


def test_the_system_role_sees_every_row(db: PgDatabase) -> None:
    # Given rows of two users (and carol's item)
    for table in ROWS:
        # When a transaction without an actor reads the table
        seen = _owners(db, table, actor=None)
        # Then it sees everyone's rows
        expected = ["alice", "bob", "carol"] if table == "feed_items" else ["alice", "bob"]
        assert seen == expected, table


def test_every_table_but_alembics_has_forced_row_level_security(owner: Engine) -> None:
    # Given the migrated database
    with owner.connect() as conn:
        tables = conn.execute(
            text(
                "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class "
                "WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' AND relname <> 'alembic_version'"
            )
        ).all()
    # Then each table enforces its policies, even on its owner, and this module probes every one
    assert [name for name, enabled, forced in tables if not (enabled and forced)] == []
    assert {name for name, _enabled, _forced in tables} == {
        *ROWS,
        "jobs",
        "job_workers",
        "job_type_controls",
        "bulk_action_items",  # the system's only: read through the reports service
    }


def test_policies_read_the_acting_user_once_per_statement(owner: Engine) -> None:
    # Given the migrated database's policies for the app role
    with owner.connect() as conn:
        clauses = conn.execute(
            text("SELECT tablename, policyname, qual, with_check FROM pg_policies WHERE :role = ANY (roles)"),
            {"role": APP_ROLE},
        ).all()
    # Then each compares with the acting user through a scalar subquery (an initPlan, evaluated
    # once), never a bare call that Postgres would evaluate for every row (0008_policy_initplans)
    bare = [
        (table, policy, clause)
        for table, policy, *pair in clauses
        for clause in pair
        if clause is not None and "app.current_user_id()" in clause.replace("SELECT app.current_user_id()", "")
    ]
    assert bare == []
    # and every policy but feed_items' public SELECT names the acting user
    anonymous = [policy for _table, policy, using, check in clauses if "current_user_id" not in f"{using} {check}"]
    assert anonymous == ["feed_items_user_0"]


def test_feed_items_are_public_to_read(db: PgDatabase) -> None:
    # Given items of alice, bob and carol
    # When alice reads every item
    seen = _owners(db, "feed_items", actor="alice")
    # Then she sees them all (a feed is other people's items)
    assert seen == ["alice", "bob", "carol"]


def test_a_forgotten_filter_writes_only_the_acting_users_rows(db: PgDatabase, owner: Engine) -> None:
    for table, write in UNFILTERED_WRITES.items():
        # Given alice's and bob's rows
        bobs_before = _everything(owner, table, "bob")
        alices_before = _everything(owner, table, "alice")
        # When alice's transaction updates or deletes without a WHERE clause
        with db.transaction(actor="alice"):
            touched = db.connection().execute(text(write)).rowcount
        # Then only her row changed, and bob's are as they were
        assert touched == 1, table
        assert _everything(owner, table, "alice") != alices_before, table
        assert _everything(owner, table, "bob") == bobs_before, table


def test_inserting_a_row_for_another_user_is_refused(db: PgDatabase, owner: Engine) -> None:
    for table, (_column, insert) in ROWS.items():
        # When alice's transaction inserts a row owned by dave
        with pytest.raises(DBAPIError) as refused, db.transaction(actor="alice"):
            db.connection().execute(text(insert), {"owner": "dave"})
        # Then the database refuses it, and dave owns nothing
        assert _refused(refused.value), (table, refused.value)
        assert _everything(owner, table, "dave") == [], table


def test_a_creator_sees_their_followers_but_cannot_drop_them(db: PgDatabase, owner: Engine) -> None:
    # Given bob follows alice
    with owner.begin() as conn:
        conn.execute(
            text(f"INSERT INTO feed_follows (follower_id, creator_id, followed_at) VALUES ('bob', 'alice', {AT})")
        )
    with db.transaction(actor="alice"):
        conn = db.connection()
        # When alice reads follows naming her and deletes every follow she can see
        followers = conn.execute(text("SELECT follower_id FROM feed_follows WHERE creator_id = 'alice'")).scalars()
        visible = sorted(followers)
        conn.execute(text("DELETE FROM feed_follows"))
    # Then she saw bob's follow, yet it survived: only her own follow of carol was dropped
    assert visible == ["bob"]
    with owner.connect() as conn:
        left = conn.execute(text("SELECT follower_id, creator_id FROM feed_follows ORDER BY 1, 2")).all()
    assert [tuple(row) for row in left] == [("bob", "alice"), ("bob", "carol")]


@pytest.mark.parametrize("statement", ["UPDATE earning_events SET amount = 1", "DELETE FROM earning_events"])
def test_the_earnings_ledger_stays_append_only_for_both_roles(db: PgDatabase, statement: str) -> None:
    for actor in ("alice", None):
        # When a creator or the system tries to rewrite the ledger
        with pytest.raises(DBAPIError), db.transaction(actor=actor):
            db.connection().execute(text(statement))
    # Then every event is still there
    assert _owners(db, "earning_events", actor=None) == ["alice", "bob"]


def test_the_job_queue_is_closed_to_the_app_role(db: PgDatabase) -> None:
    # Given a job
    with db.transaction():
        db.connection().execute(
            text(
                "INSERT INTO jobs (job_type, status, max_attempts, run_at, created_at) "
                f"VALUES ('x', 'pending', 1, {AT}, {AT})"
            )
        )
    # When a user's transaction reads the queue
    with pytest.raises(DBAPIError) as refused, db.transaction(actor="alice"):
        db.connection().execute(text("SELECT * FROM jobs"))
    # Then it is refused outright (jobs are not user data); the system role reads it
    assert _refused(refused.value)
    with db.transaction():
        assert db.connection().execute(text("SELECT count(*) FROM jobs")).scalar() == 1


def test_transactions_run_as_the_app_or_the_system_role(db: PgDatabase) -> None:
    with db.transaction(actor="alice"):
        assert db.connection().execute(text("SELECT current_user, app.current_user_id()")).one() == (APP_ROLE, "alice")
    with db.transaction():
        assert db.connection().execute(text("SELECT current_user, app.current_user_id()")).one() == (SYSTEM_ROLE, None)
    # The role is transaction-local: the pooled connection is back to the login role.
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT current_user")).scalar() == "postgres"


def test_the_host_login_role_owns_nothing_and_holds_no_privilege_of_its_own(owner: Engine) -> None:
    # Given the migrated database
    with owner.connect() as conn:
        owners = set(conn.execute(text("SELECT tableowner FROM pg_tables WHERE schemaname = 'public'")).scalars())
        attributes = conn.execute(
            text("SELECT rolcanlogin, rolinherit, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = :role"),
            {"role": HOST_ROLE},
        ).one()
    # Then none of our roles owns a table, and the host can log in but inherits nothing
    assert owners.isdisjoint({HOST_ROLE, APP_ROLE, SYSTEM_ROLE})
    assert tuple(attributes) == (True, False, False, False)
    host = create_engine(owner.url.set(username=HOST_ROLE))
    try:
        # When the host queries without switching roles
        with pytest.raises(DBAPIError) as refused, host.connect() as conn:
            conn.execute(text("SELECT count(*) FROM notifications"))
        # Then it is refused
        assert _refused(refused.value)
    finally:
        host.dispose()


def test_services_work_end_to_end_when_logged_in_as_the_host_role(pg_url: str) -> None:
    # Given services whose DATABASE_URL logs in as the host role, as in production
    host_url = create_engine(pg_url).url.set(username=HOST_ROLE).render_as_string(hide_password=False)
    clock = ManualClock(EPOCH)
    services = bootstrap(postgres_settings(host_url), clock=clock)
    alice, bob = Actor("alice"), Actor("bob")
    shop = Actor("shop", roles=["service"])
    services.job_handlers.register("rls-probe", lambda _context: None)
    try:
        # When users send, publish, read feeds and earnings, and a worker claims a job
        sent = services.notifications.send(SENDER, "alice", "inapp", "system", title="Welcome")
        services.feed.publish(bob, Draft(item_id="bob-post", kind="post", title="Hi"))
        page = services.feed.home(alice)
        services.earnings.record(shop, creator_id="bob", kind="sale", amount=1200, currency="EUR", idempotency_key="o1")
        summary = services.earnings.summary(bob, "bob")
        job_id = services.jobs.enqueue("rls-probe", {"n": 1})
        claimed = services.jobs.claim(10)
        # Then each works under row-level security
        assert sent.notification_id is not None
        assert services.notifications.counts(Actor("alice")).total == 1
        assert services.notifications.counts(Actor("bob")).total == 0
        assert [item.item_id for item in page.items] == ["bob-post"]
        assert [(each.currency, each.total) for each in summary] == [("EUR", 1200)]
        assert [job.id for job in claimed] == [job_id]
    finally:
        services.close()


def test_migrate_uses_the_owners_url_when_hosts_use_the_host_role(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from townsquare.cli import main

    # Given hosts configured with the host role and migrations with the owner
    host_url = create_engine(pg_url).url.set(username=HOST_ROLE).render_as_string(hide_password=False)
    monkeypatch.setenv("PORTS_MODE", "postgres")
    monkeypatch.setenv("DATABASE_URL", host_url)
    monkeypatch.setenv("MIGRATION_DATABASE_URL", pg_url)
    # When `townsquare migrate` runs, then it succeeds (the host role could not run DDL)
    assert main(["migrate"]) == 0
    monkeypatch.delenv("MIGRATION_DATABASE_URL")
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM alembic_version"))  # migrating again would need the owner
    engine.dispose()
    with pytest.raises(DBAPIError):
        main(["migrate"])


def test_recall_as_the_app_role_with_a_forgotten_filter_sees_only_the_users_memories(pg_url: str) -> None:
    from townsquare.adapters.postgres.assistant import PgUserMemoryStore

    # Given alice and bob with memories, written through the services
    services = bootstrap(postgres_settings(pg_url), clock=ManualClock(EPOCH))
    try:
        for user in ("alice", "bob"):
            for fact in ("likes tea", "has a dog", "lives by the sea"):
                services.assistant.memory.remember(Actor(user), f"{user} {fact}")
        db = services.uow
        assert isinstance(db, PgDatabase)
        store = PgUserMemoryStore(db)
        with db.transaction(actor="alice"):
            # When alice's transaction loads vectors and rows with bob's id (a forgotten or wrong filter)
            bobs_vectors = store.vectors("bob", 256)
            everyone = db.connection().execute(text("SELECT user_id FROM assistant_memories")).scalars().all()
            expired_anyone = store.expired(EPOCH.replace(year=2100), 100)
        # Then row-level security hands her nothing of bob's
        assert bobs_vectors.ids == ()
        assert set(everyone) == {"alice"}
        assert {m.user_id for m in expired_anyone} <= {"alice"}
    finally:
        services.close()
