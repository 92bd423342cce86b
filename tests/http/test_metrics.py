"""``/metrics`` on the HTTP host: admins only, route templates as labels, the queue gauges, sends."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import memory_settings
from tests.http.conftest import TokenFactory
from townsquare.bootstrap import bootstrap
from townsquare.core.jobs import POISON_TEST_JOB
from townsquare.hosts.http.app import create_app

Client = TestClient[Any]


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, keyed by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_need_an_admin_token(client: Client, auth: TokenFactory) -> None:
    # No token: the API's 401; a user's token: 403; neither sees a metric
    anonymous = client.get("/metrics")
    assert anonymous.status_code == 401 and "townsquare_" not in anonymous.text
    user = client.get("/metrics", headers=auth("alice"))
    assert user.status_code == 403 and "townsquare_" not in user.text
    # An admin gets the exposition
    admin = client.get("/metrics", headers=auth("root", admin=True))
    assert admin.status_code == 200
    assert admin.headers["content-type"].startswith("text/plain")


def test_requests_are_counted_by_route_template_method_and_status(client: Client, auth: TokenFactory) -> None:
    # Given requests to a templated route, a 404 and a refused call
    admin = auth("root", admin=True)
    for job_id in (1, 2, 3):
        client.get(f"/api/v1/admin/jobs/{job_id}", headers=admin)
    client.get("/no/such/path/42", headers=admin)
    client.get("/api/v1/admin/jobs/stats", headers=auth("alice"))
    # When
    found = samples(client.get("/metrics", headers=admin).text)
    # Then the path parameter is not a label, an unmatched path is "unmatched"
    count = "townsquare_http_request_duration_seconds_count"
    assert found[(count, (("method", "GET"), ("route", "/api/v1/admin/jobs/{job_id}"), ("status", "404")))] == 3
    assert found[(count, (("method", "GET"), ("route", "unmatched"), ("status", "404")))] == 1
    assert found[(count, (("method", "GET"), ("route", "/api/v1/admin/jobs/stats"), ("status", "403")))] == 1
    assert not any("42" in dict(labels).get("route", "") for _, labels in found)


def test_queue_depth_and_dead_letters_are_read_on_scrape(client: Client, auth: TokenFactory, services: Any) -> None:
    # Given a pending test job and a dead one
    services.jobs.enqueue(POISON_TEST_JOB, {"fail": False})
    dead = services.jobs.enqueue(POISON_TEST_JOB, {"fail": True}, max_attempts=1)
    [claimed] = [job for job in services.jobs.claim(10) if job.id == dead]
    services.jobs.fail(claimed, "boom")
    # When
    found = samples(client.get("/metrics", headers=auth("root", admin=True)).text)
    # Then
    assert found[("townsquare_jobs", (("job_type", POISON_TEST_JOB), ("status", "dead")))] == 1
    assert found[("townsquare_jobs_dead_letters", ())] == 1
    assert found[("townsquare_stats_up", ())] == 1
    assert found[("townsquare_mail_outbox_backlog", ())] == 0


def test_sends_are_counted_by_outcome_and_refusal_reason(client: Client, auth: TokenFactory) -> None:
    # Given alice turned push off; an admin sends her one in-app and one push notification
    admin = auth("root", admin=True)
    client.patch("/api/v1/notification-prefs", json={"channels": {"push": False}}, headers=auth("alice"))
    body = {"user_id": "alice", "category": "like", "title": "Hi"}
    assert client.post("/api/v1/notifications/send", json={**body, "channel": "inapp"}, headers=admin).json()["sent"]
    assert not client.post("/api/v1/notifications/send", json={**body, "channel": "push"}, headers=admin).json()["sent"]
    # When
    found = samples(client.get("/metrics", headers=admin).text)
    # Then
    sends = "townsquare_notification_send_duration_seconds_count"
    assert found[(sends, (("channel", "inapp"), ("outcome", "sent"), ("reason", "")))] == 1
    assert found[(sends, (("channel", "push"), ("outcome", "refused"), ("reason", "channel_off")))] == 1


def test_metrics_switched_off_record_nothing_and_answer_404(auth: TokenFactory) -> None:
    settings = memory_settings(metrics_enabled=False)
    services = bootstrap(settings)
    with TestClient(create_app(settings, services)) as client:
        response = client.get("/metrics", headers=auth("root", admin=True))
    assert response.status_code == 404
    assert "METRICS_ENABLED" in response.json()["detail"]
