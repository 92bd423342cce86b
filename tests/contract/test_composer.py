"""The composer's contract, on both adapters: drafts, versioned saves, previews, publishing, schedules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from townsquare.bootstrap import Services
from townsquare.core.clock import ManualClock
from townsquare.core.composer import (
    BODY_MAX_GRAPHEMES,
    MAX_SCHEDULED_PER_AUTHOR,
    Draft,
    DraftConflict,
    make_content,
    publish_job_key,
)
from townsquare.core.errors import Conflict, InvalidCursor, InvalidInput, NotFound
from townsquare.core.feed import make_draft as make_feed_draft
from townsquare.core.identity import Actor
from townsquare.core.jobs import JobRunner

ALICE = Actor("alice")
BOB = Actor("bob")


def draft(services: Services, title: str = "Hello", body: str = "first words", actor: Actor = ALICE) -> Draft:
    return services.composer.create(actor, make_content(title, body))


def run_due_jobs(services: Services) -> None:
    JobRunner(services.jobs, services.job_handlers).run_due()


def feed_titles(services: Services) -> list[str]:
    return [item.title for item in services.feed.home(BOB).items]


# -- drafts ----------------------------------------------------------------------------


def test_a_draft_starts_at_version_one_and_each_save_moves_it_on(services: Services, clock: ManualClock) -> None:
    # Given a new draft
    created = draft(services)
    assert created.version == 1 and created.author_id == "alice"
    # When the author saves twice, each time based on the version they got back
    clock.advance(timedelta(seconds=1))
    first = services.composer.save(ALICE, created.draft_id, 1, make_content("Hello", "more words"))
    second = services.composer.save(ALICE, created.draft_id, first.version, make_content("Hello!", "more words"))
    # Then the versions count the changes and get() shows the last
    assert (first.version, second.version) == (2, 3)
    got = services.composer.get(ALICE, created.draft_id)
    assert got == second and got.content.title == "Hello!" and got.updated_at == clock.now()


def test_a_stale_save_is_a_conflict_carrying_the_current_text_and_writes_nothing(services: Services) -> None:
    # Given a draft two writers read at version 1, and one of them saved
    created = draft(services)
    services.composer.save(ALICE, created.draft_id, 1, make_content("Hello", "tab one"))
    # When the other saves based on version 1
    with pytest.raises(DraftConflict) as caught:
        services.composer.save(ALICE, created.draft_id, 1, make_content("Hello", "tab two"))
    # Then the conflict carries version 2 and its text, and the draft is unchanged
    assert caught.value.current.version == 2 and caught.value.current.content.body == "tab one"
    assert caught.value.field == "version"
    assert services.composer.get(ALICE, created.draft_id).content.body == "tab one"


def test_a_retried_save_whose_answer_was_lost_is_no_conflict(services: Services) -> None:
    created = draft(services)
    saved = services.composer.save(ALICE, created.draft_id, 1, make_content("Hello", "typed"))
    # When the same save arrives again, still based on version 1
    again = services.composer.save(ALICE, created.draft_id, 1, make_content("Hello", "typed"))
    # Then it returns the draft as it is
    assert again == saved


def test_another_authors_draft_is_not_found_for_every_operation(services: Services) -> None:
    created = draft(services)
    draft_id = created.draft_id
    when = datetime(2026, 1, 16, 9, 0)
    for operation in (
        lambda: services.composer.get(BOB, draft_id),
        lambda: services.composer.save(BOB, draft_id, 1, make_content("mine now")),
        lambda: services.composer.delete(BOB, draft_id, 1),
        lambda: services.composer.publish(BOB, draft_id, 1),
        lambda: services.composer.schedule(BOB, draft_id, 1, when, "UTC"),
        lambda: services.composer.cancel_schedule(BOB, draft_id, 1),
        lambda: services.composer.preview(BOB, draft_id),
    ):
        with pytest.raises(NotFound) as caught:
            operation()
        assert caught.value.field == "draft_id"
    assert services.composer.get(ALICE, draft_id) == created
    assert services.composer.list_mine(BOB).drafts == ()


def test_a_client_chosen_id_makes_create_retryable_and_is_never_shared(services: Services) -> None:
    first = services.composer.create(ALICE, make_content("a"), draft_id="note-1")
    again = services.composer.create(ALICE, make_content("other text"), draft_id="note-1")
    assert again == first
    with pytest.raises(Conflict) as caught:
        services.composer.create(BOB, make_content("b"), draft_id="note-1")
    assert caught.value.field == "draft_id"
    with pytest.raises(InvalidInput) as bad:
        services.composer.create(ALICE, make_content("c"), draft_id="../etc")
    assert bad.value.field == "draft_id"


def test_limits_count_grapheme_clusters_and_name_the_field() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # one character on screen, five code points
    assert make_content("t", "e\u0301" * BODY_MAX_GRAPHEMES).body  # 2,000 accented letters: 4,000 code points
    assert make_content(family * 40).title  # 40 characters: 200 code points, the feed's storage bound
    for kwargs, field in [
        ({"title": "x" * 101}, "title"),
        ({"title": family * 41}, "title"),
        ({"body": "x" * (BODY_MAX_GRAPHEMES + 1)}, "body"),
        ({"body": family * 1001}, "body"),
        ({"body": "nul\x00"}, "body"),
        ({"title": "\ud800"}, "title"),
        ({"attachments": ["not-a-hash"]}, "attachments"),
        ({"attachments": ["a" * 64, "a" * 64]}, "attachments"),
        ({"mentions": ["x" * 201]}, "mentions"),
        ({"mentions": "bob"}, "mentions"),
    ]:
        with pytest.raises(InvalidInput) as caught:
            make_content(**kwargs)  # type: ignore[arg-type]
        assert caught.value.field == field


def test_delete_needs_the_current_version(services: Services) -> None:
    created = draft(services)
    services.composer.save(ALICE, created.draft_id, 1, make_content("Hello", "v2"))
    with pytest.raises(DraftConflict):
        services.composer.delete(ALICE, created.draft_id, 1)
    services.composer.delete(ALICE, created.draft_id, 2)
    with pytest.raises(NotFound):
        services.composer.get(ALICE, created.draft_id)


def test_my_drafts_page_newest_first_with_a_cursor(services: Services, clock: ManualClock) -> None:
    made = []
    for number in range(5):
        made.append(draft(services, title=f"d{number}"))
        clock.advance(timedelta(seconds=1))
    draft(services, actor=BOB)
    first = services.composer.list_mine(ALICE, limit=2)
    second = services.composer.list_mine(ALICE, first.next_cursor, limit=2)
    third = services.composer.list_mine(ALICE, second.next_cursor, limit=2)
    seen = [d.content.title for page in (first, second, third) for d in page.drafts]
    assert seen == ["d4", "d3", "d2", "d1", "d0"] and third.next_cursor is None
    with pytest.raises(InvalidCursor):
        services.composer.list_mine(BOB, first.next_cursor)
    with pytest.raises(InvalidInput):
        services.composer.list_mine(ALICE, limit=0)


def test_a_preview_is_sanitized_html(services: Services) -> None:
    body = "**bold** <script>alert(1)</script> [x](javascript:alert(1)) [site](https://example.com) <b onclick=x>"
    created = draft(services, body=body)
    html = services.composer.preview(ALICE, created.draft_id)
    assert "<strong>bold</strong>" in html
    assert "<script" not in html and "onclick=" not in html.replace("&lt;b onclick=x&gt;", "")
    assert 'href="javascript' not in html
    assert '<a href="https://example.com" rel="nofollow noopener noreferrer">site</a>' in html


# -- publishing now --------------------------------------------------------------------


def test_publish_puts_the_post_in_the_feed_and_removes_the_draft(services: Services) -> None:
    created = draft(services, title="Launch day", body="It is here")
    item = services.composer.publish(ALICE, created.draft_id, 1)
    assert (item.item_id, item.creator_id, item.kind.value, item.body) == (
        f"post:{created.draft_id}",
        "alice",
        "post",
        "It is here",
    )
    assert feed_titles(services) == ["Launch day"]
    with pytest.raises(NotFound):
        services.composer.get(ALICE, created.draft_id)
    with pytest.raises(NotFound):
        services.composer.publish(ALICE, created.draft_id, 1)


def test_a_stale_or_untitled_publish_changes_nothing(services: Services) -> None:
    created = draft(services, title="")
    with pytest.raises(InvalidInput) as caught:
        services.composer.publish(ALICE, created.draft_id, 1)
    assert caught.value.field == "title"
    services.composer.save(ALICE, created.draft_id, 1, make_content("Titled"))
    with pytest.raises(DraftConflict):
        services.composer.publish(ALICE, created.draft_id, 1)
    assert feed_titles(services) == []
    assert services.composer.get(ALICE, created.draft_id).version == 2


def test_a_publish_the_feed_refuses_leaves_the_draft(services: Services) -> None:
    # Given a feed item already holding the draft's post id with other content
    from townsquare.core.feed import make_draft

    created = services.composer.create(ALICE, make_content("mine"), draft_id="taken")
    services.feed.publish(ALICE, make_draft("post:taken", "post", "something else"))
    # When the draft is published, the feed's conflict rolls the whole publish back
    with pytest.raises(Conflict):
        services.composer.publish(ALICE, created.draft_id, 1)
    assert services.composer.get(ALICE, created.draft_id) == created


# -- scheduling ------------------------------------------------------------------------

# The tests' clock starts at 2026-01-15 12:00 UTC.


def test_a_scheduled_post_publishes_at_its_local_time_not_before(services: Services, clock: ManualClock) -> None:
    # Given a draft scheduled for 09:00 in New York tomorrow (14:00 UTC)
    created = draft(services, title="Morning post")
    scheduled = services.composer.schedule(ALICE, created.draft_id, 1, datetime(2026, 1, 16, 9, 0), "America/New_York")
    assert scheduled.schedule is not None
    assert scheduled.schedule.publish_at == datetime(2026, 1, 16, 14, 0, tzinfo=UTC)
    assert scheduled.version == 2 and scheduled.schedule.version == 2
    # When the worker runs a second before, nothing happens
    clock.set(datetime(2026, 1, 16, 13, 59, 59, tzinfo=UTC))
    run_due_jobs(services)
    assert feed_titles(services) == []
    # And at the time, the post is published and the draft is gone
    clock.set(datetime(2026, 1, 16, 14, 0, tzinfo=UTC))
    run_due_jobs(services)
    assert feed_titles(services) == ["Morning post"]
    with pytest.raises(NotFound):
        services.composer.get(ALICE, created.draft_id)


def test_edits_after_scheduling_are_what_gets_published(services: Services, clock: ManualClock) -> None:
    created = draft(services, title="v1")
    scheduled = services.composer.schedule(ALICE, created.draft_id, 1, datetime(2026, 1, 15, 13, 0), "UTC")
    services.composer.save(ALICE, created.draft_id, scheduled.version, make_content("v2", "edited"))
    clock.set(datetime(2026, 1, 15, 13, 0, tzinfo=UTC))
    run_due_jobs(services)
    assert feed_titles(services) == ["v2"]


def test_rescheduled_later_never_fires_early_and_cancelled_never_fires(services: Services, clock: ManualClock) -> None:
    later = draft(services, title="later")
    cancelled = draft(services, title="cancelled")
    first = services.composer.schedule(ALICE, later.draft_id, 1, datetime(2026, 1, 15, 13, 0), "UTC")
    services.composer.schedule(ALICE, later.draft_id, first.version, datetime(2026, 1, 15, 15, 0), "UTC")
    other = services.composer.schedule(ALICE, cancelled.draft_id, 1, datetime(2026, 1, 15, 13, 0), "UTC")
    unscheduled = services.composer.cancel_schedule(ALICE, cancelled.draft_id, other.version)
    assert unscheduled.schedule is None and unscheduled.version == 3
    # When the first schedule's time comes
    clock.set(datetime(2026, 1, 15, 13, 30, tzinfo=UTC))
    run_due_jobs(services)
    # Then neither published
    assert feed_titles(services) == []
    # When the new time comes, only the rescheduled one publishes, once
    clock.set(datetime(2026, 1, 15, 15, 0, tzinfo=UTC))
    run_due_jobs(services)
    run_due_jobs(services)
    assert feed_titles(services) == ["later"]
    assert services.composer.get(ALICE, cancelled.draft_id).schedule is None


def test_the_publish_job_is_keyed_by_draft_and_version_and_runs_once(services: Services, clock: ManualClock) -> None:
    created = draft(services, title="once")
    scheduled = services.composer.schedule(ALICE, created.draft_id, 1, datetime(2026, 1, 15, 13, 0), "UTC")
    clock.set(datetime(2026, 1, 15, 13, 0, tzinfo=UTC))
    # When the job's handler runs twice (a second worker, a rescued lease)
    first = services.composer.publish_scheduled(created.draft_id, scheduled.version)
    second = services.composer.publish_scheduled(created.draft_id, scheduled.version)
    # Then one post was published
    assert first is not None and second is None
    assert feed_titles(services) == ["once"]
    # And enqueueing its job again finds the same job
    key = publish_job_key(created.draft_id, scheduled.version)
    assert services.jobs.enqueue("composer.publish_scheduled", {}, idempotency_key=key) == services.jobs.enqueue(
        "composer.publish_scheduled", {}, idempotency_key=key
    )


def test_a_backlog_of_due_posts_publishes_with_the_first_job_and_later_ones_wait(
    services: Services, clock: ManualClock
) -> None:
    # Given five posts of two authors due at 13:00 and one due at 15:00
    due, authors = {}, {}
    for number in range(5):
        author = ALICE if number % 2 else BOB
        created = draft(services, title=f"due {number}", actor=author)
        when = datetime(2026, 1, 15, 13, 0)
        due[created.draft_id] = services.composer.schedule(author, created.draft_id, 1, when, "UTC").version
        authors[f"post:{created.draft_id}"] = author.user_id
    later = draft(services, title="later")
    later_version = services.composer.schedule(ALICE, later.draft_id, 1, datetime(2026, 1, 15, 15, 0), "UTC").version
    # When one of the due posts' job runs at 13:00
    clock.set(datetime(2026, 1, 15, 13, 0, tzinfo=UTC))
    first_id = next(iter(due))
    first = services.composer.publish_scheduled(first_id, due[first_id])
    # Then all five are in the feed, each once, as their authors', and their drafts are gone
    assert first is not None and first.item_id == f"post:{first_id}"
    items = services.feed.home(BOB).items
    assert sorted(item.title for item in items) == [f"due {n}" for n in range(5)]
    assert {item.item_id: item.creator_id for item in items} == authors
    for draft_id in due:
        with pytest.raises(NotFound):
            services.composer.get(Actor(authors[f"post:{draft_id}"]), draft_id)
    # And the other due posts' own jobs find nothing to do; the later post waits for its time
    for draft_id, version in due.items():
        assert services.composer.publish_scheduled(draft_id, version) is None
    run_due_jobs(services)
    assert len(feed_titles(services)) == 5
    assert services.composer.get(ALICE, later.draft_id).schedule is not None
    clock.set(datetime(2026, 1, 15, 15, 0, tzinfo=UTC))
    assert services.composer.publish_scheduled(later.draft_id, later_version) is not None
    assert sorted(feed_titles(services)) == sorted([*(f"due {n}" for n in range(5)), "later"])


def test_a_due_post_whose_id_is_taken_is_left_to_its_own_job(services: Services, clock: ManualClock) -> None:
    # Given two posts due at 13:00, and another creator's item already under the second's post id
    mine = draft(services, title="mine")
    taken = services.composer.create(ALICE, make_content("taken", "body"), draft_id="taken-id")
    mine_version = services.composer.schedule(ALICE, mine.draft_id, 1, datetime(2026, 1, 15, 13, 0), "UTC").version
    taken_version = services.composer.schedule(ALICE, taken.draft_id, 1, datetime(2026, 1, 15, 13, 0), "UTC").version
    services.feed.publish(BOB, make_feed_draft(taken.feed_item_id, "post", "bob's"))
    # When the first post's job runs
    clock.set(datetime(2026, 1, 15, 13, 0, tzinfo=UTC))
    assert services.composer.publish_scheduled(mine.draft_id, mine_version) is not None
    # Then the other draft was not taken along: it stays, and its own job refuses it, naming the id
    assert services.composer.get(ALICE, taken.draft_id).version == taken_version
    with pytest.raises(Conflict) as caught:
        services.composer.publish_scheduled(taken.draft_id, taken_version)
    assert caught.value.field == "item_id"
    assert sorted(feed_titles(services)) == ["bob's", "mine"]


def test_publishing_a_scheduled_draft_now_or_deleting_it_disarms_its_job(
    services: Services, clock: ManualClock
) -> None:
    now_one = draft(services, title="now")
    gone = draft(services, title="deleted")
    a = services.composer.schedule(ALICE, now_one.draft_id, 1, datetime(2026, 1, 15, 13, 0), "UTC")
    b = services.composer.schedule(ALICE, gone.draft_id, 1, datetime(2026, 1, 15, 13, 0), "UTC")
    services.composer.publish(ALICE, now_one.draft_id, a.version)
    services.composer.delete(ALICE, gone.draft_id, b.version)
    clock.set(datetime(2026, 1, 15, 14, 0, tzinfo=UTC))
    run_due_jobs(services)
    assert feed_titles(services) == ["now"]


@pytest.mark.parametrize(
    ("local_time", "zone", "field"),
    [
        (datetime(2026, 1, 15, 12, 0, 30), "UTC", "local_time"),  # 30 s ahead: less than a minute
        (datetime(2026, 1, 15, 11, 0), "UTC", "local_time"),  # the past
        (datetime(2027, 1, 16, 12, 0), "UTC", "local_time"),  # over a year ahead
        (datetime(2026, 3, 8, 2, 30), "America/New_York", "local_time"),  # skipped by DST
        (datetime(2026, 1, 16, 9, 0), "Mars/Olympus_Mons", "time_zone"),
        (datetime(2026, 1, 16, 9, 0), "../../etc/passwd", "time_zone"),
        (datetime(2026, 1, 16, 9, 0, tzinfo=UTC), "UTC", "local_time"),  # an offset as well as a zone
    ],
)
def test_bad_schedules_are_refused_naming_the_field_and_change_nothing(
    services: Services, local_time: datetime, zone: str, field: str
) -> None:
    created = draft(services)
    with pytest.raises(InvalidInput) as caught:
        services.composer.schedule(ALICE, created.draft_id, 1, local_time, zone)
    assert caught.value.field == field
    assert services.composer.get(ALICE, created.draft_id) == created


def test_an_ambiguous_local_time_means_its_first_occurrence_unless_fold_says_second(services: Services) -> None:
    # 01:30 on 2026-11-01 happens twice in New York: at 05:30 UTC (EDT) and 06:30 UTC (EST)
    first = draft(services)
    second = draft(services)
    a = services.composer.schedule(ALICE, first.draft_id, 1, datetime(2026, 11, 1, 1, 30), "America/New_York")
    b = services.composer.schedule(ALICE, second.draft_id, 1, datetime(2026, 11, 1, 1, 30), "America/New_York", fold=1)
    assert a.schedule is not None and b.schedule is not None
    assert a.schedule.publish_at == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    assert b.schedule.publish_at == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
    assert a.schedule.local_time == datetime(2026, 11, 1, 1, 30) and a.schedule.time_zone == "America/New_York"


def test_a_scheduled_draft_keeps_its_title_and_needs_one_to_be_scheduled(services: Services) -> None:
    untitled = draft(services, title="")
    with pytest.raises(InvalidInput) as caught:
        services.composer.schedule(ALICE, untitled.draft_id, 1, datetime(2026, 1, 16, 9, 0), "UTC")
    assert caught.value.field == "title"
    titled = draft(services)
    scheduled = services.composer.schedule(ALICE, titled.draft_id, 1, datetime(2026, 1, 16, 9, 0), "UTC")
    with pytest.raises(InvalidInput) as blank:
        services.composer.save(ALICE, titled.draft_id, scheduled.version, make_content("  ", "body"))
    assert blank.value.field == "title"


def test_an_author_may_have_a_limited_number_of_scheduled_posts(services: Services) -> None:
    when = datetime(2026, 1, 16, 9, 0)
    drafts = [draft(services, title=f"p{n}") for n in range(MAX_SCHEDULED_PER_AUTHOR + 1)]
    versions = {}
    for one in drafts[:-1]:
        versions[one.draft_id] = services.composer.schedule(ALICE, one.draft_id, 1, when, "UTC").version
    with pytest.raises(Conflict) as caught:
        services.composer.schedule(ALICE, drafts[-1].draft_id, 1, when, "UTC")
    assert caught.value.field == "local_time"
    # Rescheduling one already counted is fine, and so is another author's
    services.composer.schedule(
        ALICE, drafts[0].draft_id, versions[drafts[0].draft_id], when + timedelta(hours=1), "UTC"
    )
    other = draft(services, actor=BOB)
    services.composer.schedule(BOB, other.draft_id, 1, when, "UTC")
