"""HTTP host against the framework floor (issue 21): feed page and unread counts through one
``townsquare serve`` process, beside a bare Litestar app (bench/floor_app.py) serving the same
JSON documents under the same uvicorn options, with wrk, interleaved host, floor, host, floor.
Prints one JSON document with each endpoint's requests/s, the CPU per request of the serving
process, and the host's share of the floor.

    .venv/bin/python bench/bench_http.py                  # memory and postgres mode
    .venv/bin/python bench/bench_http.py --mode memory --duration 5

Needs ``wrk`` (``apt-get install -y wrk``); without it, says so and exits 0. Postgres mode uses
bench/load.py's database (``bench_load``: demo data plus ``BENCH_SCALE`` x 100,000 feed items),
logged in as the host role so row-level security applies, and Redis for the rate limit.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from common import machine, process_cpu_seconds
from load import REDIS_URL, prepare_database, run_wrk, tokens_file
from running import Child, Host, as_role, base_env, free_port, wait_until
from townsquare.adapters.postgres.database import HOST_ROLE

HERE = Path(__file__).resolve().parent
ENDPOINTS = {"feed_page": "/api/v1/feed/home?limit=50", "notification_counts": "/api/v1/notifications/counts"}
TARGET_SHARE = 0.35


class Floor(Child):
    """bench/floor_app.py on a free loopback port, answering ``bodies``."""

    def __init__(self, bodies: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        argv = [sys.executable, str(HERE / "floor_app.py"), "--port", str(self.port), "--bodies", str(bodies)]
        super().__init__("floor", argv)
        wait_until(self._answers, 30, "the floor app")

    def _answers(self) -> bool:
        try:
            return httpx.get(self.base_url + "/nothing-here", timeout=1).status_code == 404
        except httpx.TransportError:
            return False


def measured(server: Host | Floor, name: str, tokens: Path, args: argparse.Namespace, work: Path) -> Any:
    """wrk against ``server`` for ``name``, with the serving process's CPU per request."""
    cpu_before = process_cpu_seconds(server.process.pid)
    figures = run_wrk(server.base_url, name, tokens, args, work)
    cpu = process_cpu_seconds(server.process.pid) - cpu_before
    figures["cpu_ms_per_request"] = round(cpu * 1000 / max(figures["requests"], 1), 3)
    return figures


def run_mode(mode: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    report: dict[str, Any] = {"mode": mode}
    if mode == "memory":
        env = base_env(PORTS_MODE="memory", LOG_LEVEL="WARNING")
    else:
        dsn, report["data"] = prepare_database()
        env = base_env(
            PORTS_MODE="postgres", DATABASE_URL=as_role(dsn, HOST_ROLE), REDIS_URL=REDIS_URL, LOG_LEVEL="WARNING"
        )
    tokens = tokens_file(work, admin=False)
    token = tokens.read_text().split("\n", 1)[0]
    host = Host(env)
    floor = None
    try:
        host.wait_healthy()
        # The floor answers what the host answered, byte for byte the same documents.
        bodies = {}
        for path in ENDPOINTS.values():
            response = httpx.get(host.base_url + path, headers={"Authorization": f"Bearer {token}"}, timeout=10)
            response.raise_for_status()
            bodies[path.split("?", 1)[0]] = response.json()
        report["response_bytes"] = {name: len(json.dumps(bodies[p.split("?")[0]])) for name, p in ENDPOINTS.items()}
        (work / "bodies.json").write_text(json.dumps(bodies))
        floor = Floor(work / "bodies.json")
        rounds: list[dict[str, Any]] = []
        for _ in range(args.rounds):
            one: dict[str, Any] = {}
            for name in ENDPOINTS:
                one[name] = {
                    "host": measured(host, name, tokens, args, work),
                    "floor": measured(floor, name, tokens, args, work),
                }
            rounds.append(one)
        if not host.alive():
            raise RuntimeError(f"the host exited:\n{host.tail()}")
    finally:
        host.stop()
        if floor is not None:
            floor.stop()
    report["rounds"] = rounds
    report["host_share_of_floor"] = {
        name: [
            round(r[name]["host"]["requests_per_second"] / r[name]["floor"]["requests_per_second"], 3) for r in rounds
        ]
        for name in ENDPOINTS
    }
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["memory", "postgres", "both"], default="both")
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--rounds", type=int, default=2, help="host/floor pairs per endpoint")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print(json.dumps({"skipped": "wrk is not installed; apt-get install -y wrk"}))
        return 0
    started = time.perf_counter()
    calibration = machine()
    modes = ["memory", "postgres"] if args.mode == "both" else [args.mode]
    with tempfile.TemporaryDirectory(prefix="ts-http-") as directory:
        runs = [run_mode(mode, args, Path(directory)) for mode in modes]
    settings = {"duration_s": args.duration, "connections": args.connections, "wrk_threads": args.threads}
    document = {
        "benchmark": "http_floor",
        "settings": settings,
        "target_share": TARGET_SHARE,
        "machine": calibration,
        "runs": runs,
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(document, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
