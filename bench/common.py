"""Shared plumbing of the benchmarks: the database to run on, data scale and latency figures."""

from __future__ import annotations

import os
import statistics
import threading
import time
from typing import Any

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


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """CPU time of every process of the local Postgres server so far (backends that exited
    in between are not counted)."""
    total = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/comm") as comm:
                if comm.read().strip() == "postgres":
                    total += process_cpu_seconds(int(pid))
        except OSError:
            continue
    return total


def _cpu_times() -> tuple[int, int]:
    """(busy, steal) jiffies of the whole machine so far (Linux /proc/stat)."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return user + nice + system + irq + softirq, steal


def machine(seconds: float = 1.0) -> dict[str, Any]:
    """How fast this machine is right now, to read the other figures against.

    The benchmarks run on shared 2-core machines whose speed varies by 2-3x from hour to
    hour (other tenants take CPU time: "steal"). Three fixed workloads, each ``seconds``
    long: a pure-Python loop, ``SELECT 1`` round trips on one connection, and one-row
    ``INSERT`` + ``COMMIT`` transactions from 8 threads (CPU, scheduling and WAL flushes).
    """
    report: dict[str, Any] = {"cpus": os.cpu_count()}
    busy_before, steal_before = _cpu_times()
    started = time.perf_counter()
    loops = 0
    while time.perf_counter() - started < seconds:
        for _ in range(10_000):
            pass
        loops += 1
    report["python_loop_mhz"] = round(loops * 10_000 / (time.perf_counter() - started) / 1e6, 1)
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        started, trips = time.perf_counter(), 0
        while time.perf_counter() - started < seconds:
            conn.execute("SELECT 1")
            trips += 1
        report["select_1_per_s"] = round(trips / (time.perf_counter() - started))
        conn.execute("CREATE TABLE IF NOT EXISTS bench_machine_probe (n int)")
    commits = [0] * 8

    def commit_loop(index: int) -> None:
        with psycopg.connect(ADMIN_DSN) as conn:
            began = time.perf_counter()
            while time.perf_counter() - began < seconds:
                conn.execute("INSERT INTO bench_machine_probe VALUES (1)")
                conn.commit()
                commits[index] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=commit_loop, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report["insert_commit_8_threads_per_s"] = round(sum(commits) / (time.perf_counter() - started))
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute("DROP TABLE bench_machine_probe")
    busy_after, steal_after = _cpu_times()
    stolen = steal_after - steal_before
    report["steal_percent"] = round(100 * stolen / max(1, busy_after - busy_before + stolen), 1)
    return report


def nested_plans(conn: psycopg.Connection[Any], statement: str, params: Any, *, fmt: str = "json") -> list[str]:
    """The plans (JSON text) of the statements a database function runs for ``statement``:
    auto_explain with nested statements, its log lines sent to this client. ``conn`` is a
    superuser's, in autocommit (the function's role switch ends with its statement)."""
    messages: list[str] = []
    conn.add_notice_handler(lambda diagnostic: messages.append(diagnostic.message_primary or ""))
    conn.execute("LOAD 'auto_explain'")
    for setting in ("log_min_duration = 0", "log_nested_statements = on", "log_analyze = on", "log_buffers = on"):
        conn.execute(f"SET auto_explain.{setting}")
    conn.execute(sql.SQL("SET auto_explain.log_format = {}").format(sql.Literal(fmt)))
    conn.execute("SET client_min_messages = log")
    try:
        conn.execute(statement, params).fetchall()
    finally:
        conn.execute("RESET client_min_messages")
        conn.execute("SET auto_explain.log_min_duration = -1")
    # Each line reads "duration: ... ms  plan:" and the plan; the last is the call itself.
    return [message.split("plan:", 1)[1].strip() for message in messages if "plan:" in message][:-1]
