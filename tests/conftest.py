"""Shared fixtures: the clock, settings, a fresh Postgres database per test, and ``services``,
the contract fixture that runs a test once per adapter (memory and postgres).

Postgres: one template database is migrated per test process; every test gets its own
database cloned from it (``CREATE DATABASE ... TEMPLATE``), so tests never see each other's
rows and need no cleanup. Without a reachable Postgres the postgres side is skipped with a
message; on CI (``CI=true``) it fails instead, so it can never be skipped silently.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg import sql

from townsquare import bootstrap as composition_root
from townsquare.adapters.memory.mail import RecordingMailSender
from townsquare.bootstrap import Services, bootstrap
from townsquare.core.clock import ManualClock
from townsquare.settings import PortsMode, Settings

ON_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_ADMIN_DSN = os.environ.get("TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
RABBIT_URL = os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
EPOCH = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
_database_numbers = itertools.count()


def unavailable(what: str, why: object) -> None:
    """Skip on a developer machine; fail on CI, where every real-service test must run."""
    message = f"{what} is not reachable ({why}); start it to run these tests"
    if ON_CI:
        pytest.fail(f"on CI {message}", pytrace=False)
    pytest.skip(message)


def sqlalchemy_url(dsn: str) -> str:
    return dsn.replace("postgresql://", "postgresql+psycopg://", 1)


def _dsn_for(database: str) -> str:
    return PG_ADMIN_DSN.rsplit("/", 1)[0] + "/" + database


def _admin_execute(statement: sql.Composable) -> None:
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=3) as conn:
        conn.execute(statement)


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated template database, one per test process (xdist workers each have theirs)."""
    try:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        unavailable(f"PostgreSQL at {PG_ADMIN_DSN}", str(exc).strip().splitlines()[0])
    from townsquare.adapters.postgres.migrations import upgrade

    name = f"ts_tpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    _admin_execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        upgrade(sqlalchemy_url(_dsn_for(name)))
        yield name
    finally:
        _admin_execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def pg_dsn(pg_template: str) -> Iterator[str]:
    """A fresh, migrated database for this test (libpq DSN)."""
    name = f"{pg_template.replace('tpl', 'db')}_{next(_database_numbers)}"
    _admin_execute(
        sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
            sql.Identifier(name), sql.Identifier(pg_template)
        )
    )
    try:
        yield _dsn_for(name)
    finally:
        _admin_execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def pg_url(pg_dsn: str) -> str:
    """The fresh database as a SQLAlchemy URL."""
    return sqlalchemy_url(pg_dsn)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(EPOCH)


def memory_settings(**overrides: object) -> Settings:
    options: dict[str, object] = {"seed_demo_data": False, "frozen_clock": EPOCH, **overrides}
    return Settings(**options)  # type: ignore[arg-type]


def postgres_settings(url: str, **overrides: object) -> Settings:
    return Settings(  # type: ignore[arg-type]
        ports_mode=PortsMode.POSTGRES,
        database_url=url,
        database_pool_size=4,
        seed_demo_data=False,
        **overrides,
    )


@pytest.fixture(params=["memory", pytest.param("postgres", marks=pytest.mark.postgres)])
def adapter(request: pytest.FixtureRequest) -> str:
    """The adapter under test; contract tests run once per value."""
    return str(request.param)


@pytest.fixture
def settings(adapter: str, request: pytest.FixtureRequest) -> Settings:
    if adapter == "memory":
        return memory_settings()
    return postgres_settings(request.getfixturevalue("pg_url"))


@pytest.fixture
def mailbox(monkeypatch: pytest.MonkeyPatch) -> RecordingMailSender:
    """The mail sender of every service bootstrapped after it (the one wired without SMTP_URL),
    held by the test to read what was sent or to refuse sends. Request it before ``services``."""
    box = RecordingMailSender()
    monkeypatch.setattr(composition_root, "_mail_sender", lambda _settings: box)
    return box


@pytest.fixture
def services(settings: Settings, clock: ManualClock) -> Iterator[Services]:
    """The wired services for the adapter under test, on a moveable clock."""
    wired = bootstrap(settings, clock=clock)
    try:
        yield wired
    finally:
        wired.close()


@pytest.fixture
def redis_url() -> str:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        unavailable(f"Redis at {REDIS_URL}", exc)
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def rabbitmq_url() -> str:
    import pika
    import pika.exceptions

    try:
        pika.BlockingConnection(pika.URLParameters(RABBIT_URL)).close()
    except pika.exceptions.AMQPError as exc:
        unavailable(f"RabbitMQ at {RABBIT_URL}", repr(exc))
    return RABBIT_URL
