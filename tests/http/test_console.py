"""The admin console over HTTP (no browser): sign-in, cookies, CSRF, admins only, the pages' actions."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from litestar.testing import TestClient

from townsquare.bootstrap import Services
from townsquare.core.identity import Actor, system_actor
from townsquare.core.jobs import POISON_TEST_JOB, JobStatus
from townsquare.hosts.http.auth import mint_token
from townsquare.settings import Settings

OPERATOR = system_actor("tests")


Client = TestClient[Any]
ADMIN = Actor("root", roles={"admin"})
PAGES = ["/console/jobs", "/console/jobs/1", "/console/earnings", "/console/notifications"]


def token(settings: Settings, user_id: str, *, admin: bool) -> str:
    return mint_token(settings.jwt_secret, user_id, now=datetime.now(UTC), roles=["admin"] if admin else [])


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def sign_in(client: Client, settings: Settings, *, admin: bool = True, user_id: str = "root") -> Any:
    form = client.get("/console/sign-in")
    return client.post(
        "/console/sign-in",
        data={
            "csrf_token": csrf_of(form.text),
            "token": token(settings, user_id, admin=admin),
            "next": "/console/jobs",
        },
        follow_redirects=False,
    )


def dead_job(services: Services) -> int:
    job_id = services.jobs.enqueue(POISON_TEST_JOB, {"fail": True}, max_attempts=1)
    [claimed] = [job for job in services.jobs.claim(10) if job.id == job_id]
    services.jobs.fail(claimed, "boom")
    return job_id


@pytest.mark.parametrize("path", PAGES)
def test_a_visitor_without_a_session_is_sent_to_sign_in(client: Client, path: str) -> None:
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/console/sign-in?next={path}"


def test_signing_in_keeps_the_token_in_a_strict_http_only_cookie(client: Client, settings: Settings) -> None:
    # When an admin signs in
    response = sign_in(client, settings)
    # Then they go where they were headed, with the session cookie
    assert response.status_code == 303 and response.headers["location"] == "/console/jobs"
    session = next(h for h in response.headers.get_list("set-cookie") if h.startswith("townsquare_console="))
    assert "HttpOnly" in session and "samesite=strict" in session.lower() and "Path=/console" in session
    page = client.get("/console/jobs")
    assert page.status_code == 200 and "Dead letters" in page.text


def test_a_sign_in_form_without_its_csrf_token_is_refused(client: Client, settings: Settings) -> None:
    client.get("/console/sign-in")
    response = client.post(
        "/console/sign-in", data={"token": token(settings, "root", admin=True)}, follow_redirects=False
    )
    assert response.status_code == 403 and "CSRF" in response.text
    assert "townsquare_console=" not in response.headers.get("set-cookie", "")


def test_a_bad_token_is_a_401_on_the_form(client: Client) -> None:
    form = client.get("/console/sign-in")
    response = client.post("/console/sign-in", data={"csrf_token": csrf_of(form.text), "token": "nope"})
    assert response.status_code == 401 and "invalid" in response.text
    assert client.get("/console/jobs", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("path", PAGES)
def test_a_non_admin_session_gets_403_on_every_page(client: Client, settings: Settings, path: str) -> None:
    # Given a non-admin's token in the cookie (set by hand: sign-in itself refuses them)
    assert sign_in(client, settings, admin=False, user_id="alice").status_code == 403
    client.cookies.set("townsquare_console", token(settings, "alice", admin=False), path="/console")
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 403 and "admin role" in response.text


def test_replay_needs_the_csrf_token_and_then_requeues(client: Client, settings: Settings, services: Services) -> None:
    # Given a dead job and a signed-in admin
    job_id = dead_job(services)
    sign_in(client, settings)
    page = client.get("/console/jobs")
    assert f'data-dead-job="{job_id}"' in page.text
    # When the replay form arrives without its token (or with another session's), nothing changes
    for form in ({}, {"csrf_token": "0" * 64}):
        refused = client.post(f"/console/jobs/{job_id}/replay", data=form, follow_redirects=False)
        assert refused.status_code == 403 and "nothing was changed" in refused.text
        assert services.jobs.get(OPERATOR, job_id).status is JobStatus.DEAD
    # When it carries it, the job is pending again
    done = client.post(
        f"/console/jobs/{job_id}/replay", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"].startswith("/console/jobs?notice=")
    assert services.jobs.get(OPERATOR, job_id).status is JobStatus.PENDING
    # And replaying it again is a clear 409 on the page
    again = client.post(f"/console/jobs/{job_id}/replay", data={"csrf_token": csrf_of(page.text)})
    assert again.status_code == 409 and "only dead jobs can be replayed" in again.text


def test_a_job_can_be_inspected(client: Client, settings: Settings, services: Services) -> None:
    job_id = dead_job(services)
    sign_in(client, settings)
    page = client.get(f"/console/jobs/{job_id}")
    assert page.status_code == 200 and "boom" in page.text and "&#34;fail&#34;: true" in page.text
    assert client.get("/console/jobs/999999").status_code == 404


def test_a_test_send_and_the_recipients_counts(client: Client, settings: Settings, services: Services) -> None:
    sign_in(client, settings)
    page = client.get("/console/notifications?user_id=alice")
    sent = client.post(
        "/console/notifications/send",
        data={"csrf_token": csrf_of(page.text), "user_id": "alice", "channel": "inapp", "category": "system"},
    )
    assert sent.status_code == 200 and "Sent " in sent.text
    assert services.notifications.counts(Actor("alice")).total == 1
    assert 'data-lane="total">1<' in sent.text
    refused = client.post("/console/notifications/send", data={"user_id": "alice", "channel": "inapp"})
    assert refused.status_code == 403 and services.notifications.counts(Actor("alice")).total == 1


def test_earnings_cards_timeline_and_recompute(client: Client, settings: Settings, services: Services) -> None:
    from townsquare.core.identity import Actor

    admin = Actor("root", {"admin"})
    services.earnings.record(admin, creator_id="carol", kind="sale", amount=1250, currency="USD", idempotency_key="e1")
    sign_in(client, settings)
    page = client.get("/console/earnings?creator_id=carol")
    assert page.status_code == 200 and "12.50 USD" in page.text
    done = client.post("/console/earnings/recompute", data={"csrf_token": csrf_of(page.text), "creator_id": "carol"})
    assert done.status_code == 200 and "Recomputed 1 events" in done.text


def test_cancel_pause_limit_and_bulk_controls_need_the_csrf_token(
    client: Client, settings: Settings, services: Services
) -> None:
    # Given a pending job, two dead letters and a signed-in admin
    dead = [dead_job(services), dead_job(services)]
    pending = services.jobs.enqueue(POISON_TEST_JOB, {"fail": False})
    sign_in(client, settings)
    page = client.get("/console/jobs")
    csrf = csrf_of(page.text)
    assert f'data-pending-job="{pending}"' in page.text and f'data-control="{POISON_TEST_JOB}"' in page.text
    forms = [
        (f"/console/jobs/{pending}/cancel", {}),
        (f"/console/jobs/types/{POISON_TEST_JOB}/pause", {}),
        (f"/console/jobs/types/{POISON_TEST_JOB}/limit", {"max_running": "2"}),
        ("/console/jobs/dead-letters/discard", {}),
    ]
    # When the forms arrive without the token, nothing changes
    for path, fields in forms:
        refused = client.post(path, data=fields, follow_redirects=False)
        assert refused.status_code == 403 and "nothing was changed" in refused.text
    assert services.jobs.get(OPERATOR, pending).status is JobStatus.PENDING
    assert services.jobs.stats(OPERATOR).dead_letters == 2
    assert not any(control.paused or control.max_running for control in services.jobs.type_controls(ADMIN))
    # When they carry it
    for path, fields in forms[:3]:
        done = client.post(path, data={"csrf_token": csrf, **fields}, follow_redirects=False)
        assert done.status_code == 303, done.text
    replayed = client.post(
        "/console/jobs/dead-letters/replay",
        data={"csrf_token": csrf, "job_type": POISON_TEST_JOB, "error_contains": "BOOM", "dead_since_hours": "1"},
        follow_redirects=False,
    )
    # Then
    assert replayed.status_code == 303 and "2+dead+letters+replayed" in replayed.headers["location"]
    assert services.jobs.get(OPERATOR, pending).status is JobStatus.CANCELLED
    control = next(c for c in services.jobs.type_controls(ADMIN) if c.job_type == POISON_TEST_JOB)
    assert control.paused and control.max_running == 2
    assert {services.jobs.get(OPERATOR, job_id).status for job_id in dead} == {JobStatus.PENDING}
    assert 'data-control-state="poison_test">paused, limit 2' in client.get("/console/jobs").text
    # And bad input or a finished job is a clear error on the page, nothing changed
    bad = client.post(f"/console/jobs/types/{POISON_TEST_JOB}/limit", data={"csrf_token": csrf, "max_running": "lots"})
    assert bad.status_code == 400 and "max_running" in bad.text
    again = client.post(f"/console/jobs/{pending}/cancel", data={"csrf_token": csrf})
    assert again.status_code == 409 and "only pending or running jobs can be cancelled" in again.text
    unknown = client.post("/console/jobs/types/no.such.type/pause", data={"csrf_token": csrf})
    assert unknown.status_code == 404
