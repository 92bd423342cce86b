"""Metrics on against metrics off, side by side: feed pages/s and sends/s through the host.

Run: ``BENCH_SCALE=0.1 .venv/bin/python bench/bench_metrics.py [--skip-generate]``. Two host
processes run at once on the same database, one with ``METRICS_ENABLED=true`` and one with
``false``; the load alternates between them in short rounds (the order flips every round), so
both see the same machine. Feed pages use the ``bench_feed`` database (generated here at
``BENCH_SCALE`` unless ``--skip-generate``); sends go to ``bench_metrics_sends``, to distinct
recipients so no daily cap is reached. Prints one JSON document with the medians and ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bench_feed import DATABASE as FEED_DATABASE
from bench_feed import LIMIT, _drive, _free_port, create_database
from common import SCALE, database_url, fresh_database, machine, process_cpu_seconds
from feed_data import FeedData
from townsquare.core.feed import FeedMode
from townsquare.hosts.http.auth import mint_token
from townsquare.settings import DEV_JWT_SECRET

SENDS_DATABASE = "bench_metrics_sends"
ROUND_SECONDS = 3.0
CONCURRENCY = 8


def start_host(database: str, *, metrics: bool) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    env = {
        **os.environ,
        "PORTS_MODE": "postgres",
        "DATABASE_URL": database_url(database),
        "DATABASE_POOL_SIZE": "8",
        "RATE_LIMIT": "100000000/minute",
        "LOG_LEVEL": "WARNING",
        "JWT_SECRET": DEV_JWT_SECRET,
        "METRICS_ENABLED": "true" if metrics else "false",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "townsquare", "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL
    )
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return server, port
        except httpx.TransportError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("the HTTP host did not start")


async def _post(port: int, bodies: Sequence[bytes], headers: dict[str, str], seconds: float, clients: int) -> int:
    """Keep-alive POSTs of the given JSON bodies, each used once, on raw asyncio streams."""
    done = 0
    deadline = time.perf_counter() + seconds
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    next_body = iter(bodies)

    async def client() -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < deadline:
                body = next(next_body)
                writer.write(
                    f"POST /api/v1/notifications/send HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}"
                    f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                answer = await reader.readexactly(length)
                if head[9:12] != b"200" or b'"sent":true' not in answer:
                    raise RuntimeError(f"send failed: {head[:12]!r} {answer[:200]!r}")
                done += 1
        finally:
            writer.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    return done


def alternate(rounds: int, drive: Any, hosts: dict[str, tuple[subprocess.Popen[bytes], int]]) -> dict[str, Any]:
    """Drive each host for a round, alternating (on, off, off, on, ...); per host: rate per round and CPU."""
    rates: dict[str, list[float]] = {name: [] for name in hosts}
    cpu: dict[str, float] = dict.fromkeys(hosts, 0.0)
    done: dict[str, int] = dict.fromkeys(hosts, 0)
    names = list(hosts)
    for index in range(rounds):
        for name in names if index % 2 == 0 else reversed(names):
            server, port = hosts[name]
            before = process_cpu_seconds(server.pid)
            count = drive(port)
            cpu[name] += process_cpu_seconds(server.pid) - before
            done[name] += count
            rates[name].append(count / ROUND_SECONDS)
    result: dict[str, Any] = {
        name: {
            "median_per_s": round(statistics.median(rates[name]), 1),
            "rounds_per_s": [round(rate, 1) for rate in rates[name]],
            "host_cpu_ms_per_request": round(cpu[name] * 1000 / done[name], 3),
        }
        for name in names
    }
    result["on_over_off"] = round(result["metrics_on"]["median_per_s"] / result["metrics_off"]["median_per_s"], 3)
    result["cpu_on_over_off"] = round(
        result["metrics_on"]["host_cpu_ms_per_request"] / result["metrics_off"]["host_cpu_ms_per_request"], 3
    )
    return result


def feed_ab(rounds: int) -> dict[str, Any]:
    token = mint_token(DEV_JWT_SECRET, FeedData(items=1, creators=1, other_follows=0).viewer, now=datetime.now(UTC))
    headers = {"Authorization": f"Bearer {token}"}
    paths = [f"/api/v1/feed/home?mode={mode.value}&limit={LIMIT}" for mode in FeedMode]
    hosts = {
        "metrics_on": start_host(FEED_DATABASE, metrics=True),
        "metrics_off": start_host(FEED_DATABASE, metrics=False),
    }
    try:
        for _, port in hosts.values():
            asyncio.run(_drive(port, headers, paths, 1.5, CONCURRENCY))  # warm-up

        def drive(port: int) -> int:
            return len(asyncio.run(_drive(port, headers, paths, ROUND_SECONDS, CONCURRENCY)))

        return {"what": "first feed pages, both modes, 50 items", **alternate(rounds, drive, hosts)}
    finally:
        for server, _ in hosts.values():
            server.terminate()
            server.wait(timeout=30)


def sends_ab(rounds: int) -> dict[str, Any]:
    fresh_database(SENDS_DATABASE)
    token = mint_token(DEV_JWT_SECRET, "bench-admin", now=datetime.now(UTC), roles=["admin"], ttl=timedelta(hours=2))
    headers = {"Authorization": f"Bearer {token}"}
    hosts = {
        "metrics_on": start_host(SENDS_DATABASE, metrics=True),
        "metrics_off": start_host(SENDS_DATABASE, metrics=False),
    }
    sequence = iter(range(10**9))

    def bodies(count: int) -> list[bytes]:
        return [
            json.dumps(
                {"user_id": f"u{n}", "channel": "inapp", "category": "like", "title": "bench", "body": "x"}
            ).encode()
            for n in (next(sequence) for _ in range(count))
        ]

    try:
        for _, port in hosts.values():
            asyncio.run(_post(port, bodies(4000), headers, 1.5, CONCURRENCY))  # warm-up

        def drive(port: int) -> int:
            return asyncio.run(_post(port, bodies(20_000), headers, ROUND_SECONDS, CONCURRENCY))

        return {"what": "admin sends, in-app, each to a new recipient", **alternate(rounds, drive, hosts)}
    finally:
        for server, _ in hosts.values():
            server.terminate()
            server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-generate", action="store_true", help="reuse the existing bench_feed database")
    parser.add_argument("--rounds", type=int, default=6, help="rounds per host and workload")
    args = parser.parse_args()
    setup = {}
    if not args.skip_generate:
        data = FeedData(
            items=int(1_000_000 * SCALE), creators=max(int(10_000 * SCALE), 500), other_follows=int(200_000 * SCALE)
        )
        setup = create_database(data, datetime(2026, 1, 15, 12, 0, tzinfo=UTC))
    report = {
        "benchmark": "metrics",
        "scale": SCALE,
        "setup": setup,
        "round_seconds": ROUND_SECONDS,
        "clients": CONCURRENCY,
        "machine": machine(),
        "feed": feed_ab(args.rounds),
        "sends": sends_ab(args.rounds),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
