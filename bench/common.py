"""Shared plumbing of the benchmarks: the database to run on, data scale and latency figures."""

from __future__ import annotations

import os
import statistics

import psycopg
from psycopg import sql

from townsquare.adapters.postgres.migrations import upgrade

ADMIN_DSN = os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
SCALE = float(os.environ.get("BENCH_SCALE", "1.0"))


def scaled(count: int) -> int:
    """``count`` times ``BENCH_SCALE`` (at least 1): ``BENCH_SCALE=0.1`` gives a quick run."""
    return max(1, int(count * SCALE))


def database_dsn(database: str) -> str:
    """The libpq DSN of ``database`` on the benchmark server."""
    return ADMIN_DSN.rsplit("/", 1)[0] + "/" + database


def database_url(database: str) -> str:
    """The SQLAlchemy URL of ``database`` on the benchmark server."""
    return database_dsn(database).replace("postgresql://", "postgresql+psycopg://", 1)


def fresh_database(database: str) -> str:
    """Drop and recreate ``database``, apply the migrations and return its SQLAlchemy URL."""
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    url = database_url(database)
    upgrade(url)
    return url


def percentiles(seconds: list[float]) -> dict[str, float]:
    """p50, p95, p99 and max in milliseconds of latency samples given in seconds."""
    ordered = sorted(seconds)

    def at(quantile: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(len(ordered) * quantile))] * 1000, 3)

    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p95_ms": at(0.95),
        "p99_ms": at(0.99),
        "max_ms": round(ordered[-1] * 1000, 3),
        "samples": len(ordered),
    }
