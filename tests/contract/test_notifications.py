"""Contract tests of notifications: each runs once on the memory adapter and once on Postgres."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from townsquare.adapters.memory.mail import RecordingMailSender
from townsquare.bootstrap import Services
from townsquare.core.clock import ManualClock
from townsquare.core.errors import Forbidden, InvalidCursor, InvalidInput, NotFound
from townsquare.core.identity import Actor, system_actor
from townsquare.core.jobs import JobRunner
from townsquare.core.notifications import DEFAULT_PREFERENCES, Lane, NotSentReason, SendResult

SENDER = Actor("test-sender", roles=["service"])
WORKER = system_actor("tests")


def send(services: Services, user: str = "alice", category: str = "follow", **extra: Any) -> SendResult:
    channel = extra.pop("channel", "inapp")
    extra.setdefault("title", f"{category} title")
    extra.setdefault("body", "body")
    return services.notifications.send(SENDER, user, channel, category, **extra)


def run_jobs(services: Services) -> None:
    JobRunner(services.jobs, services.job_handlers).run_due()


@pytest.fixture
def services(mailbox: RecordingMailSender, services: Services) -> Services:
    """conftest's services, bootstrapped after ``mailbox``: their outbox mail goes there."""
    return services


# -- sending and the policy ------------------------------------------------------------------


def test_a_sent_notification_lands_in_its_categorys_lane(services: Services) -> None:
    # Given alice gets a "sale" notification
    result = send(services, category="sale", title="You sold a print", data={"order": 7})
    # Then it was sent and sits unread in the commerce lane
    assert result.sent and result.reason is None
    page = services.notifications.inbox(Actor("alice"), "commerce")
    assert [(n.id, n.title, n.lane, n.data, n.is_read) for n in page.items] == [
        (result.notification_id, "You sold a print", Lane.COMMERCE, {"order": 7}, False)
    ]
    assert services.notifications.inbox(Actor("alice"), "social").items == []
    counts = services.notifications.counts(Actor("alice"))
    assert (counts.lanes[Lane.COMMERCE], counts.total) == (1, 1)
    # And bob sees none of it
    assert services.notifications.counts(Actor("bob")).total == 0
    assert services.notifications.inbox(Actor("bob")).items == []


def test_the_same_idempotency_key_returns_the_same_notification(services: Services) -> None:
    first = send(services, idempotency_key="idemp-1")
    again = send(services, idempotency_key="idemp-1", title="changed")
    assert again.notification_id == first.notification_id
    assert again.duplicate and not first.duplicate
    assert len(services.notifications.inbox(Actor("alice")).items) == 1
    # Keys are per user: bob's "idemp-1" is another notification
    assert send(services, user="bob", idempotency_key="idemp-1").notification_id != first.notification_id


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"channel": "sms"}, "channel"),
        ({"category": "gossip"}, "category"),
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"body": "x" * 2001}, "body"),
        ({"data": {"blob": "x" * 5000}}, "data"),
        ({"data": {"when": datetime(2026, 1, 1)}}, "data"),
        ({"idempotency_key": ""}, "idempotency_key"),
        ({"user": "al\x00ice"}, "user_id"),
        ({"user": ""}, "user_id"),
    ],
)
def test_bad_sends_are_refused_and_store_nothing(services: Services, changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as error:
        send(services, **changes)
    assert error.value.field == field
    assert services.notifications.counts(Actor("alice")).total == 0


def test_marking_a_digest_sent_checks_its_names(services: Services) -> None:
    with pytest.raises(InvalidInput) as error:
        services.notifications.mark_digest_sent(WORKER, "al\x00ice", "daily:2026-01-15")
    assert error.value.field == "user_id"
    with pytest.raises(InvalidInput) as error:
        services.notifications.mark_digest_sent(WORKER, "alice", "daily:\x00")
    assert error.value.field == "period_key"


def test_turned_off_channels_and_categories_are_not_sent(services: Services) -> None:
    services.notifications.update_preferences(
        Actor("alice"), {"channels": {"push": False}, "categories": {"like": False}}
    )
    assert send(services, channel="push") == SendResult(None, NotSentReason.CHANNEL_OFF)
    assert send(services, category="like") == SendResult(None, NotSentReason.CATEGORY_OFF)
    assert send(services, channel="email") == SendResult(None, NotSentReason.NO_EMAIL_ADDRESS)
    assert services.notifications.counts(Actor("alice")).total == 0
    assert send(services, category="comment").sent


def test_quiet_hours_cross_midnight_in_the_users_time_zone(services: Services, clock: ManualClock) -> None:
    # Given alice in New York is quiet from 23:00 to 02:00
    services.notifications.update_preferences(
        Actor("alice"),
        {"timezone": "America/New_York", "quiet_hours": {"enabled": True, "start": "23:00", "end": "02:00"}},
    )
    # When it is 23:30 in New York (04:30 UTC), or 01:59
    for utc in ("2026-01-16T04:30:00", "2026-01-16T06:59:00"):
        clock.set(datetime.fromisoformat(utc).replace(tzinfo=UTC))
        # Then nothing is sent, softly
        assert send(services, idempotency_key=f"k-{utc}") == SendResult(None, NotSentReason.QUIET_HOURS)
    assert services.notifications.counts(Actor("alice")).total == 0
    # When it is 02:00 in New York
    clock.set(datetime(2026, 1, 16, 7, 0, tzinfo=UTC))
    # Then it goes out; the same key, refused earlier, now sends
    assert send(services, idempotency_key="k-2026-01-16T04:30:00").sent
    # And bob, in UTC without quiet hours, was never affected
    clock.set(datetime(2026, 1, 16, 4, 30, tzinfo=UTC))
    assert send(services, user="bob").sent


def test_the_daily_cap_counts_sent_ones_per_channel_and_resets_at_local_midnight(
    services: Services, clock: ManualClock
) -> None:
    # Given alice lives in Tokyo (UTC+9); it is 12:00 UTC = 21:00 in Tokyo
    services.notifications.update_preferences(Actor("alice"), {"timezone": "Asia/Tokyo"})
    # When 7 in-app sends arrive
    results = [send(services, idempotency_key=f"k{i}") for i in range(7)]
    # Then 5 are sent and 2 hit the cap
    assert [r.sent for r in results] == [True] * 5 + [False] * 2
    assert {r.reason for r in results[5:]} == {NotSentReason.DAILY_CAP}
    # And a capped key, retried, is still capped (it was never sent)
    assert send(services, idempotency_key="k6").reason is NotSentReason.DAILY_CAP
    # And a retried sent key is still its notification, not a cap refusal
    assert send(services, idempotency_key="k0").notification_id == results[0].notification_id
    # And the push channel has a cap of its own
    assert send(services, channel="push").sent
    # When it is 23:59 in Tokyo the cap still holds; at Tokyo midnight (15:00 UTC) it resets
    clock.set(datetime(2026, 1, 15, 14, 59, tzinfo=UTC))
    assert send(services).reason is NotSentReason.DAILY_CAP
    clock.set(datetime(2026, 1, 15, 15, 0, tzinfo=UTC))
    assert send(services).sent


def test_refused_sends_do_not_count_toward_the_cap(services: Services, clock: ManualClock) -> None:
    services.notifications.update_preferences(
        Actor("alice"), {"quiet_hours": {"enabled": True, "start": "12:00", "end": "13:00"}}
    )
    for _ in range(10):
        assert send(services).reason is NotSentReason.QUIET_HOURS
    clock.advance(timedelta(hours=1))
    assert all(send(services).sent for _ in range(5))


# -- the inbox -------------------------------------------------------------------------------


def test_lanes_page_newest_first_with_no_gap_or_duplicate(services: Services, clock: ManualClock) -> None:
    # Given 7 social notifications over three days (the daily cap is 5), two at the same instant
    sent = []
    for i in range(7):
        if i != 3:
            clock.advance(timedelta(hours=6))
        result = send(services, user="carol", category="follow", title=f"f{i}", idempotency_key=f"f{i}")
        sent.append(result.notification_id)
    assert None not in sent
    # When carol pages the social lane 3 at a time while new notifications keep arriving
    seen: list[str] = []
    cursor = None
    late = 0
    while True:
        page = services.notifications.inbox(Actor("carol"), "social", cursor, limit=3)
        seen += [n.id for n in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
        clock.advance(timedelta(seconds=1))
        late += send(services, user="carol", category="like", idempotency_key=f"late{len(seen)}").sent
    # Then she saw each of the 7 once, newest first: the new ones wait for a refresh
    assert sorted(seen) == sorted(ident for ident in sent if ident is not None)
    assert seen[0] == sent[6] and seen[-1] == sent[0]
    assert late >= 1
    # And a refresh shows the new ones on top
    assert len(services.notifications.inbox(Actor("carol"), "social", limit=100).items) == 7 + late


def test_cursors_are_bound_to_their_lane_and_user(services: Services) -> None:
    for i in range(3):
        send(services, title=f"t{i}", idempotency_key=f"t{i}")
    cursor = services.notifications.inbox(Actor("alice"), "social", limit=1).next_cursor
    assert cursor is not None
    with pytest.raises(InvalidCursor):
        services.notifications.inbox(Actor("alice"), "commerce", cursor)
    with pytest.raises(InvalidCursor):
        services.notifications.inbox(Actor("bob"), "social", cursor)
    with pytest.raises(InvalidCursor):
        services.notifications.inbox(Actor("alice"), "social", cursor[:-2] + "xx")
    with pytest.raises(InvalidInput) as error:
        services.notifications.inbox(Actor("alice"), "gossip")
    assert error.value.field == "lane"
    with pytest.raises(InvalidInput):
        services.notifications.inbox(Actor("alice"), "social", limit=101)


def test_mark_read_and_mark_all_read_update_the_counts(services: Services) -> None:
    follow = send(services, category="follow").notification_id
    send(services, category="comment")
    sale = send(services, category="sale").notification_id
    send(services, category="event")
    assert follow and sale
    counts = services.notifications.counts(Actor("alice"))
    assert (counts.lanes[Lane.SOCIAL], counts.lanes[Lane.COMMERCE], counts.lanes[Lane.EVENTS], counts.total) == (
        2,
        1,
        1,
        4,
    )
    # Marking read is idempotent
    assert services.notifications.mark_read(Actor("alice"), [follow]) == 1
    assert services.notifications.mark_read(Actor("alice"), [follow]) == 0
    assert services.notifications.counts(Actor("alice")).lanes[Lane.SOCIAL] == 1
    # One lane at a time, then everything
    assert services.notifications.mark_all_read(Actor("alice"), "commerce") == 1
    counts = services.notifications.counts(Actor("alice"))
    assert (counts.lanes[Lane.COMMERCE], counts.total) == (0, 2)
    assert services.notifications.mark_all_read(Actor("alice")) == 2
    assert services.notifications.counts(Actor("alice")).total == 0
    read = services.notifications.inbox(Actor("alice"), "social").items
    assert all(n.is_read for n in read)


def test_a_notification_sent_after_mark_all_read_is_unread_even_at_the_same_instant(
    services: Services, clock: ManualClock
) -> None:
    # Given alice marked her social lane read
    first = send(services, category="follow").notification_id
    assert services.notifications.mark_all_read(Actor("alice"), "social") == 1
    marked_at = clock.now()

    # When a new social notification arrives in the same instant (the clock has not moved)
    second = send(services, category="like").notification_id

    # Then only the new one is unread; the old one keeps the time it was read
    assert services.notifications.counts(Actor("alice")).lanes[Lane.SOCIAL] == 1
    items = {n.id: n for n in services.notifications.inbox(Actor("alice"), "social").items}
    assert items[first].read_at == marked_at
    assert second is not None and items[second].read_at is None
    assert services.notifications.mark_all_read(Actor("alice"), "social") == 1
    assert services.notifications.mark_all_read(Actor("alice")) == 0


def test_marking_read_after_mark_all_read_changes_only_what_is_still_unread(
    services: Services, clock: ManualClock
) -> None:
    # Given alice marked everything read at 12:00, then got a new notification at 12:05
    old = send(services, category="sale").notification_id
    services.notifications.mark_all_read(Actor("alice"))
    clock.advance(timedelta(minutes=5))
    new = send(services, category="sale").notification_id
    assert old and new

    # When she marks both read one by one at 12:10
    clock.advance(timedelta(minutes=5))
    changed = services.notifications.mark_read(Actor("alice"), [old, new])

    # Then only the new one changed, and each keeps the time it was actually read
    assert changed == 1
    items = {n.id: n for n in services.notifications.inbox(Actor("alice")).items}
    assert items[old].read_at == clock.now() - timedelta(minutes=10)
    assert items[new].read_at == clock.now()
    assert services.notifications.counts(Actor("alice")).total == 0


def test_a_later_mark_all_read_keeps_earlier_read_times(services: Services, clock: ManualClock) -> None:
    # Given one event read by mark-all-read at 12:00 and one read on its own at 12:01
    early = send(services, category="event").notification_id
    services.notifications.mark_all_read(Actor("alice"), "events")
    clock.advance(timedelta(minutes=1))
    single = send(services, category="reminder").notification_id
    assert early and single
    services.notifications.mark_read(Actor("alice"), [single])
    clock.advance(timedelta(minutes=1))
    late = send(services, category="waitlist").notification_id

    # When everything is marked read again at 12:02
    assert services.notifications.mark_all_read(Actor("alice")) == 1

    # Then every notification says when it was first read; the digest has nothing unread
    start = clock.now() - timedelta(minutes=2)
    read_at = {n.id: n.read_at for n in services.notifications.inbox(Actor("alice"), "events").items}
    assert read_at == {early: start, single: start + timedelta(minutes=1), late: clock.now()}
    assert list(services.notifications.digest_preview(Actor("alice")).items) == []


def test_marking_someone_elses_notification_is_not_found_and_changes_nothing(services: Services) -> None:
    mine = send(services, user="alice").notification_id
    theirs = send(services, user="bob").notification_id
    assert mine and theirs
    with pytest.raises(NotFound) as error:
        services.notifications.mark_read(Actor("alice"), [mine, theirs])
    assert theirs in error.value.detail
    assert services.notifications.counts(Actor("alice")).total == 1
    assert services.notifications.counts(Actor("bob")).total == 1
    with pytest.raises(InvalidInput):
        services.notifications.mark_read(Actor("alice"), ["not-a-uuid"])
    with pytest.raises(InvalidInput):
        services.notifications.mark_read(Actor("alice"), [])
    with pytest.raises(InvalidInput):
        services.notifications.mark_all_read(Actor("alice"), "gossip")


def test_only_admins_and_services_send_and_only_admins_read_someone_elses_counts(services: Services) -> None:
    # Given a plain user, an admin and the system's worker
    alice, admin = Actor("alice"), Actor("root", roles=["admin"])
    # When alice tries to send bob a notification, or to act as a worker
    with pytest.raises(Forbidden):
        services.notifications.send(alice, "bob", "inapp", "follow", title="hi")
    with pytest.raises(Forbidden):
        services.notifications.trust_email_address(alice, "alice", "alice@example.com")
    with pytest.raises(Forbidden):
        services.notifications.process_outbox(alice)
    with pytest.raises(Forbidden):
        services.notifications.mark_digest_sent(alice, "alice", "daily:2026-01-15")
    # Then nothing was sent, and she may not read bob's counts either
    with pytest.raises(Forbidden):
        services.notifications.counts(alice, "bob")
    assert services.notifications.counts(admin, "bob").total == 0
    # But an admin's send goes out, and alice's own counts are hers to read
    assert services.notifications.send(admin, "alice", "inapp", "follow", title="hi").sent
    assert services.notifications.counts(alice).total == services.notifications.counts(admin, "alice").total == 1
    assert services.notifications.process_outbox(WORKER) == 0


# -- preferences -----------------------------------------------------------------------------


def test_preferences_default_then_deep_merge_keeping_siblings(services: Services) -> None:
    assert services.notifications.preferences(Actor("alice")).document == DEFAULT_PREFERENCES
    services.notifications.update_preferences(Actor("alice"), {"channels": {"email": False}})
    prefs = services.notifications.update_preferences(Actor("alice"), {"quiet_hours": {"enabled": True}})
    assert prefs.document["channels"] == {"inapp": True, "email": False, "push": True}
    assert prefs.document["quiet_hours"] == {"enabled": True, "start": "22:00", "end": "07:00"}
    # null resets a value to its default
    prefs = services.notifications.update_preferences(Actor("alice"), {"channels": {"email": None}})
    assert prefs.document["channels"]["email"] is True
    assert services.notifications.preferences(Actor("alice")).document == prefs.document


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"colour": "blue"}, "colour"),
        ({"channels": {"sms": True}}, "channels.sms"),
        ({"channels": {"email": "no"}}, "channels.email"),
        ({"channels": False}, "channels"),
        ({"quiet_hours": {"start": "25:00"}}, "quiet_hours.start"),
        ({"quiet_hours": {"end": "7:00"}}, "quiet_hours.end"),
        ({"quiet_hours": {"start": "07:00"}}, "quiet_hours.end"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": "../../etc/passwd"}, "timezone"),
        ({"digest": {"hour": 24}}, "digest.hour"),
        ({"digest": {"hour": True}}, "digest.hour"),
        ({"digest": {"frequency": "hourly"}}, "digest.frequency"),
        ({"digest": {"weekday": "funday"}}, "digest.weekday"),
        ({"email_address": "not-an-address"}, "email_address"),
        ([1, 2], "preferences"),
    ],
)
def test_bad_preferences_name_the_field_and_change_nothing(services: Services, patch: Any, field: str) -> None:
    services.notifications.update_preferences(Actor("alice"), {"channels": {"push": False}})
    before = services.notifications.preferences(Actor("alice")).document
    with pytest.raises(InvalidInput) as error:
        services.notifications.update_preferences(
            Actor("alice"), {"timezone": "Europe/Berlin", **patch} if isinstance(patch, dict) else patch
        )
    assert error.value.field == field
    assert services.notifications.preferences(Actor("alice")).document == before


# -- mail and digests ------------------------------------------------------------------------


def test_email_notifications_go_through_the_outbox_and_the_worker(
    services: Services, mailbox: RecordingMailSender
) -> None:
    # Given alice has an email address
    services.notifications.trust_email_address(SENDER, "alice", "alice@example.com")
    # When an email notification is sent
    result = send(services, channel="email", category="order", title="Order shipped", body="On its way")
    # Then it waits in the outbox, unsent, and is not in the in-app inbox
    assert result.sent
    assert [m.status.value for m in services.notifications.outbox(Actor("alice"))] == ["pending"]
    assert services.notifications.counts(Actor("alice")).total == 0
    assert mailbox.messages == []
    # When the worker runs the outbox sweep and the delivery job (twice: nothing is repeated)
    services.notifications.process_outbox(WORKER)
    run_jobs(services)
    run_jobs(services)
    # Then the mail was delivered exactly once
    [mail] = mailbox.messages
    assert (mail.to, mail.subject, mail.text) == ("alice@example.com", "Order shipped", "On its way\n")
    assert [m.status.value for m in services.notifications.outbox(Actor("alice"))] == ["delivered"]


def test_a_refused_delivery_is_retried_by_the_jobs_port(
    services: Services, mailbox: RecordingMailSender, clock: ManualClock
) -> None:
    services.notifications.trust_email_address(SENDER, "alice", "alice@example.com")
    mailbox.fail_times = 1
    send(services, channel="email", category="payout")
    services.notifications.process_outbox(WORKER)
    run_jobs(services)
    assert mailbox.messages == []
    assert services.notifications.outbox(Actor("alice"))[0].status.value == "dispatched"
    # After the 60 s backoff the job runs again and delivers
    clock.advance(timedelta(seconds=61))
    run_jobs(services)
    assert len(mailbox.messages) == 1
    assert services.notifications.outbox(Actor("alice"))[0].status.value == "delivered"


def test_a_daily_digest_is_queued_once_per_period_at_the_local_hour(
    services: Services, mailbox: RecordingMailSender, clock: ManualClock
) -> None:
    # Given alice in Berlin wants a daily digest at 18:00 and has unread notifications
    services.notifications.update_preferences(
        Actor("alice"), {"timezone": "Europe/Berlin", "digest": {"frequency": "daily", "hour": 18}}
    )
    services.notifications.trust_email_address(SENDER, "alice", "alice@example.com")
    send(services, category="follow", title="Bob follows you")
    send(services, category="sale", title="You sold a print")
    # When it is 16:59 in Berlin (15:59 UTC), nothing is due
    clock.set(datetime(2026, 1, 15, 16, 59, tzinfo=UTC))
    assert services.notifications.enqueue_due_digests(WORKER) == 0
    # When it is 18:00 in Berlin, her digest is queued, once, however often the check runs
    clock.set(datetime(2026, 1, 15, 17, 0, tzinfo=UTC))
    assert services.notifications.enqueue_due_digests(WORKER) == 1
    assert services.notifications.enqueue_due_digests(WORKER) == 0
    clock.advance(timedelta(hours=5))
    assert services.notifications.enqueue_due_digests(WORKER) == 0
    # And the worker builds it, sweeps the outbox and delivers one email
    run_jobs(services)
    services.notifications.process_outbox(WORKER)
    run_jobs(services)
    [mail] = mailbox.messages
    assert mail.to == "alice@example.com"
    assert "2 unread" in mail.subject
    assert "Bob follows you" in mail.text and "You sold a print" in mail.text
    [run] = services.notifications.digest_runs(Actor("alice"))
    assert (run.period_key, run.status.value) == ("daily:2026-01-15", "sent")
    assert services.notifications.mark_digest_sent(WORKER, "alice", "daily:2026-01-15") is True
    assert services.notifications.mark_digest_sent(WORKER, "alice", "daily:2099-01-01") is False
    # The next Berlin day is a new period
    clock.set(datetime(2026, 1, 16, 17, 0, tzinfo=UTC))
    assert services.notifications.enqueue_due_digests(WORKER) == 1


def test_weekly_digests_use_the_chosen_weekday_and_empty_ones_are_skipped(
    services: Services, mailbox: RecordingMailSender, clock: ManualClock
) -> None:
    # 2026-01-15 is a Thursday. Alice wants Fridays at 08:00 UTC; bob Mondays at 08:00.
    services.notifications.update_preferences(
        Actor("alice"), {"digest": {"frequency": "weekly", "hour": 8, "weekday": "friday"}}
    )
    services.notifications.update_preferences(
        Actor("bob"), {"digest": {"frequency": "weekly", "hour": 8, "weekday": "monday"}}
    )
    services.notifications.trust_email_address(SENDER, "alice", "a@example.com")
    services.notifications.trust_email_address(SENDER, "bob", "b@example.com")
    send(services, user="bob", category="tip")
    # Thursday: bob's Monday slot has passed this week, alice's has not
    assert services.notifications.enqueue_due_digests(WORKER) == 1
    assert [r.period_key for r in services.notifications.digest_runs(Actor("bob"))] == ["weekly:2026-W03"]
    clock.set(datetime(2026, 1, 16, 8, 0, tzinfo=UTC))
    assert services.notifications.enqueue_due_digests(WORKER) == 1
    # Alice has nothing unread: her run is skipped, no email
    run_jobs(services)
    services.notifications.process_outbox(WORKER)
    run_jobs(services)
    assert [m.to for m in mailbox.messages] == ["b@example.com"]
    assert services.notifications.digest_runs(Actor("alice"))[0].status.value == "skipped"


def test_digest_preview_and_test_send(services: Services, mailbox: RecordingMailSender) -> None:
    send(services, category="mention", title="You were mentioned")
    services.notifications.update_preferences(Actor("alice"), {"digest": {"frequency": "daily", "hour": 9}})
    preview = services.notifications.digest_preview(Actor("alice"))
    assert [n.title for n in preview.items] == ["You were mentioned"]
    assert preview.counts.total == 1
    assert preview.next_at == datetime(2026, 1, 16, 9, 0, tzinfo=UTC)
    # A test send needs an address
    with pytest.raises(InvalidInput) as error:
        services.notifications.send_test_digest(Actor("alice"))
    assert error.value.field == "email_address"
    services.notifications.trust_email_address(SENDER, "alice", "alice@example.com")
    services.notifications.send_test_digest(Actor("alice"))
    services.notifications.process_outbox(WORKER)
    run_jobs(services)
    [mail] = mailbox.messages
    assert mail.subject.startswith("[test]")
    assert "You were mentioned" in mail.text


def test_a_test_notification_is_sent_through_the_policy(services: Services) -> None:
    result = services.notifications.send_test(Actor("alice"))
    assert result.sent
    assert services.notifications.inbox(Actor("alice"), "system").items[0].data == {"test": True}
    assert services.notifications.send_test(Actor("alice"), "sale").sent
    with pytest.raises(InvalidInput):
        services.notifications.send_test(Actor("alice"), "gossip")


def test_live_subscribers_hear_count_changes(services: Services, adapter: str) -> None:
    with (
        services.notifications.subscribe_counts(Actor("alice")) as alice,
        services.notifications.subscribe_counts(Actor("bob")) as bob,
    ):
        if adapter == "postgres":
            # The listener starts with the first subscriber and, once it listens, wakes everyone
            # (what was announced before is unknown to it): alice's first wake-up says it listens.
            assert alice.wait(10)
        while alice.wait(0.05) or bob.wait(0.05):
            pass  # drain the listener's "connected" wake-up
        ident = send(services).notification_id
        assert alice.wait(10)
        assert not bob.wait(0.3)
        assert ident
        services.notifications.mark_read(Actor("alice"), [ident])
        assert alice.wait(10)
