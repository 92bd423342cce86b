"""The Postgres frame: migrations apply and revert; the unit of work commits, joins and rolls back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from townsquare.adapters.memory.database import MemoryDatabase
from townsquare.adapters.postgres.database import PgDatabase
from townsquare.adapters.postgres.migrations import downgrade, upgrade


@pytest.mark.postgres
def test_migrations_go_down_and_up_again(pg_url: str) -> None:
    downgrade(pg_url, "base")
    engine = create_engine(pg_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT to_regnamespace('app')")).scalar() is None
    upgrade(pg_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT app.current_user_id()")).scalar() is None
    engine.dispose()


@pytest.mark.postgres
def test_transaction_sets_the_acting_user_and_joins(pg_url: str) -> None:
    db = PgDatabase(create_engine(pg_url))
    with db.transaction(actor="alice"):
        outer = db.connection()
        with db.transaction(actor="ignored-when-joining"):
            assert db.connection() is outer
            assert outer.execute(text("SELECT app.current_user_id()")).scalar() == "alice"
    with db.transaction():
        # set_config(..., true) is transaction-local: the next transaction has no actor.
        assert db.connection().execute(text("SELECT app.current_user_id()")).scalar() is None
    db.dispose()


@pytest.mark.postgres
def test_an_exception_rolls_back_every_write(pg_url: str) -> None:
    db = PgDatabase(create_engine(pg_url))
    with db.engine.begin() as owner:
        # DDL is the migration owner's; transactions run as the system role, which may write.
        owner.execute(text("CREATE TABLE scratch (n int)"))
    with pytest.raises(RuntimeError), db.transaction():
        db.connection().execute(text("INSERT INTO scratch VALUES (1)"))
        with db.transaction():
            db.connection().execute(text("INSERT INTO scratch VALUES (2)"))
        raise RuntimeError("boom")
    with db.transaction():
        assert db.connection().execute(text("SELECT count(*) FROM scratch")).scalar() == 0
    db.dispose()


@pytest.mark.postgres
def test_callers_can_bind_their_own_transaction(pg_url: str) -> None:
    engine = create_engine(pg_url)
    db = PgDatabase(engine)
    with engine.begin() as theirs:
        theirs.execute(text("CREATE TABLE scratch (n int)"))
        with db.bind(theirs), db.transaction():
            assert db.connection() is theirs
    db.dispose()


@pytest.mark.postgres
def test_after_commit_callbacks_run_once_the_outermost_transaction_commits(pg_url: str) -> None:
    db = PgDatabase(create_engine(pg_url))
    calls: list[str] = []
    with db.transaction():
        assert db.on_commit(lambda: calls.append("outer"))
        with db.transaction():
            assert db.on_commit(lambda: calls.append("joined"))
        assert calls == []  # not before the commit, not at the end of a joined block
    assert calls == ["outer", "joined"]
    with pytest.raises(RuntimeError), db.transaction():
        db.on_commit(lambda: calls.append("rolled back"))
        raise RuntimeError("boom")
    assert calls == ["outer", "joined"]
    with db.engine.begin() as theirs, db.bind(theirs):
        # A caller's transaction commits when its owner says: nothing to hook into.
        assert not db.on_commit(lambda: calls.append("theirs"))
    assert calls == ["outer", "joined"]
    db.dispose()


@pytest.mark.postgres
def test_a_failing_after_commit_callback_leaves_the_commit_and_the_others(pg_url: str) -> None:
    db = PgDatabase(create_engine(pg_url))
    calls: list[str] = []

    def fail() -> None:
        raise ValueError("callback bug")

    with db.transaction():
        db.on_commit(fail)
        db.on_commit(lambda: calls.append("after"))
    assert calls == ["after"]
    db.dispose()


@pytest.mark.postgres
def test_store_use_outside_a_transaction_is_a_programming_error(pg_url: str) -> None:
    db = PgDatabase(create_engine(pg_url))
    with pytest.raises(RuntimeError, match="outside a unit of work"):
        db.connection()
    db.dispose()


def test_memory_transactions_undo_on_error() -> None:
    db = MemoryDatabase()
    items: list[int] = []

    def add(n: int) -> None:
        items.append(n)
        db.record_undo(items.pop)

    with db.transaction():
        add(1)
    with pytest.raises(RuntimeError), db.transaction():
        add(2)
        with db.transaction():
            add(3)
        raise RuntimeError("boom")
    assert items == [1]


_SCRATCH_CALL = """
CREATE FUNCTION scratch_add(p_role text, p_user text, p_n int, OUT role_name text, OUT acting text)
LANGUAGE plpgsql AS $$
BEGIN
    IF p_role IS NOT NULL THEN
        PERFORM set_config('role', p_role, true), set_config('app.user_id', coalesce(p_user, ''), true);
    END IF;
    INSERT INTO scratch VALUES (p_n);
    role_name := current_user;
    acting := app.current_user_id();
END
$$
"""


@pytest.fixture
def scratch_db(pg_url: str) -> Iterator[PgDatabase]:
    db = PgDatabase(create_engine(pg_url))
    with db.engine.begin() as owner:
        owner.execute(text("CREATE TABLE scratch (n int)"))
        owner.execute(text("GRANT SELECT, INSERT ON scratch TO townsquare_app, townsquare_system"))
        owner.execute(text(_SCRATCH_CALL))
    yield db
    db.dispose()


_ADD_SCRATCH = "SELECT * FROM scratch_add(%(role)s, %(actor)s, %(n)s)"


def _stored(db: PgDatabase) -> int:
    with db.engine.connect() as other:
        return int(other.execute(text("SELECT count(*) FROM scratch")).scalar_one())


@pytest.mark.postgres
def test_single_statements_commit_each_call_alone_as_the_actor(scratch_db: PgDatabase) -> None:
    db = scratch_db
    # Given single statements, each call switches role itself and has committed when it returns
    with pytest.raises(ValueError), db.single_statements(actor="alice"):
        assert db.call(_ADD_SCRATCH, {"n": 1}) == [("townsquare_app", "alice")]
        assert _stored(db) == 1
        assert db.call(_ADD_SCRATCH, {"n": 2}) == [("townsquare_app", "alice")]
        raise ValueError("boom")  # nothing to roll back: both committed
    assert _stored(db) == 2
    with db.single_statements():
        assert db.call(_ADD_SCRATCH, {"n": 3}) == [("townsquare_system", None)]
        # and there is no transaction to hand out
        with pytest.raises(RuntimeError, match="needs a transaction"):
            db.connection()


@pytest.mark.postgres
def test_calls_in_a_transaction_keep_its_role_and_roll_back_with_it(scratch_db: PgDatabase) -> None:
    db = scratch_db
    with pytest.raises(ValueError), db.transaction(actor="bob"):
        assert db.call(_ADD_SCRATCH, {"n": 1}) == [("townsquare_app", "bob")]
        # single statements inside a transaction join it
        with db.single_statements(actor="ignored-when-joining"):
            assert db.call(_ADD_SCRATCH, {"n": 2}) == [("townsquare_app", "bob")]
        assert db.connection().execute(text("SELECT count(*) FROM scratch")).scalar() == 2
        raise ValueError("boom")
    assert _stored(db) == 0


@pytest.mark.postgres
def test_a_transaction_inside_single_statements_is_its_own(scratch_db: PgDatabase) -> None:
    db = scratch_db
    with db.single_statements(actor="carol"):
        db.call(_ADD_SCRATCH, {"n": 1})
        with pytest.raises(ValueError), db.transaction(actor="dave"):
            assert db.call(_ADD_SCRATCH, {"n": 2}) == [("townsquare_app", "dave")]
            raise ValueError("boom")
        assert db.call(_ADD_SCRATCH, {"n": 3}) == [("townsquare_app", "carol")]
    assert _stored(db) == 2


@pytest.mark.postgres
def test_after_commit_callbacks_in_single_statements_run_at_once(scratch_db: PgDatabase) -> None:
    db = scratch_db
    calls: list[str] = []
    with db.single_statements():
        db.call(_ADD_SCRATCH, {"n": 1})
        assert db.on_commit(lambda: calls.append("committed"))
        assert calls == ["committed"]


@pytest.mark.postgres
def test_a_failing_call_leaves_its_pooled_connection_usable(scratch_db: PgDatabase) -> None:
    db = scratch_db
    with pytest.raises(Exception, match="invalid input syntax"), db.single_statements(actor="alice"):
        db.call("SELECT * FROM scratch_add(%(role)s, %(actor)s, %(n)s::int)", {"n": "not a number"})
    # back out of autocommit: the next transaction is one
    with db.transaction(actor="alice"):
        assert db.connection().execute(text("SELECT app.current_user_id()")).scalar() == "alice"


def test_memory_single_statements_keep_each_change() -> None:
    db = MemoryDatabase()
    items: list[int] = []

    def add(n: int) -> None:
        items.append(n)
        db.record_undo(items.pop)

    with pytest.raises(RuntimeError), db.single_statements():
        add(1)
        with pytest.raises(RuntimeError), db.transaction():
            add(2)
            raise RuntimeError("inner")
        raise RuntimeError("boom")
    assert items == [1]
    with pytest.raises(RuntimeError), db.transaction():
        add(3)
        with db.single_statements():
            add(4)  # joins the transaction: undone with it
        raise RuntimeError("boom")
    assert items == [1]
