"""The job controls over HTTP, on both adapters: cancel, pause/resume, limits, bulk dead-letter actions."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from tests.http.conftest import TokenFactory
from tests.http.test_host import assert_problem
from tests.http.test_jobs import run_due
from townsquare.bootstrap import Services
from townsquare.core.clock import ManualClock
from townsquare.core.jobs import POISON_TEST_JOB

Client = TestClient[Any]
BASE = "/api/v1/admin/jobs"


def poison(client: Client, headers: dict[str, str], *, fail: bool = True) -> int:
    response = client.post(f"{BASE}/test", json={"fail": fail, "max_attempts": 1}, headers=headers)
    assert response.status_code == 201, response.text
    job_id: int = response.json()["job_id"]
    return job_id


def test_a_cancelled_job_never_runs_and_cannot_be_cancelled_again(
    client: Client, auth: TokenFactory, services: Services
) -> None:
    admin = auth("root", admin=True)
    # Given
    job_id = poison(client, admin, fail=False)
    # When
    cancelled = client.post(f"{BASE}/{job_id}/cancel", headers=admin)
    # Then
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled" and cancelled.json()["finished_at"]
    run_due(client, services, admin)
    assert client.get(f"{BASE}/{job_id}", headers=admin).json()["status"] == "cancelled"
    assert client.get(f"{BASE}/stats", headers=admin).json()["by_status"]["cancelled"] == 1
    assert_problem(client.post(f"{BASE}/{job_id}/cancel", headers=admin), 409)
    assert_problem(client.post(f"{BASE}/999999/cancel", headers=admin), 404)


def test_pause_resume_and_limits(client: Client, auth: TokenFactory, services: Services) -> None:
    admin = auth("root", admin=True)
    # When
    paused = client.post(f"{BASE}/types/{POISON_TEST_JOB}/pause", headers=admin)
    # Then
    assert paused.status_code == 200, paused.text
    assert paused.json() == {"job_type": POISON_TEST_JOB, "paused": True, "max_running": None}
    job_id = poison(client, admin, fail=False)
    run_due(client, services, admin)
    assert client.get(f"{BASE}/{job_id}", headers=admin).json()["status"] == "pending"
    controls = {entry["job_type"]: entry for entry in client.get(f"{BASE}/controls", headers=admin).json()}
    assert controls[POISON_TEST_JOB]["paused"] is True
    # When
    limited = client.post(f"{BASE}/types/{POISON_TEST_JOB}/limit", json={"max_running": 2}, headers=admin)
    resumed = client.post(f"{BASE}/types/{POISON_TEST_JOB}/resume", headers=admin)
    # Then
    assert limited.json() == {"job_type": POISON_TEST_JOB, "paused": True, "max_running": 2}
    assert resumed.json() == {"job_type": POISON_TEST_JOB, "paused": False, "max_running": 2}
    run_due(client, services, admin)
    assert client.get(f"{BASE}/{job_id}", headers=admin).json()["status"] == "completed"
    removed = client.post(f"{BASE}/types/{POISON_TEST_JOB}/limit", json={"max_running": None}, headers=admin)
    assert removed.json()["max_running"] is None


def test_bulk_replay_and_discard_by_filter(
    client: Client, auth: TokenFactory, services: Services, clock: ManualClock
) -> None:
    admin = auth("root", admin=True)
    # Given three dead poison jobs
    ids = [poison(client, admin) for _ in range(3)]
    run_due(client, services, admin)
    assert client.get(f"{BASE}/stats", headers=admin).json()["dead_letters"] == 3
    # When nothing matches
    none = client.post(f"{BASE}/dead-letters/replay", json={"error_contains": "no such error"}, headers=admin)
    assert none.status_code == 200 and none.json() == {"count": 0}
    # When replaying by type and error text (any ASCII case)
    body = {"job_type": POISON_TEST_JOB, "error_contains": "poisontestfailure", "dead_until": clock.now().isoformat()}
    assert client.post(f"{BASE}/dead-letters/replay", json=body, headers=admin).json() == {"count": 0}
    del body["dead_until"]
    replayed = client.post(f"{BASE}/dead-letters/replay", json=body, headers=admin)
    # Then
    assert replayed.json() == {"count": 3}
    assert {client.get(f"{BASE}/{job_id}", headers=admin).json()["status"] for job_id in ids} == {"pending"}
    # When they die again and are discarded
    run_due(client, services, admin)
    discarded = client.post(f"{BASE}/dead-letters/discard", json={}, headers=admin)
    # Then
    assert discarded.json() == {"count": 3}
    assert_problem(client.get(f"{BASE}/{ids[0]}", headers=admin), 404)


def test_controls_need_the_admin_role(client: Client, auth: TokenFactory) -> None:
    admin = auth("root", admin=True)
    job_id = poison(client, admin)
    for path, body in [
        (f"{BASE}/{job_id}/cancel", None),
        (f"{BASE}/types/{POISON_TEST_JOB}/pause", None),
        (f"{BASE}/types/{POISON_TEST_JOB}/resume", None),
        (f"{BASE}/types/{POISON_TEST_JOB}/limit", {"max_running": 1}),
        (f"{BASE}/dead-letters/replay", {}),
        (f"{BASE}/dead-letters/discard", {}),
    ]:
        assert_problem(client.post(path, headers=auth("alice"), json=body), 403)
        assert_problem(client.post(path, json=body), 401)
    assert_problem(client.get(f"{BASE}/controls", headers=auth("alice")), 403)
    assert client.get(f"{BASE}/{job_id}", headers=admin).json()["status"] == "pending"


BAD_REQUESTS: list[tuple[str, dict[str, Any], int]] = [
    (f"{BASE}/types/no.such.type/pause", {}, 404),
    (f"{BASE}/types/no.such.type/resume", {}, 404),
    (f"{BASE}/types/Bad%20Type!/pause", {}, 400),
    (f"{BASE}/types/no.such.type/limit", {"json": {"max_running": 1}}, 404),
    (f"{BASE}/types/{POISON_TEST_JOB}/limit", {"json": {"max_running": 0}}, 400),
    (f"{BASE}/types/{POISON_TEST_JOB}/limit", {"json": {"max_running": "two"}}, 400),
    (f"{BASE}/types/{POISON_TEST_JOB}/limit", {"json": {}}, 400),
    (f"{BASE}/dead-letters/replay", {"json": {"error_contains": ""}}, 400),
    (f"{BASE}/dead-letters/replay", {"json": {"job_type": "NOT A TYPE"}}, 400),
    (f"{BASE}/dead-letters/discard", {"json": {"dead_since": "yesterday"}}, 400),
    (f"{BASE}/dead-letters/discard", {"json": {"dead_since": "2026-01-02T00:00:00"}}, 400),
    (
        f"{BASE}/dead-letters/discard",
        {"json": {"dead_since": "2026-01-02T00:00:00Z", "dead_until": "2026-01-01T00:00:00Z"}},
        400,
    ),
    (f"{BASE}/dead-letters/discard", {"content": b"{not json"}, 400),
]


def test_bad_requests_are_problems_and_change_nothing(client: Client, auth: TokenFactory) -> None:
    admin = auth("root", admin=True)
    for path, kwargs, status in BAD_REQUESTS:
        assert_problem(client.post(path, headers=admin, **kwargs), status)
    controls = client.get(f"{BASE}/controls", headers=admin).json()
    assert all(not entry["paused"] and entry["max_running"] is None for entry in controls)
