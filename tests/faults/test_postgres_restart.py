"""Postgres restarted under load: the host answers 503 meanwhile, recovers by itself, and loses nothing."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from bench.running import Host, PrivatePostgres, Redis, Worker, as_role, base_env, townsquare, wait_until

from townsquare.adapters.postgres.database import HOST_ROLE

ROUTE_COUNTS = "/api/v1/notifications/counts"
ROUTE_SEND = "/api/v1/notifications/send"
ROUTE_JOB = "/api/v1/admin/jobs/test"


class LoadLoop:
    """Two threads calling the host without pause: unread counts, notification sends and job enqueues.

    Every answer's status is counted; the ids of notifications and jobs that were answered
    2xx are kept, so the test can check that each of them exists after the restart.
    """

    def __init__(self, base_url: str, user_token: str, admin_token: str) -> None:
        self._base_url = base_url
        self._user = {"Authorization": f"Bearer {user_token}"}
        self._admin = {"Authorization": f"Bearer {admin_token}"}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._numbers = itertools.count()
        self.statuses: Counter[tuple[str, int]] = Counter()
        self.bad_answers: list[str] = []
        self.notification_ids: list[str] = []
        self.job_ids: list[int] = []
        self._threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(2)]

    def __enter__(self) -> LoadLoop:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)

    def count(self, status: int) -> int:
        with self._lock:
            return sum(n for (_, code), n in self.statuses.items() if code == status)

    def _loop(self) -> None:
        with httpx.Client(base_url=self._base_url, timeout=10) as client:
            while not self._stop.is_set():
                number = next(self._numbers)
                route = (ROUTE_COUNTS, ROUTE_SEND, ROUTE_JOB)[number % 3]
                if route == ROUTE_COUNTS:
                    response = client.get(route, headers=self._user)
                elif route == ROUTE_SEND:
                    # One recipient per send: the daily cap (5 per user and channel) never refuses.
                    body = {
                        "user_id": f"fault-reader-{number}",
                        "channel": "inapp",
                        "category": "follow",
                        "title": "restart",
                        "idempotency_key": f"fault-{number}",
                    }
                    response = client.post(route, headers=self._admin, json=body)
                else:
                    response = client.post(route, headers=self._admin, json={"fail": False})
                self._record(route, response)

    def _record(self, route: str, response: httpx.Response) -> None:
        with self._lock:
            self.statuses[(route, response.status_code)] += 1
            if response.is_success:
                body = response.json()
                if route == ROUTE_SEND:
                    self.notification_ids.append(body["notification_id"])
                elif route == ROUTE_JOB:
                    self.job_ids.append(body["job_id"])
            elif response.status_code == 503:
                problem = response.json()
                if not (
                    response.headers.get("retry-after")
                    and response.headers["content-type"].startswith("application/problem+json")
                    and problem["type"].endswith("/database_unavailable")
                ):
                    self.bad_answers.append(f"{route} 503 {dict(response.headers)} {response.text[:200]}")
            else:
                self.bad_answers.append(f"{route} {response.status_code} {response.text[:300]}")


@pytest.fixture
def host(private_dsn: str) -> Iterator[Host]:
    # Logged in as the role that owns nothing, as in production (docs/security.md).
    env = base_env(
        PORTS_MODE="postgres",
        DATABASE_URL=as_role(private_dsn, HOST_ROLE),
        DATABASE_POOL_SIZE="4",
        RATE_LIMIT="100000/minute",
    )
    served = Host(env)
    try:
        served.wait_healthy()
        yield served
    finally:
        served.stop()


@pytest.fixture
def worker(private_dsn: str, private_redis: Redis) -> Iterator[Worker]:
    env = base_env(
        PORTS_MODE="postgres",
        DATABASE_URL=as_role(private_dsn, HOST_ROLE),
        BROKER_URL=private_redis.url,
        DATABASE_POOL_SIZE="4",
    )
    running = Worker(env, threads=4)
    try:
        yield running
    finally:
        assert running.stop() == 0, running.tail()


def status_of(url: str, token: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        return httpx.get(url, headers=headers, timeout=5).status_code
    except httpx.TransportError:
        return 0


@pytest.mark.slow
@pytest.mark.postgres
def test_the_host_rides_out_a_postgres_restart_under_load(
    private_postgres: PrivatePostgres, private_dsn: str, host: Host, worker: Worker
) -> None:
    # Given a postgres-mode host serving a steady load of reads, sends and enqueues, and a worker
    env = base_env()
    user_token = townsquare(["token", "alice"], env)
    admin_token = townsquare(["token", "admin", "--admin"], env)
    counts_url = host.base_url + ROUTE_COUNTS
    pid = host.process.pid
    with LoadLoop(host.base_url, user_token, admin_token) as load:
        wait_until(lambda: load.count(200) >= 30, 15, "the load to get answers")
        # When Postgres stops (pg_ctl -m fast: every connection is closed)
        private_postgres.stop("fast")
        stopped = time.monotonic()
        # Then /ready and the DB-backed routes answer 503 problem documents with Retry-After
        wait_until(lambda: status_of(host.base_url + "/ready") == 503, 10, "/ready to answer 503")
        wait_until(lambda: load.count(503) >= 10, 10, "the load to see 503s")
        down = httpx.get(counts_url, headers={"Authorization": f"Bearer {user_token}"}, timeout=5)
        assert down.status_code == 503 and down.headers["retry-after"] == "2"
        assert down.json()["type"].endswith("/database_unavailable")
        # When it starts again (pg_ctl -w returns once it accepts connections)
        private_postgres.start()
        accepting = time.monotonic()
        # Then the same host process answers 200 again by itself
        recovery = wait_until(lambda: status_of(counts_url, user_token) == 200, 15, "a 200 after the restart")
        wait_until(lambda: status_of(host.base_url + "/ready") == 200, 10, "/ready to answer 200")
        served_before = load.count(200)
        wait_until(lambda: load.count(200) >= served_before + 30, 15, "the load to be served again")
        # And a plain `pg_ctl restart -m fast` in the middle of the load is ridden out the same way
        private_postgres.restart()
        restarted = time.monotonic()
        wait_until(lambda: status_of(counts_url, user_token) == 200, 15, "a 200 after pg_ctl restart")
        after_restart = time.monotonic() - restarted
        served_before = load.count(200)
        wait_until(lambda: load.count(200) >= served_before + 30, 15, "the load to be served after pg_ctl restart")
    assert host.alive() and host.process.pid == pid
    # And no answer was a 500 (or any other error than the 503s)
    assert load.bad_answers == []
    statuses = dict(Counter({f"{route} {code}": n for (route, code), n in load.statuses.items()}))
    # And every notification and job the host accepted is in the database
    with psycopg.connect(private_dsn) as conn:
        stored_notifications = conn.execute(
            "SELECT count(*) FROM notifications WHERE id::text = ANY(%s)", (load.notification_ids,)
        ).fetchone()
        stored_jobs = conn.execute("SELECT count(*) FROM jobs WHERE id = ANY(%s)", (load.job_ids,)).fetchone()
    assert stored_notifications == (len(load.notification_ids),)
    assert stored_jobs == (len(load.job_ids),)
    assert load.notification_ids and load.job_ids
    # And the worker, which lost its database too, runs every one of those jobs
    completed = "SELECT count(*) FROM jobs WHERE id = ANY(%s) AND status = 'completed'"

    def all_completed() -> bool:
        with psycopg.connect(private_dsn) as conn:
            return conn.execute(completed, (load.job_ids,)).fetchone() == (len(load.job_ids),)

    wait_until(all_completed, 30, "the worker to run every accepted job", interval=0.2)
    assert worker.alive()
    # The figures for docs/operations.md (shown with ``pytest -s``).
    figures = {
        "downtime_seconds": round(accepting - stopped, 3),
        "recovery_seconds": round(recovery, 3),
        "recovery_after_pg_ctl_restart_seconds": round(after_restart, 3),
        "answers": statuses,
        "notifications_accepted": len(load.notification_ids),
        "jobs_accepted": len(load.job_ids),
        "lost": 0,
    }
    print(json.dumps({"postgres_restart": figures}))
