"""The composer over HTTP, on both adapters: own drafts only, stale versions, schedules, bad input."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from litestar.testing import TestClient

from tests.http.conftest import TokenFactory
from tests.http.test_host import assert_problem
from townsquare.bootstrap import Services
from townsquare.core.clock import ManualClock
from townsquare.core.jobs import JobRunner

Client = TestClient[Any]
DRAFTS = "/api/v1/composer/drafts"


def create(client: Client, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = client.post(DRAFTS, json={"title": "Hello", "body": "words", **body}, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_write_autosave_and_publish_a_draft(client: Client, auth: TokenFactory) -> None:
    alice = auth("alice")
    # Given a new draft
    draft = create(client, alice, body="**hi** <script>x</script>", mentions=["bob"])
    assert draft["version"] == 1 and draft["mentions"] == ["bob"] and draft["schedule"] is None
    url = f"{DRAFTS}/{draft['draft_id']}"
    # When it is autosaved twice
    first = client.put(url, json={"version": 1, "title": "Hello", "body": "**hi** again"}, headers=alice)
    second = client.put(url, json={"version": 2, "title": "Hello!", "body": "**hi** again"}, headers=alice)
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json()["version"] == 3
    # Then get, list and preview show it
    assert client.get(url, headers=alice).json()["title"] == "Hello!"
    listed = client.get(DRAFTS, headers=alice).json()
    assert [d["draft_id"] for d in listed["drafts"]] == [draft["draft_id"]] and listed["next_cursor"] is None
    preview = client.get(f"{url}/preview", headers=alice).json()["html"]
    assert preview == "<p><strong>hi</strong> again</p>\n"
    # And publishing puts it in the feed and removes the draft
    published = client.post(f"{url}/publish", json={"version": 3}, headers=alice)
    assert published.status_code == 201, published.text
    assert published.json()["item_id"] == f"post:{draft['draft_id']}"
    feed = client.get("/api/v1/feed/home", headers=auth("bob")).json()
    assert [item["title"] for item in feed["items"]] == ["Hello!"]
    assert_problem(client.get(url, headers=alice), 404)


def test_a_stale_save_is_a_409_holding_the_current_version_and_text(client: Client, auth: TokenFactory) -> None:
    alice = auth("alice")
    draft = create(client, alice)
    url = f"{DRAFTS}/{draft['draft_id']}"
    client.put(url, json={"version": 1, "title": "Hello", "body": "from the laptop"}, headers=alice)
    # When the phone saves based on version 1
    stale = client.put(url, json={"version": 1, "title": "Hello", "body": "from the phone"}, headers=alice)
    # Then it is a 409 with the current draft, and nothing changed
    body = assert_problem(stale, 409)
    assert body["field"] == "version" and body["type"].endswith("/stale_version")
    assert body["current"]["version"] == 2 and body["current"]["body"] == "from the laptop"
    assert client.get(url, headers=alice).json()["body"] == "from the laptop"


def test_someone_elses_draft_is_a_404(client: Client, auth: TokenFactory) -> None:
    draft = create(client, auth("alice"))
    url = f"{DRAFTS}/{draft['draft_id']}"
    bob = auth("bob")
    assert assert_problem(client.get(url, headers=bob), 404)["field"] == "draft_id"
    assert_problem(client.put(url, json={"version": 1, "title": "mine"}, headers=bob), 404)
    assert_problem(client.delete(url, params={"version": 1}, headers=bob), 404)
    assert_problem(client.post(f"{url}/publish", json={"version": 1}, headers=bob), 404)
    assert client.get(url, headers=auth("alice")).json()["version"] == 1


def test_schedule_reschedule_cancel_and_the_job_publishes_once(
    client: Client, auth: TokenFactory, services: Services, clock: ManualClock
) -> None:
    alice = auth("alice")
    draft = create(client, alice, title="Scheduled")
    url = f"{DRAFTS}/{draft['draft_id']}"
    # When it is scheduled for 09:00 Paris time tomorrow (08:00 UTC), then moved to 10:00
    body = {"version": 1, "local_time": "2026-01-16T09:00:00", "time_zone": "Europe/Paris"}
    scheduled = client.put(f"{url}/schedule", json=body, headers=alice)
    assert scheduled.status_code == 200, scheduled.text
    assert scheduled.json()["schedule"]["publish_at"] == "2026-01-16T08:00:00Z"
    moved = client.put(
        f"{url}/schedule", json={**body, "version": 2, "local_time": "2026-01-16T10:00:00"}, headers=alice
    )
    assert moved.json()["schedule"]["local_time"] == "2026-01-16T10:00:00"
    runner = JobRunner(services.jobs, services.job_handlers)
    # Then nothing publishes at the first time
    clock.set(datetime(2026, 1, 16, 8, 30, tzinfo=UTC))
    runner.run_due()
    assert client.get(url, headers=alice).status_code == 200
    # And cancelling, then scheduling again, publishes once at the new time
    cancelled = client.post(f"{url}/unschedule", json={"version": 3}, headers=alice)
    assert cancelled.json()["schedule"] is None
    again = {"version": 4, "local_time": "2026-01-16T10:00:00", "time_zone": "Europe/Paris"}
    assert client.put(f"{url}/schedule", json=again, headers=alice).status_code == 200
    clock.set(datetime(2026, 1, 16, 9, 0, tzinfo=UTC))
    runner.run_due()
    runner.run_due()
    feed = client.get("/api/v1/feed/home", headers=auth("bob")).json()
    assert [item["title"] for item in feed["items"]] == ["Scheduled"]


def test_bad_input_is_a_problem_naming_the_field(client: Client, auth: TokenFactory) -> None:
    alice = auth("alice")
    draft = create(client, alice)
    url = f"{DRAFTS}/{draft['draft_id']}"
    cases = [
        (
            client.put(
                f"{url}/schedule",
                json={"version": 1, "local_time": "2026-01-15T11:00:00", "time_zone": "UTC"},
                headers=alice,
            ),
            "local_time",
        ),
        (
            client.put(
                f"{url}/schedule",
                json={"version": 1, "local_time": "2026-01-16T11:00:00", "time_zone": "Nowhere/Town"},
                headers=alice,
            ),
            "time_zone",
        ),
        (client.put(url, json={"version": 1, "body": "x" * 2001}, headers=alice), "body"),
        (client.put(url, json={"version": 0, "body": "x"}, headers=alice), "version"),
        (
            client.put(
                f"{url}/schedule",
                json={"version": 1, "local_time": "2026-01-16T11:00:00+02:00", "time_zone": "UTC"},
                headers=alice,
            ),
            "local_time",
        ),
        (client.post(DRAFTS, json={"attachments": ["../../etc/passwd"]}, headers=alice), "attachments"),
        (client.get(DRAFTS, params={"cursor": "garbage"}, headers=alice), "cursor"),
    ]
    for response, field in cases:
        assert assert_problem(response, 400)["field"] == field
    assert client.get(url, headers=alice).json()["version"] == 1


def test_preview_any_markdown(client: Client, auth: TokenFactory) -> None:
    response = client.post(
        "/api/v1/composer/preview", json={"body": "[a](https://x.test) <img src=x onerror=alert(1)>"}, headers=auth("a")
    )
    assert response.json()["html"] == (
        '<p><a href="https://x.test" rel="nofollow noopener noreferrer">a</a> &lt;img src=x onerror=alert(1)&gt;</p>\n'
    )


def test_search_answers_any_text_and_refuses_a_10_kb_query(client: Client, auth: TokenFactory) -> None:
    admin = auth("root", admin=True)
    put = client.put(
        "/api/v1/composer/entities",
        json={
            "kind": "creator",
            "entity_id": "u-ember",
            "handle": "ember",
            "name": "Ember Ceramics",
            "owner_id": "u-ember",
        },
        headers=admin,
    )
    assert put.status_code == 200, put.text
    alice = auth("alice")
    found = client.get("/api/v1/composer/search", params={"q": "@emb"}, headers=alice)
    assert found.status_code == 200 and found.json()["hits"][0]["handle"] == "ember"
    for q in ["a & !b:*", "'\\%_", "👩‍👩‍👧", "(((<->", "e\u0301"]:
        assert client.get("/api/v1/composer/search", params={"q": q}, headers=alice).status_code == 200
    too_long = client.get("/api/v1/composer/search", params={"q": "x" * 10_240}, headers=alice)
    assert assert_problem(too_long, 400)["field"] == "q"
    kinds = client.get("/api/v1/composer/search", params={"q": "e", "kinds": ["people"]}, headers=alice)
    assert assert_problem(kinds, 400)["field"] == "kinds"
    # And only owners write entities
    theirs = {"kind": "creator", "entity_id": "u-ember", "handle": "mine", "name": "Mine", "owner_id": "u-ember"}
    assert_problem(client.put("/api/v1/composer/entities", json=theirs, headers=alice), 403)


def test_upload_an_image_whatever_content_type_the_client_claims(
    client: Client, auth: TokenFactory, services: Services
) -> None:
    from tests.contract.test_composer_media import photo_with_gps

    alice = auth("alice")
    # When a JPEG is sent claiming to be a PNG
    uploaded = client.post(
        "/api/v1/composer/media", content=photo_with_gps(), headers={**alice, "content-type": "image/png"}
    )
    assert uploaded.status_code == 201, uploaded.text
    media = uploaded.json()
    # Then it is stored as what it is, and served as that
    assert media["content_type"] == "image/jpeg" and media["thumbnail_key"] is None
    content = client.get(f"/api/v1/composer/media/{media['media_key']}/content", headers=alice)
    assert content.headers["content-type"] == "image/jpeg" and content.headers["x-content-type-options"] == "nosniff"
    JobRunner(services.jobs, services.job_handlers).run_due()
    assert client.get(f"/api/v1/composer/media/{media['media_key']}/thumbnail", headers=alice).status_code == 200
    assert client.get(f"/api/v1/composer/media/{media['media_key']}", headers=auth("bob")).status_code == 404
    # And a script claiming to be an image is a 400 naming the file
    fake = client.post(
        "/api/v1/composer/media", content=b"<script>alert(1)</script>", headers={**alice, "content-type": "image/jpeg"}
    )
    assert assert_problem(fake, 400)["field"] == "file"
