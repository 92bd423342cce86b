"""Feed benchmark (Postgres adapter): page latency for first and deep pages in both modes, and
HTTP pages per second through one host process. Prints one JSON document.

    .venv/bin/python bench/bench_feed.py            # 1,000,000 items
    BENCH_SCALE=0.1 .venv/bin/python bench/bench_feed.py
    .venv/bin/python bench/bench_feed.py --explain  # also print EXPLAIN (ANALYZE, BUFFERS) to stderr

It recreates the database ``bench_feed`` on ``BENCH_PG`` (default 127.0.0.1, user postgres).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
from sqlalchemy import create_engine

from common import (
    SCALE,
    database_dsn,
    database_url,
    fresh_database,
    machine,
    nested_plans,
    percentiles,
    postgres_cpu_seconds,
    process_cpu_seconds,
)
from feed_data import FeedData, generate_feed_data
from townsquare.adapters.postgres.database import APP_ROLE
from townsquare.adapters.postgres.feed import PAGE_CALL, page_call_parameters
from townsquare.bootstrap import Services, bootstrap
from townsquare.core.clock import SystemClock
from townsquare.core.feed import FeedMode, Position, product_quota
from townsquare.core.feed.ports import CandidateQuery
from townsquare.core.identity import Actor
from townsquare.hosts.http.auth import mint_token
from townsquare.settings import PortsMode, RateLimit, Settings

DATABASE = "bench_feed"
LIMIT = 50
DEEP_PAGE = 50


def create_database(data: FeedData, newest: datetime) -> dict[str, float]:
    """Drop, create, migrate and fill the benchmark database; return how long each step took."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    fresh_database(DATABASE)
    timings["migrate_s"] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    engine = create_engine(database_url(DATABASE))
    with engine.begin() as conn:
        generate_feed_data(conn, data, newest)
    engine.dispose()
    with psycopg.connect(database_dsn(DATABASE), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    timings["generate_s"] = round(time.perf_counter() - started, 2)
    return timings


def measure_pages(services: Services, viewer: Actor, mode: FeedMode, rounds: int) -> dict[str, Any]:
    """Latency of the first page and of page 50 (each read repeatedly with the same cursor)."""
    cursor = None
    for _ in range(DEEP_PAGE - 1):
        page = services.feed.home(viewer, mode, cursor, LIMIT)
        assert page.next_cursor is not None, "not enough items for a deep page"
        cursor = page.next_cursor
    results: dict[str, Any] = {}
    for name, start in (("first_page", None), (f"page_{DEEP_PAGE}", cursor)):
        for _ in range(20):
            services.feed.home(viewer, mode, start, LIMIT)
        samples = []
        for _ in range(rounds):
            began = time.perf_counter()
            page = services.feed.home(viewer, mode, start, LIMIT)
            samples.append(time.perf_counter() - began)
        results[name] = {**percentiles(samples), "items": len(page.items)}
    return results


def page_params(services: Services, viewer: Actor, mode: FeedMode, cursor: str | None) -> dict[str, Any]:
    """The parameters of the store's page call (role and actor included), first page or the cursor's."""
    snapshot: int | None = None
    others_after = products_after = None
    if cursor is not None:
        position = services.cursors.decode(f"feed:{mode.value}:{viewer.user_id}", cursor)
        snapshot = position["s"]
        others_after = Position(*position["o"]) if position["o"] else None
        products_after = Position(*position["p"]) if position["p"] else None
    query = CandidateQuery(
        viewer_id=viewer.user_id,
        following_only=mode is FeedMode.FOLLOWING,
        snapshot=snapshot,
        others_after=others_after,
        others_limit=LIMIT + 1,
        products_after=products_after,
        products_limit=product_quota(LIMIT) + 1,
    )
    return {"role": APP_ROLE, "actor": viewer.user_id, **page_call_parameters(query)}


def explain(params: dict[str, Any]) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of the statements a page call runs (auto_explain)."""
    with psycopg.connect(database_dsn(DATABASE), autocommit=True) as conn:
        return "\n".join(nested_plans(conn, PAGE_CALL, params, fmt="text"))


def driver_floor(pages: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """The HTTP mix's page calls on bare autocommit psycopg connections from 8 threads, each
    page one ``app.feed_page`` call as the store makes it once it holds the page's items: what
    Postgres and the driver serve with no host, service or SQLAlchemy around them."""
    connections = [psycopg.connect(database_dsn(DATABASE), autocommit=True) for _ in range(8)]
    barrier = threading.Barrier(len(connections) + 1)
    deadline = [0.0]
    served = [0] * len(connections)

    def client(index: int) -> None:
        conn = connections[index]
        barrier.wait()
        n = index
        while time.perf_counter() < deadline[0]:
            conn.execute(PAGE_CALL, pages[n % len(pages)]).fetchall()
            n += 1
        served[index] = n - index

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(connections))]
    for thread in threads:
        thread.start()
    deadline[0] = time.perf_counter() + seconds
    cpu_before, postgres_before = time.process_time(), postgres_cpu_seconds()
    barrier.wait()
    for thread in threads:
        thread.join()
    cpu, postgres = time.process_time() - cpu_before, postgres_cpu_seconds() - postgres_before
    for conn in connections:
        conn.close()
    total = sum(served)
    return {
        "clients": "8 threads, bare psycopg connections",
        "pages_per_s": round(total / seconds, 1),
        "cpu_ms_per_page": {"driver": round(cpu * 1000 / total, 3), "postgres": round(postgres * 1000 / total, 3)},
    }


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _drive(port: int, headers: dict[str, str], paths: list[str], seconds: float, concurrency: int) -> list[float]:
    """Keep-alive HTTP/1.1 clients on raw asyncio streams: a load generator light enough to
    leave the (shared) CPU to the host under test, unlike a full-featured client library.
    """
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    requests = [f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode() for path in paths]

    async def client(offset: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        n = offset
        try:
            while time.perf_counter() < deadline:
                began = time.perf_counter()
                writer.write(requests[n % len(requests)])
                head = await reader.readuntil(b"\r\n\r\n")
                status = head[9:12]
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                body = await reader.readexactly(length)
                if status != b"200":
                    raise RuntimeError(f"feed page failed: {status!r} {body[:200]!r}")
                latencies.append(time.perf_counter() - began)
                n += 1
        finally:
            writer.close()

    await asyncio.gather(*(client(i) for i in range(concurrency)))
    return latencies


def measure_http(
    settings: Settings, viewer: Actor, deep_cursors: dict[FeedMode, str], seconds: float
) -> dict[str, Any]:
    """Feed pages per second through one uvicorn host process in postgres mode."""
    port = _free_port()
    env = {
        **os.environ,
        "PORTS_MODE": "postgres",
        "DATABASE_URL": database_url(DATABASE),
        "DATABASE_POOL_SIZE": "8",
        "RATE_LIMIT": "100000000/minute",
        "LOG_LEVEL": "WARNING",
        "JWT_SECRET": settings.jwt_secret,
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "townsquare", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise RuntimeError("the HTTP host did not start")
        token = mint_token(settings.jwt_secret, viewer.user_id, now=datetime.now(UTC), ttl=timedelta(hours=1))
        headers = {"Authorization": f"Bearer {token}"}
        paths = [f"/api/v1/feed/home?mode={mode.value}&limit={LIMIT}" for mode in FeedMode] + [
            f"/api/v1/feed/home?mode={mode.value}&limit={LIMIT}&cursor={cursor}"
            for mode, cursor in deep_cursors.items()
        ]
        asyncio.run(_drive(port, headers, paths, 2.0, 16))  # warm-up
        results: dict[str, Any] = {}
        for concurrency in (4, 8, 16):
            cpu_before, postgres_before = process_cpu_seconds(server.pid), postgres_cpu_seconds()
            latencies = asyncio.run(_drive(port, headers, paths, seconds, concurrency))
            cpu = process_cpu_seconds(server.pid) - cpu_before
            postgres = postgres_cpu_seconds() - postgres_before
            pages = len(latencies)
            results[f"concurrency_{concurrency}"] = {
                "pages_per_s": round(pages / seconds, 1),
                # What one fully available core would serve: the figure the busy machine hides.
                "host_cpu_s": round(cpu, 2),
                "pages_per_host_cpu_s": round(pages / cpu, 1) if cpu else None,
                "cpu_ms_per_page": {
                    "host": round(cpu * 1000 / pages, 3),
                    "postgres": round(postgres * 1000 / pages, 3),
                },
                # Host and Postgres on the machine's cores with nothing else (the load generator left out).
                "pages_per_s_if_cpu_bound": round((os.cpu_count() or 1) * pages / (cpu + postgres), 1),
                **percentiles(latencies),
            }
        results["mix"] = "first pages and page 50, both modes, 50 items each"
        # The host's own floor: an authenticated request (token, rate limit, routing, a small
        # JSON body) that does no database work and needs no worker thread.
        cpu_before = process_cpu_seconds(server.pid)
        latencies = asyncio.run(_drive(port, headers, ["/api/v1/me"], seconds / 2, 8))
        cpu = process_cpu_seconds(server.pid) - cpu_before
        results["framework_floor"] = {
            "path": "/api/v1/me, 8 clients",
            "requests_per_s": round(len(latencies) / (seconds / 2), 1),
            "host_cpu_ms_per_request": round(cpu * 1000 / len(latencies), 3),
        }
        return results
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN (ANALYZE, BUFFERS) to stderr")
    parser.add_argument("--skip-generate", action="store_true", help="reuse the existing bench_feed database")
    args = parser.parse_args()
    data = FeedData(
        items=int(1_000_000 * SCALE),
        creators=max(int(10_000 * SCALE), 500),
        other_follows=int(200_000 * SCALE),
    )
    newest = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    setup = {} if args.skip_generate else create_database(data, newest)
    settings = Settings(
        ports_mode=PortsMode.POSTGRES,
        database_url=database_url(DATABASE),
        database_pool_size=4,
        seed_demo_data=False,
        rate_limit=RateLimit(count=100_000_000, per="minute"),
    )
    services = bootstrap(settings, clock=SystemClock())
    viewer = Actor(data.viewer)
    rounds = max(int(400 * min(SCALE, 1.0)), 100)
    try:
        pages = {mode.value: measure_pages(services, viewer, mode, rounds) for mode in FeedMode}
        deep_cursors: dict[FeedMode, str] = {}
        for mode in FeedMode:
            cursor = None
            for _ in range(DEEP_PAGE - 1):
                cursor = services.feed.home(viewer, mode, cursor, LIMIT).next_cursor
            assert cursor is not None
            deep_cursors[mode] = cursor
        # The HTTP mix's pages, in its order: first pages, then page 50, of each mode.
        floor_pages = [page_params(services, viewer, mode, None) for mode in FeedMode] + [
            page_params(services, viewer, mode, cursor) for mode, cursor in deep_cursors.items()
        ]
        if args.explain:
            for mode in FeedMode:
                for label, cursor in (("first page", None), (f"page {DEEP_PAGE}", deep_cursors[mode])):
                    plans = explain(page_params(services, viewer, mode, cursor))
                    print(f"-- {mode.value}, {label}\n{plans}\n", file=sys.stderr)
    finally:
        services.close()
    speed = machine()  # right before the HTTP figures, the most machine-bound ones
    seconds = max(5.0, 10.0 * min(SCALE, 1.0))
    http = measure_http(settings, viewer, deep_cursors, seconds=seconds)
    http["driver_floor"] = driver_floor(floor_pages, seconds / 2)
    report = {
        "benchmark": "feed",
        "scale": SCALE,
        "data": {
            "items": data.items,
            "products": data.items // 5,
            "creators": data.creators,
            "viewer_follows": data.follows,
            "viewer_cart": data.cart,
            "viewer_hidden": data.hidden,
        },
        "setup": setup,
        "page_size": LIMIT,
        "pages": pages,
        "targets": {"page_p50_ms": 5, "page_p99_ms": 15, "http_pages_per_s": 1000},
        "http": http,
        "machine": speed,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
