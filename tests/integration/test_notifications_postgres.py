"""Notifications on real Postgres: racing sends, racing digest workers, no lost preference
update, and count changes crossing processes through LISTEN/NOTIFY.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

import psycopg
import pytest

from tests.conftest import EPOCH
from townsquare.adapters.memory.mail import RecordingMailSender
from townsquare.adapters.postgres.database import PgDatabase
from townsquare.adapters.postgres.engine import create_database_engine
from townsquare.adapters.postgres.notifications import COUNTS_CHANNEL, PgNotificationEvents
from townsquare.bootstrap import Services, bootstrap
from townsquare.core.clock import ManualClock
from townsquare.core.identity import Actor, system_actor
from townsquare.core.jobs import JobRunner
from townsquare.core.notifications import CATEGORIES, NotSentReason, SendResult
from townsquare.settings import PortsMode, Settings

SENDER = Actor("test-sender", roles=["service"])
WORKER = system_actor("tests")

pytestmark = pytest.mark.postgres
T = TypeVar("T")


def wired(pg_url: str, clock: ManualClock) -> Services:
    settings = Settings(ports_mode=PortsMode.POSTGRES, database_url=pg_url, database_pool_size=12, seed_demo_data=False)
    return bootstrap(settings, clock=clock)


@pytest.fixture
def pg_services(pg_url: str, clock: ManualClock) -> Iterator[Services]:
    services = wired(pg_url, clock)
    try:
        yield services
    finally:
        services.close()


def race(count: int, action: Callable[[int], T]) -> list[T]:
    """Run ``action(i)`` for i in range(count) on as many threads, released together."""
    barrier = threading.Barrier(count)

    def run(i: int) -> T:
        barrier.wait()
        return action(i)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def rows(dsn: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(query).fetchall()


def test_100_racing_sends_with_one_key_make_one_notification(pg_services: Services, pg_dsn: str) -> None:
    # When 100 senders race with the same idempotency key
    results = race(
        100,
        lambda i: pg_services.notifications.send(
            SENDER, "alice", "inapp", "follow", title=f"t{i}", idempotency_key="once"
        ),
    )
    # Then every one got the same id, and exactly one notification exists, counted once
    assert len({r.notification_id for r in results}) == 1
    assert None not in {r.notification_id for r in results}
    assert sum(not r.duplicate for r in results) == 1
    assert rows(pg_dsn, "SELECT count(*) FROM notifications") == [(1,)]
    assert rows(pg_dsn, "SELECT sent FROM notification_daily_sends") == [(1,)]


def test_100_racing_sends_with_cap_5_send_exactly_5(pg_services: Services, pg_dsn: str) -> None:
    results: list[SendResult] = race(
        100, lambda i: pg_services.notifications.send(SENDER, "alice", "inapp", "sale", title=f"t{i}")
    )
    assert sum(r.sent for r in results) == 5
    assert {r.reason for r in results if not r.sent} == {NotSentReason.DAILY_CAP}
    assert rows(pg_dsn, "SELECT count(*) FROM notifications") == [(5,)]
    # Racing keyed sends beside them: keys already capped stay capped, nothing more gets through
    keyed = race(
        30,
        lambda i: pg_services.notifications.send(
            SENDER, "alice", "inapp", "sale", title="k", idempotency_key=f"k{i % 3}"
        ),
    )
    assert not any(r.sent for r in keyed)
    assert rows(pg_dsn, "SELECT count(*) FROM notifications") == [(5,)]


def test_racing_keyed_sends_under_the_cap_count_each_key_once(pg_services: Services, pg_dsn: str) -> None:
    # 60 racing sends over 3 keys: 3 notifications, and the day's count is 3, not 60
    results = race(
        60,
        lambda i: pg_services.notifications.send(SENDER, "bob", "inapp", "tip", title="t", idempotency_key=f"k{i % 3}"),
    )
    assert len({r.notification_id for r in results}) == 3
    assert rows(pg_dsn, "SELECT sent FROM notification_daily_sends") == [(3,)]
    # so two more go through before the cap
    more = [pg_services.notifications.send(SENDER, "bob", "inapp", "tip", title="t").sent for _ in range(3)]
    assert more == [True, True, False]


def test_racing_preference_updates_lose_nothing(pg_services: Services) -> None:
    categories = list(CATEGORIES)
    race(
        len(categories),
        lambda i: pg_services.notifications.update_preferences(Actor("carol"), {"categories": {categories[i]: False}}),
    )
    prefs = pg_services.notifications.preferences(Actor("carol"))
    assert not any(prefs.categories.values())


def test_two_workers_enqueueing_and_sending_digests_send_one_email_per_user(
    pg_url: str, pg_dsn: str, clock: ManualClock, mailbox: RecordingMailSender
) -> None:
    # Given 40 users with a daily 09:00 UTC digest and something unread each (both workers'
    # mail goes to one mailbox)
    first, second = wired(pg_url, clock), wired(pg_url, clock)
    try:
        users = [f"user-{i}" for i in range(40)]
        for user in users:
            first.notifications.update_preferences(Actor(user), {"digest": {"frequency": "daily", "hour": 9}})
            first.notifications.trust_email_address(SENDER, user, f"{user}@example.com")
            first.notifications.send(SENDER, user, "inapp", "like", title="Someone liked your post")
        # When both workers check for due digests at the same moment, twice
        queued = race(4, lambda i: (first if i % 2 else second).notifications.enqueue_due_digests(WORKER))
        # Then each user's digest is queued once
        assert sum(queued) == 40
        assert rows(pg_dsn, "SELECT count(DISTINCT user_id), count(*) FROM notification_digest_runs") == [(40, 40)]
        # And when both workers build, sweep the outbox and deliver concurrently
        race(2, lambda i: JobRunner((first, second)[i].jobs, (first, second)[i].job_handlers).run_due())
        race(2, lambda i: (first, second)[i].notifications.process_outbox(WORKER))
        race(2, lambda i: JobRunner((first, second)[i].jobs, (first, second)[i].job_handlers).run_due())
        # Then exactly one email per user went out, and every run is marked sent
        mails = mailbox.messages
        assert sorted(m.to for m in mails) == sorted(f"{user}@example.com" for user in users)
        assert rows(pg_dsn, "SELECT status, count(*) FROM notification_digest_runs GROUP BY status") == [("sent", 40)]
    finally:
        first.close()
        second.close()


SEND_FROM_ANOTHER_PROCESS = """
import sys
from datetime import datetime, UTC
from townsquare.bootstrap import bootstrap
from townsquare.core.clock import ManualClock
from townsquare.core.identity import system_actor
from townsquare.settings import PortsMode, Settings

settings = Settings(ports_mode=PortsMode.POSTGRES, database_url=sys.argv[1], seed_demo_data=False)
services = bootstrap(settings, clock=ManualClock(datetime.fromisoformat(sys.argv[2])))
result = services.notifications.send(system_actor("other"), "alice", "inapp", "comment", title="from another process")
services.close()
print(result.notification_id)
"""


def test_a_send_in_another_process_reaches_a_subscriber_here(pg_services: Services, pg_url: str) -> None:
    # Given alice subscribes in this process (her first wake-up: its listener is connected)
    events = pg_services.notifications._events  # type: ignore[attr-defined]
    with pg_services.notifications.subscribe_counts(Actor("alice")) as subscription:
        assert subscription.wait(10)
        while subscription.wait(0.2):
            pass
        # A rolled-back change is never announced
        with pytest.raises(RuntimeError), pg_services.uow.transaction():
            events.counts_changed("alice")
            raise RuntimeError("roll back")
        assert not subscription.wait(0.5)
        # When another process sends her a notification
        sent = subprocess.run(
            [sys.executable, "-c", SEND_FROM_ANOTHER_PROCESS, pg_url, EPOCH.isoformat()],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ},
            check=True,
        )
        # Then this process hears of it, and her counts show it
        assert subscription.wait(10)
        assert sent.stdout.strip()
        assert pg_services.notifications.counts(Actor("alice")).total == 1


def test_the_clock_not_the_database_decides_the_day(pg_services: Services, pg_dsn: str, clock: ManualClock) -> None:
    clock.set(datetime(2030, 6, 1, 23, 59, tzinfo=UTC))
    pg_services.notifications.send(SENDER, "dora", "inapp", "event", title="t")
    assert rows(pg_dsn, "SELECT day::text FROM notification_daily_sends") == [("2030-06-01",)]


def test_mark_all_read_racing_sends_covers_only_what_it_counted(pg_services: Services) -> None:
    # Given a user without a daily cap in the way, and one thread marking all read over and over
    notifications = pg_services.notifications
    notifications.daily_cap = 1000
    marked: list[int] = []
    stop = threading.Event()

    def mark_until_stopped() -> None:
        while not stop.is_set():
            marked.append(notifications.mark_all_read(Actor("racer")))

    marker = threading.Thread(target=mark_until_stopped)
    marker.start()
    try:
        # When 6 threads send 20 notifications each meanwhile
        sent = race(
            6,
            lambda i: [
                notifications.send(SENDER, "racer", "inapp", "like", title=f"{i}/{k}", idempotency_key=f"{i}/{k}").sent
                for k in range(20)
            ],
        )
    finally:
        stop.set()
        marker.join()

    # Then every notification was counted by exactly one mark or is still unread: a mark never
    # covered a notification it could not see (one committing late with an earlier position)
    assert all(all(batch) for batch in sent)
    assert sum(marked) + notifications.counts(Actor("racer")).total == 120
    assert sum(marked) > 0


def test_a_count_change_is_announced_once_its_transaction_has_committed(pg_services: Services) -> None:
    # Given alice subscribes (her first wake-up: the listener is connected) and nothing is pending
    with pg_services.notifications.subscribe_counts(Actor("alice")) as subscription:
        assert subscription.wait(10)
        while subscription.wait(0.2):
            pass
        # When a transaction changes her counts, nothing is announced while it is open
        with pg_services.uow.transaction(actor="alice"):
            pg_services.notifications.send(SENDER, "alice", "inapp", "follow", title="hello")
            assert not subscription.wait(0.5)
        # Then it is announced after the commit, and the new count is there to read
        assert subscription.wait(10)
        assert pg_services.notifications.counts(Actor("alice")).total == 1


def test_count_changes_within_the_publish_window_go_out_in_one_notify(pg_url: str, pg_dsn: str) -> None:
    # Given count events whose publisher gathers changes for a second, recording each NOTIFY
    published: list[list[str]] = []

    class Recording(PgNotificationEvents):
        def _notify(self, conn: psycopg.Connection[Any], users: set[str]) -> None:
            published.append(sorted(users))
            super()._notify(conn, users)

    db = PgDatabase(create_database_engine(pg_url))
    events = Recording(db, pg_dsn, publish_window=1.0)
    try:
        with psycopg.connect(pg_dsn, autocommit=True) as listener:
            listener.execute(f"LISTEN {COUNTS_CHANNEL}")
            # When three transactions, one after the other, change three users' counts
            for user in ("ann", "ben", "cat"):
                with db.transaction(actor=user):
                    events.counts_changed(user)
            # Then each user is announced, all of them by one NOTIFY transaction
            received = {notify.payload for notify in listener.notifies(timeout=10, stop_after=3)}
        assert received == {"ann", "ben", "cat"}
        assert published == [["ann", "ben", "cat"]]
    finally:
        events.close()
        db.dispose()


def test_a_preference_change_in_another_process_decides_the_next_send(
    pg_url: str, clock: ManualClock, pg_dsn: str
) -> None:
    here, there = wired(pg_url, clock), wired(pg_url, clock)
    try:
        # Given a process that decided a send on alice's preferences and remembers them
        assert here.notifications.send(SENDER, "alice", "inapp", "sale", title="1").sent
        # When another process turns the category off
        there.notifications.update_preferences(Actor("alice"), {"categories": {"sale": False}})
        # Then this process's next send follows what is stored, not what it remembered
        assert here.notifications.send(SENDER, "alice", "inapp", "sale", title="2").reason is NotSentReason.CATEGORY_OFF
        # And when the other process turns it on again, the remembered refusal does not stick
        there.notifications.update_preferences(Actor("alice"), {"categories": {"sale": True}})
        assert here.notifications.send(SENDER, "alice", "inapp", "sale", title="3").sent
        # And an email address set over there is the one this process's mail goes to
        assert (
            here.notifications.send(SENDER, "alice", "email", "sale", title="4").reason
            is NotSentReason.NO_EMAIL_ADDRESS
        )
        there.notifications.trust_email_address(SENDER, "alice", "alice@example.com")
        assert here.notifications.send(SENDER, "alice", "email", "sale", title="5").sent
        there.notifications.trust_email_address(SENDER, "alice", "new@example.com")
        assert here.notifications.send(SENDER, "alice", "email", "sale", title="6").sent
        # And an address set but not confirmed over there gets nothing here
        there.notifications.update_preferences(Actor("alice"), {"email_address": "unconfirmed@example.com"})
        assert (
            here.notifications.send(SENDER, "alice", "email", "sale", title="7").reason
            is NotSentReason.EMAIL_UNVERIFIED
        )
        mail = "SELECT recipient, subject FROM notification_mail_outbox WHERE subject ~ '^[0-9]$' ORDER BY subject"
        assert rows(pg_dsn, mail) == [
            ("alice@example.com", "5"),
            ("new@example.com", "6"),
        ]
        assert rows(pg_dsn, "SELECT title FROM notifications ORDER BY title") == [("1",), ("3",), ("5",), ("6",)]
    finally:
        here.close()
        there.close()


def test_sends_racing_preference_changes_follow_a_stored_version(pg_url: str, clock: ManualClock, pg_dsn: str) -> None:
    # Given senders in one process and preference updates toggling the category in another
    here, there = wired(pg_url, clock), wired(pg_url, clock)
    try:

        def act(i: int) -> SendResult | None:
            if i % 4 == 0:
                there.notifications.update_preferences(Actor("dora"), {"categories": {"tip": i % 8 == 0}})
                return None
            return here.notifications.send(SENDER, "dora", "inapp", "tip", title=f"t{i}", idempotency_key=f"k{i}")

        results = [r for r in race(40, act) if r is not None]
        # Then every send was either sent or refused for the category (never an error, never
        # a stale-version failure), and the stored rows and the daily count agree with the results
        assert {r.reason for r in results if not r.sent} <= {NotSentReason.CATEGORY_OFF, NotSentReason.DAILY_CAP}
        sent = sum(r.sent for r in results)
        assert rows(pg_dsn, "SELECT count(*) FROM notifications") == [(sent,)]
        assert rows(pg_dsn, "SELECT coalesce(sum(sent), 0) FROM notification_daily_sends") == [(sent,)]
    finally:
        here.close()
        there.close()


def test_sends_with_one_key_that_waited_on_the_last_cap_slot_answer_the_one_that_took_it(
    pg_url: str, pg_dsn: str, clock: ManualClock
) -> None:
    # Given a user with 4 of the 5 in-app sends of the day spent, and the day's counter row
    # locked by someone else, so that every sender below passes its key check and then waits
    services = bootstrap(
        Settings(ports_mode=PortsMode.POSTGRES, database_url=pg_url, database_pool_size=24, seed_demo_data=False),
        clock=clock,
    )
    try:
        for i in range(4):
            assert services.notifications.send(SENDER, "carol", "inapp", "tip", title=f"early {i}").sent
        with psycopg.connect(pg_dsn) as holder:
            holder.execute("SELECT * FROM notification_daily_sends WHERE user_id = 'carol' FOR UPDATE")
            with ThreadPoolExecutor(max_workers=20) as pool:
                # When 20 sends with one idempotency key race for the last slot
                futures = [
                    pool.submit(
                        services.notifications.send,
                        SENDER,
                        "carol",
                        "inapp",
                        "tip",
                        title="last",
                        idempotency_key="last",
                    )
                    for _ in range(20)
                ]
                waiting_on_locks(pg_dsn, 20)
                holder.commit()
                results = [future.result() for future in futures]
    finally:
        services.close()
    # Then every answer is that one notification (one sent, the rest duplicates), none "capped"
    assert {r.reason for r in results} == {None}
    assert len({r.notification_id for r in results}) == 1
    assert sum(not r.duplicate for r in results) == 1
    assert rows(pg_dsn, "SELECT sent FROM notification_daily_sends") == [(5,)]


def waiting_on_locks(dsn: str, count: int, timeout: float = 20) -> None:
    """Wait until ``count`` backends of this database wait on a lock."""
    deadline = time.monotonic() + timeout
    query = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    while rows(dsn, query)[0][0] < count:
        assert time.monotonic() < deadline, f"fewer than {count} backends waited on a lock"
        time.sleep(0.05)
