"""The admin job endpoints over HTTP, on both adapters: the poison_test flow, dead letters, bad input."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar.testing import TestClient

from tests.conftest import memory_settings
from tests.http.conftest import TokenFactory
from tests.http.test_host import assert_problem
from townsquare.bootstrap import Services
from townsquare.core.clock import ManualClock
from townsquare.core.jobs import JobRunner
from townsquare.hosts.http.app import create_app
from townsquare.hosts.http.auth import mint_token
from townsquare.settings import Settings

Client = TestClient[Any]
BASE = "/api/v1/admin/jobs"


def run_due(client: Client, services: Services, headers: dict[str, str]) -> None:
    """Memory mode runs jobs in the HTTP process (the admin route); Postgres mode in a worker."""
    if services.settings.is_memory:
        response = client.post(f"{BASE}/run-due", headers=headers)
        assert response.status_code == 200, response.text
    else:
        JobRunner(services.jobs, services.job_handlers).run_due()


def test_poison_test_goes_60s_then_120s_then_dead_and_can_be_replayed(
    client: Client, auth: TokenFactory, services: Services, clock: ManualClock
) -> None:
    admin = auth("root", admin=True)
    # Given an admin enqueues a failing test job
    created = client.post(f"{BASE}/test", json={"fail": True}, headers=admin)
    assert created.status_code == 201, created.text
    job_id = created.json()["job_id"]
    start = clock.now()
    # When it runs and fails, it waits 60 s, then 120 s
    run_due(client, services, admin)
    job = client.get(f"{BASE}/{job_id}", headers=admin).json()
    assert (job["status"], job["attempts"]) == ("pending", 1)
    assert job["run_at"].startswith((start + timedelta(seconds=60)).isoformat()[:19])
    clock.advance(timedelta(seconds=60))
    run_due(client, services, admin)
    job = client.get(f"{BASE}/{job_id}", headers=admin).json()
    assert job["run_at"].startswith((start + timedelta(seconds=180)).isoformat()[:19])
    clock.advance(timedelta(seconds=120))
    run_due(client, services, admin)
    # Then it is dead, listed, inspectable, counted
    dead = client.get(f"{BASE}/dead-letters", headers=admin).json()
    assert [item["id"] for item in dead["items"]] == [job_id]
    inspected = client.get(f"{BASE}/dead-letters/{job_id}", headers=admin).json()
    assert inspected["status"] == "dead" and len(inspected["errors"]) == 3
    assert "PoisonTestFailure" in inspected["last_error"]
    stats = client.get(f"{BASE}/stats", headers=admin).json()
    assert stats["dead_letters"] == 1 and stats["by_status"]["dead"] == 1
    # And a replay gives it fresh attempts
    replayed = client.post(f"{BASE}/dead-letters/{job_id}/replay", headers=admin)
    assert replayed.status_code == 200, replayed.text
    assert (replayed.json()["status"], replayed.json()["attempts"]) == ("pending", 0)
    listed = client.get(BASE, params={"status": "pending", "job_type": "poison_test"}, headers=admin).json()
    assert [item["id"] for item in listed["items"]] == [job_id]


def test_a_succeeding_test_job_completes(client: Client, auth: TokenFactory, services: Services) -> None:
    admin = auth("root", admin=True)
    # Given
    job_id = client.post(f"{BASE}/test", json={"fail": False}, headers=admin).json()["job_id"]
    # When
    run_due(client, services, admin)
    # Then
    assert client.get(f"{BASE}/{job_id}", headers=admin).json()["status"] == "completed"


def test_list_pages_by_cursor(client: Client, auth: TokenFactory) -> None:
    admin = auth("root", admin=True)
    # Given
    ids = [client.post(f"{BASE}/test", json={"fail": False}, headers=admin).json()["job_id"] for _ in range(3)]
    # When
    first = client.get(BASE, params={"status": "pending", "job_type": "poison_test", "limit": 2}, headers=admin).json()
    second = client.get(
        BASE,
        params={"status": "pending", "job_type": "poison_test", "limit": 2, "cursor": first["next_cursor"]},
        headers=admin,
    ).json()
    # Then
    assert [item["id"] for item in first["items"] + second["items"]] == sorted(ids, reverse=True)
    assert second["next_cursor"] is None


def test_job_endpoints_need_the_admin_role(client: Client, auth: TokenFactory) -> None:
    for method, path in [("GET", f"{BASE}/stats"), ("POST", f"{BASE}/test"), ("GET", f"{BASE}/dead-letters")]:
        assert_problem(client.request(method, path, headers=auth("alice"), json={}), 403)
        assert_problem(client.request(method, path, json={}), 401)


BAD_REQUESTS: list[tuple[str, str, dict[str, Any], int]] = [
    ("GET", BASE, {"params": {"status": "exploded"}}, 400),
    ("GET", BASE, {"params": {"status": "dead", "limit": 0}}, 400),
    ("GET", BASE, {"params": {"status": "dead", "cursor": "forged"}}, 400),
    ("GET", BASE, {"params": {"status": "dead", "job_type": "NOT A TYPE"}}, 400),
    ("GET", f"{BASE}/999999", {}, 404),
    ("GET", f"{BASE}/dead-letters/999999", {}, 404),
    ("POST", f"{BASE}/dead-letters/999999/replay", {}, 404),
    ("POST", f"{BASE}/test", {"json": {"fail": True, "max_attempts": 0}}, 400),
    ("POST", f"{BASE}/test", {"json": {"fail": "maybe"}}, 400),
    ("POST", f"{BASE}/test", {"content": b"{not json"}, 400),
]


def test_bad_requests_are_problems(client: Client, auth: TokenFactory) -> None:
    for method, path, kwargs, status in BAD_REQUESTS:
        assert_problem(client.request(method, path, headers=auth("root", admin=True), **kwargs), status)


def test_replaying_a_job_that_is_not_dead_is_a_conflict(client: Client, auth: TokenFactory) -> None:
    admin = auth("root", admin=True)
    job_id = client.post(f"{BASE}/test", json={"fail": True}, headers=admin).json()["job_id"]
    assert_problem(client.post(f"{BASE}/dead-letters/{job_id}/replay", headers=admin), 409)


def admin_headers(settings: Settings) -> dict[str, str]:
    token = mint_token(settings.jwt_secret, "root", now=datetime.now(UTC), roles=["admin"])
    return {"Authorization": f"Bearer {token}"}


def test_on_the_wall_clock_the_memory_mode_host_runs_due_jobs_in_the_background() -> None:
    # Given the HTTP host as `townsquare serve` builds it in memory mode on the wall clock
    settings = memory_settings(frozen_clock=None)
    with TestClient(create_app(settings)) as client:
        admin = admin_headers(settings)
        # When an admin enqueues a job and nobody calls run-due
        job_id = client.post(f"{BASE}/test", json={"fail": False}, headers=admin).json()["job_id"]
        # Then the host's background runner completes it
        deadline = time.monotonic() + 10
        while client.get(f"{BASE}/{job_id}", headers=admin).json()["status"] != "completed":
            assert time.monotonic() < deadline, "the background runner did not run the job"
            time.sleep(0.05)


def test_on_the_mock_clock_jobs_run_only_when_the_clock_moves_or_on_run_due() -> None:
    # Given the host as `townsquare serve` builds it in mock mode (frozen clock, demo data)
    settings = memory_settings(seed_demo_data=True)
    with TestClient(create_app(settings)) as client:
        admin = admin_headers(settings)
        assert client.post("/api/v1/testing/reset").status_code == 201
        assert client.post("/api/v1/testing/seed").status_code == 201
        seeded = client.get(f"{BASE}/stats", headers=admin).json()
        job_id = client.post(f"{BASE}/test", json={"fail": False}, headers=admin).json()["job_id"]
        # When time passes on the wall clock only (a background round would take 0.25 s)
        time.sleep(0.6)
        # Then nothing ran: the demo jobs and the new one wait, no periodic job was queued
        assert seeded["by_status"] == {"pending": 2, "running": 0, "completed": 0, "dead": 0, "cancelled": 0}
        assert client.get(f"{BASE}/{job_id}", headers=admin).json()["status"] == "pending"
        assert client.get(f"{BASE}/stats", headers=admin).json()["by_status"]["pending"] == 3
        # When the clock moves by less than any period: the due jobs run, no periodic work
        moved = client.post("/api/v1/testing/clock", json={"advance_seconds": 1}).json()
        assert moved["jobs"] == {"completed": 2, "failed": 1, "stale": 0, "rescued": 0, "scheduled": 0}
        assert client.get(f"{BASE}/{job_id}", headers=admin).json()["status"] == "completed"
        # When it passes the one-minute periodic jobs' due time (the outbox sweep and the
        # waitlist offers' expiry): those two run (and the delivery the sweep queues for
        # alice's demo mail)
        moved = client.post("/api/v1/testing/clock", json={"advance_seconds": 59}).json()
        assert (moved["jobs"]["scheduled"], moved["jobs"]["completed"]) == (2, 3)
        # And run-due runs every other schedule's current period at once, once per period
        # (the two one-minute jobs ran this period already; the digest check also queues a
        # build: bob's weekly digest is due since Monday)
        types = client.get(f"{BASE}/types", headers=admin).json()
        periodic = sum(entry["every_seconds"] is not None for entry in types)
        first = client.post("/api/v1/testing/run-due").json()
        assert (first["scheduled"], first["completed"]) == (periodic, periodic - 2 + 1)
        again = client.post("/api/v1/testing/run-due").json()
        assert (again["scheduled"], again["completed"]) == (periodic, 0)


def test_run_due_runs_jobs_in_memory_mode_only(client: Client, auth: TokenFactory, services: Services) -> None:
    # When
    response = client.post(f"{BASE}/run-due", headers=auth("root", admin=True))
    # Then: Postgres mode leaves running jobs to the worker process
    if services.settings.is_memory:
        assert response.status_code == 200 and response.json()["failed"] == 0
    else:
        assert "worker" in assert_problem(response, 409)["detail"]
