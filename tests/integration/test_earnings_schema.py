"""The earnings schema on Postgres: the ledger is append-only in the database, and the migration reverts."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from tests.conftest import EPOCH, postgres_settings
from townsquare.bootstrap import Services, bootstrap
from townsquare.core.clock import ManualClock
from townsquare.core.identity import Actor

pytestmark = pytest.mark.postgres

SHOP = Actor("commerce-backend", roles=["service"])


@pytest.fixture
def pg_services(pg_url: str) -> Iterator[Services]:
    wired = bootstrap(postgres_settings(pg_url), clock=ManualClock(EPOCH))
    try:
        yield wired
    finally:
        wired.close()


def captured_sale(services: Services) -> None:
    earning = services.earnings.record(
        SHOP, creator_id="alice", kind="sale", amount=10_000, currency="USD", idempotency_key="sale"
    )
    services.earnings.capture(SHOP, earning.id, currency="USD", amount=100, idempotency_key="cap")


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE earning_events SET amount = 1",
        "DELETE FROM earning_events",
        "TRUNCATE earning_events CASCADE",
    ],
    ids=["update", "delete", "truncate"],
)
def test_the_database_refuses_to_change_or_remove_events(pg_services: Services, pg_dsn: str, statement: str) -> None:
    captured_sale(pg_services)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.RestrictViolation, match="append-only"):
            conn.execute(statement)
        assert conn.execute("SELECT count(*) FROM earning_events").fetchone() == (2,)


def test_the_earnings_migration_downgrades_and_upgrades_again(pg_url: str, pg_dsn: str) -> None:
    from townsquare.adapters.postgres.migrations import downgrade, upgrade

    downgrade(pg_url, "0005_earnings@base")
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT to_regclass('earning_events')").fetchone() == (None,)
    upgrade(pg_url)
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT to_regclass('earning_events')::text").fetchone() == ("earning_events",)
