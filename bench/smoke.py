"""The seeds' smoke test, automated: a real host (and worker) checked end to end over HTTP.

Run: ``.venv/bin/python bench/smoke.py [--mode memory|postgres|both]`` (``nox -s smoke``). Memory
mode starts ``townsquare serve`` alone (it runs its own jobs when the mock clock moves); postgres mode
creates and migrates a fresh database ``smoke_<random>`` on ``SMOKE_PG`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``), seeds it with ``townsquare seed``, and starts
``townsquare serve`` and ``townsquare worker`` (logged in as ``townsquare_host``, the role
that owns nothing, as in production) on the Redis broker ``SMOKE_BROKER`` (default
``redis://127.0.0.1:6379/12``: a logical database of its own, so no other deployment's worker
consumes its messages). Tokens come from ``townsquare token``. Prints one JSON summary; exits 1
when any check failed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import httpx
import psycopg
from psycopg import sql

from running import Host, Worker, as_role, base_env, json_of, townsquare, wait_until
from townsquare.adapters.postgres.database import HOST_ROLE

ADMIN_DSN = os.environ.get("SMOKE_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
BROKER_URL = os.environ.get("SMOKE_BROKER", "redis://127.0.0.1:6379/12")
FEED_PAGE = 50
MAX_PRODUCTS = 10  # the shop cap: 20 % of a page of 50


class CheckFailed(AssertionError):
    """A smoke check saw something a user would call broken."""


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


class Api:
    """An HTTP client on the host with a bearer token per caller."""

    def __init__(self, base_url: str, env: dict[str, str]) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=15)
        self._env = env
        self._tokens: dict[str, str] = {}

    def token(self, user: str, *, admin: bool = False) -> str:
        key = f"{user}:{admin}"
        if key not in self._tokens:
            self._tokens[key] = townsquare(["token", user, *(["--admin"] if admin else [])], self._env)
        return self._tokens[key]

    def mint(self, callers: list[tuple[str, bool]]) -> None:
        """Mint the callers' tokens at once (each ``townsquare token`` is a process start)."""
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(len(callers)) as pool:
            list(pool.map(lambda caller: self.token(caller[0], admin=caller[1]), callers))

    def call(self, method: str, path: str, *, user: str | None = None, admin: bool = False, **kwargs: Any) -> Any:
        """Call the API, expecting a 2xx JSON answer; returns the body."""
        headers = {"Authorization": f"Bearer {self.token(user, admin=admin)}"} if user else {}
        response = self.http.request(method, path, headers=headers, **kwargs)
        expect(
            200 <= response.status_code < 300,
            f"{method} {path} answered {response.status_code}: {response.text[:300]}",
        )
        return json_of(response)


# -- the checks ----------------------------------------------------------------------------


def check_system(api: Api) -> dict[str, Any]:
    health = api.call("GET", "/health")
    expect(health == {"status": "ok"}, f"/health said {health}")
    ready = api.call("GET", "/ready")
    expect(ready["status"] == "ok", f"/ready said {ready}")
    docs = api.http.get("/schema")
    expect(docs.status_code == 200, f"/schema answered {docs.status_code}")
    schema = api.call("GET", "/schema/openapi.json")
    paths = set(schema["paths"])
    for path in ("/api/v1/feed/home", "/api/v1/notifications/counts", "/api/v1/earnings/summary"):
        expect(path in paths, f"the OpenAPI schema lacks {path}")
    return {"ready_checks": ready["checks"], "schema_paths": len(paths)}


def check_feed(api: Api) -> dict[str, Any]:
    # Given a demo user  When they open their home feed
    first = api.call("GET", "/api/v1/feed/home", user="alice", params={"limit": FEED_PAGE})
    ids = [item["item_id"] for item in first["items"]]
    products = sum(item["kind"] == "product" for item in first["items"])
    # Then a full page of distinct items, the shop cap held, and a cursor to the next page
    expect(len(ids) == FEED_PAGE, f"the first feed page has {len(ids)} items, not {FEED_PAGE}")
    expect(len(set(ids)) == len(ids), "the first feed page repeats items")
    expect(products <= MAX_PRODUCTS, f"{products} products on a page of {FEED_PAGE} (cap {MAX_PRODUCTS})")
    expect(first["next_cursor"] is not None, "the first feed page has no next_cursor")
    second = api.call(
        "GET", "/api/v1/feed/home", user="alice", params={"limit": FEED_PAGE, "cursor": first["next_cursor"]}
    )
    more = [item["item_id"] for item in second["items"]]
    expect(len(more) > 0, "the second feed page is empty")
    expect(not set(more) & set(ids), "the second feed page repeats items of the first")
    return {"first_page": len(ids), "products": products, "second_page": len(more)}


def check_notifications(api: Api, run: str) -> dict[str, Any]:
    # Given a new user with an empty bell
    user = f"smoke-reader-{run}"
    before = api.call("GET", "/api/v1/notifications/counts", user=user)
    expect(before["total"] == 0, f"a new user's bell shows {before}")
    # When the backend sends them two notifications (one twice, with the same key)
    sent = []
    for category, key in (("follow", "a"), ("order", "b"), ("follow", "a")):
        body = {
            "user_id": user,
            "channel": "inapp",
            "category": category,
            "title": f"smoke {category}",
            "idempotency_key": f"smoke-{run}-{key}",
        }
        sent.append(api.call("POST", "/api/v1/notifications/send", user="admin", admin=True, json=body))
    # Then the bell counts the two, per lane, and the retry was a duplicate
    expect(sent[0]["sent"] and sent[1]["sent"], f"sends were refused: {sent[:2]}")
    expect(sent[2]["duplicate"] and sent[2]["notification_id"] == sent[0]["notification_id"], f"retry: {sent[2]}")
    after = api.call("GET", "/api/v1/notifications/counts", user=user)
    expect(after["total"] == 2, f"the bell shows {after['total']} after two sends")
    expect(after["lanes"]["social"] == 1 and after["lanes"]["commerce"] == 1, f"lanes: {after['lanes']}")
    inbox = api.call("GET", "/api/v1/notifications", user=user)
    expect(len(inbox["items"]) == 2, f"the inbox lists {len(inbox['items'])} notifications")
    # And mark-all-read empties the bell
    marked = api.call("POST", "/api/v1/notifications/read-all", user=user, json={})
    expect(marked["marked"] == 2 and marked["counts"]["total"] == 0, f"mark all read: {marked}")
    final = api.call("GET", "/api/v1/notifications/counts", user=user)
    expect(final["total"] == 0, f"the bell shows {final} after mark all read")
    return {"before": before["total"], "after_send": after["total"], "after_read_all": final["total"]}


def check_earnings(api: Api, run: str) -> dict[str, Any]:
    # Given a creator with a 12.00 sale captured in full and a 5.00 tip still pending
    creator = f"smoke-creator-{run}"

    def record(kind: str, amount: int) -> str:
        body = {
            "creator_id": creator,
            "kind": kind,
            "amount": amount,
            "currency": "USD",
            "idempotency_key": f"smoke-{run}-{kind}",
        }
        event = api.call("POST", "/api/v1/earnings/events", user="admin", admin=True, json=body)
        return str(event["earning_id"])

    sale = record("sale", 1200)
    record("tip", 500)
    capture = {"currency": "USD", "idempotency_key": f"smoke-{run}-capture"}
    api.call("POST", f"/api/v1/earnings/events/{sale}/capture", user="admin", admin=True, json=capture)
    # When the creator opens their summary
    summary = api.call("GET", "/api/v1/earnings/summary", user=creator)
    usd = {entry["currency"]: entry for entry in summary["currencies"]}.get("USD")
    # Then the cards add up
    expect(usd is not None, f"no USD summary: {summary}")
    assert usd is not None
    expected = {"total": 1700, "captured": 1200, "pending": 500, "voided": 0, "missed": 500, "net": 1200}
    got = {key: usd[key] for key in expected}
    expect(got == expected, f"summary {got}, expected {expected}")
    expect(usd["total"] == usd["captured"] + usd["pending"] + usd["voided"], f"total does not add up: {usd}")
    return got


def check_dead_letter(api: Api, run: str, *, mock_clock: bool) -> dict[str, Any]:
    """A poison job reaches the dead-letter queue; a good one completes.

    Memory mode moves the mock clock through the backoff (60 s, 120 s). The postgres-mode
    worker runs on the wall clock, where that backoff is three real minutes, so there the
    poison job is enqueued with ``max_attempts=1``: it dies on its first failure, which
    exercises the same dead-letter path without waiting.
    """
    admin = {"user": "admin", "admin": True}
    attempts = 3 if mock_clock else 1
    poison = api.call(
        "POST",
        "/api/v1/admin/jobs/test",
        json={"fail": True, "max_attempts": attempts, "idempotency_key": f"smoke-{run}-poison"},
        **admin,
    )["job_id"]
    good = api.call(
        "POST", "/api/v1/admin/jobs/test", json={"fail": False, "idempotency_key": f"smoke-{run}-good"}, **admin
    )["job_id"]

    def job(job_id: int) -> dict[str, Any]:
        return dict(api.call("GET", f"/api/v1/admin/jobs/{job_id}", **admin))

    started = time.monotonic()
    if mock_clock:
        # Mock mode runs jobs only when told (run-due) or when the clock moves.
        api.call("POST", "/api/v1/testing/run-due")
    wait_until(lambda: job(good)["status"] == "completed", 30, "the good test job to complete", interval=0.1)
    if mock_clock:
        for attempt, backoff in ((1, 60), (2, 120)):
            wait_until(lambda a=attempt: job(poison)["attempts"] == a, 30, f"poison attempt {attempt}", interval=0.1)
            waiting = job(poison)
            expect(waiting["status"] == "pending", f"after attempt {attempt} the poison job is {waiting['status']}")
            api.call("POST", "/api/v1/testing/clock", json={"advance_seconds": backoff})
    wait_until(lambda: job(poison)["status"] == "dead", 30, "the poison job to reach the dead letters", interval=0.1)
    dead = api.call("GET", f"/api/v1/admin/jobs/dead-letters/{poison}", **admin)
    listed = api.call("GET", "/api/v1/admin/jobs/dead-letters", params={"job_type": "poison_test"}, **admin)
    stats = api.call("GET", "/api/v1/admin/jobs/stats", **admin)
    expect(len(dead["errors"]) == attempts, f"the dead job has {len(dead['errors'])} errors, not {attempts}")
    expect(poison in [entry["id"] for entry in listed["items"]], "the dead job is not in the dead-letter list")
    expect(stats["dead_letters"] >= 1, f"stats count {stats['dead_letters']} dead letters")
    gaps = [
        round(
            (_instant(later["at"]) - _instant(earlier["at"])),
        )
        for earlier, later in zip(dead["errors"], dead["errors"][1:], strict=False)
    ]
    if mock_clock:
        expect(gaps == [60, 120], f"the retries came {gaps} s apart, not 60 s then 120 s")
    return {
        "attempts": attempts,
        "retry_gaps_seconds": gaps,
        "last_error": dead["last_error"],
        "seconds": round(time.monotonic() - started, 2),
    }


def _instant(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text).timestamp()


# -- the runs ------------------------------------------------------------------------------


@contextmanager
def fresh_database() -> Iterator[str]:
    """A new empty database on the smoke server (dropped afterwards); yields its DSN."""
    name = f"smoke_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield ADMIN_DSN.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def run_mode(mode: str) -> dict[str, Any]:
    """Start the processes for ``mode``, run every check, stop them; returns the mode's summary."""
    run = uuid.uuid4().hex[:8]
    result: dict[str, Any] = {"mode": mode, "checks": {}, "failures": []}
    started = time.monotonic()
    with ExitStack() as stack:
        try:
            if mode == "memory":
                env = base_env(PORTS_MODE="memory")
            else:
                owner_dsn = stack.enter_context(fresh_database())
                # As in production: migrations as the owner, hosts and workers as the login
                # role that owns nothing (row-level security applies; docs/security.md).
                env = base_env(
                    PORTS_MODE="postgres",
                    MIGRATION_DATABASE_URL=owner_dsn,
                    DATABASE_URL=as_role(owner_dsn, HOST_ROLE),
                    BROKER_URL=BROKER_URL,
                    DATABASE_POOL_SIZE="5",
                )
                result["database_role"] = HOST_ROLE
                townsquare(["migrate"], env)
                townsquare(["seed"], env)
                worker = Worker(env)
                stack.callback(worker.stop)
            host = Host(env)
            stack.callback(host.stop)
            host.wait_healthy()
        except Exception as exc:
            result["failures"].append(f"start: {type(exc).__name__}: {exc}")
            result["seconds"] = round(time.monotonic() - started, 2)
            return result
        api = Api(host.base_url, env)
        stack.callback(api.http.close)
        callers = [("alice", False), ("admin", True), (f"smoke-reader-{run}", False), (f"smoke-creator-{run}", False)]
        api.mint(callers)
        checks: list[tuple[str, Callable[[], dict[str, Any]]]] = [
            ("system", lambda: check_system(api)),
            ("feed", lambda: check_feed(api)),
            ("notifications", lambda: check_notifications(api, run)),
            ("earnings", lambda: check_earnings(api, run)),
            ("dead_letter", lambda: check_dead_letter(api, run, mock_clock=mode == "memory")),
        ]
        for name, check in checks:
            try:
                result["checks"][name] = {"ok": True, **check()}
            except Exception as exc:  # a failed check is reported and the run goes on to the next
                result["checks"][name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
                result["failures"].append(name)
        if mode == "postgres" and not worker.alive():
            result["failures"].append(f"the worker exited:\n{worker.tail()}")
    result["seconds"] = round(time.monotonic() - started, 2)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["memory", "postgres", "both"], default="both")
    args = parser.parse_args(argv)
    modes = ["memory", "postgres"] if args.mode == "both" else [args.mode]
    results = [run_mode(mode) for mode in modes]
    ok = all(not result["failures"] for result in results)
    print(json.dumps({"ok": ok, "runs": results}, indent=2, default=str))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
