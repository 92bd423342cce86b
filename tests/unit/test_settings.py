"""Settings are read once from the environment; every bad value names its variable."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from townsquare.settings import MOCK_EPOCH, PortsMode, RateLimit, Settings, SettingsError


def test_defaults_need_nothing_installed() -> None:
    settings = Settings.from_env({})
    assert settings.ports_mode is PortsMode.MEMORY
    assert settings.seed_demo_data is True
    assert settings.frozen_clock == MOCK_EPOCH


@pytest.mark.parametrize(
    ("text", "mode"),
    [("memory", "memory"), ("mock", "memory"), ("MOCK", "memory"), ("postgres", "postgres"), ("db", "postgres")],
)
def test_ports_mode_aliases(text: str, mode: str) -> None:
    env = {"PORTS_MODE": text, "DATABASE_URL": "postgresql://x@localhost/db"}
    assert Settings.from_env(env).ports_mode.value == mode


def test_postgres_mode_uses_psycopg3_and_a_system_clock() -> None:
    settings = Settings.from_env({"PORTS_MODE": "db", "DATABASE_URL": "postgres://u@h:5432/d"})
    assert settings.database_url == "postgresql+psycopg://u@h:5432/d"
    assert settings.frozen_clock is None
    assert settings.seed_demo_data is False


def test_migrations_run_as_the_owner_when_hosts_log_in_as_the_host_role() -> None:
    hosts = {"PORTS_MODE": "postgres", "DATABASE_URL": "postgresql://townsquare_host@h/d"}
    assert Settings.from_env(hosts).migration_url == "postgresql+psycopg://townsquare_host@h/d"
    owner = Settings.from_env({**hosts, "MIGRATION_DATABASE_URL": "postgres://owner@h/d"})
    assert owner.migration_url == "postgresql+psycopg://owner@h/d"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"PORTS_MODE": "sqlite"}, "PORTS_MODE"),
        ({"PORTS_MODE": "postgres"}, "DATABASE_URL"),
        ({"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL"),
        ({"JWT_SECRET": "short"}, "JWT_SECRET"),
        ({"RATE_LIMIT": "lots"}, "RATE_LIMIT"),
        ({"RATE_LIMIT": "0/minute"}, "RATE_LIMIT"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"PORT": "http"}, "PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"BROKER_URL": "kafka://x"}, "BROKER_URL"),
        ({"SEED_DEMO_DATA": "maybe"}, "SEED_DEMO_DATA"),
        ({"FROZEN_CLOCK": "yesterday"}, "FROZEN_CLOCK"),
        ({"FROZEN_CLOCK": "2026-01-01T00:00:00"}, "FROZEN_CLOCK"),
        ({"DATABASE_POOL_SIZE": "0"}, "DATABASE_POOL_SIZE"),
        ({"MIGRATION_DATABASE_URL": "mysql://x/y"}, "MIGRATION_DATABASE_URL"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError, match=f"^{variable}:"):
        Settings.from_env(env)


def test_rate_limit_and_clock_parse() -> None:
    settings = Settings.from_env({"RATE_LIMIT": " 20 / second ", "FROZEN_CLOCK": "2026-03-01T08:00:00+01:00"})
    assert settings.rate_limit == RateLimit(count=20, per="second")
    assert settings.frozen_clock == datetime(2026, 3, 1, 7, 0, tzinfo=UTC)
    assert Settings.from_env({"FROZEN_CLOCK": "system"}).frozen_clock is None
