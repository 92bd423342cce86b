"""Fixtures of the fault tests: a private PostgreSQL cluster they may stop, and a private Redis they may kill.

The shared Postgres on 127.0.0.1:5432 serves every other test (and other people): these
tests never touch it. Without the PostgreSQL server binaries, or as root without a
``postgres`` OS user to own the cluster, they skip with a message; on CI they fail.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from bench.running import PrivatePostgres, Redis, sqlalchemy_url
from psycopg import sql

from tests.conftest import unavailable


@pytest.fixture(scope="session")
def private_postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL cluster of this test session (initdb into a temp dir, fsync off, a free port)."""
    try:
        cluster = PrivatePostgres()
    except (OSError, RuntimeError, LookupError) as exc:  # missing binaries, no postgres user, initdb failed
        unavailable("a private PostgreSQL cluster (initdb and pg_ctl)", exc)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def private_dsn(private_postgres: PrivatePostgres) -> Iterator[str]:
    """A fresh migrated database on the private cluster (running again if a test left it stopped)."""
    from townsquare.adapters.postgres.migrations import upgrade

    if not private_postgres.running:
        private_postgres.start()
    name = f"faults_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(private_postgres.dsn, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsn = private_postgres.database_dsn(name)
    upgrade(sqlalchemy_url(dsn))
    yield dsn
    if not private_postgres.running:
        private_postgres.start()
    with psycopg.connect(private_postgres.dsn, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def private_redis() -> Iterator[Redis]:
    """A redis-server of this test only, on a free port, that the test may kill and start again."""
    try:
        server = Redis()
    except (OSError, TimeoutError) as exc:
        unavailable("redis-server (a private instance)", exc)
    try:
        yield server
    finally:
        server.kill()
