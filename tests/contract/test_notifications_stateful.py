"""Stateful property: random sends, reads, preference changes and clock moves give the same
results on the memory and the Postgres adapters.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import text
from tests.conftest import EPOCH, memory_settings, postgres_settings

from townsquare.bootstrap import Services, bootstrap
from townsquare.core.clock import ManualClock
from townsquare.core.errors import NotFound
from townsquare.core.identity import Actor

SENDER = Actor("test-sender", roles=["service"])

USERS = ["ann", "ben"]
TABLES = (
    "notifications, notification_daily_sends, notification_preferences, notification_digest_runs, "
    "notification_mail_outbox, notification_read_marks"
)


@pytest.mark.postgres
def test_memory_and_postgres_agree(pg_url: str) -> None:
    clock = ManualClock(EPOCH)
    postgres = bootstrap(postgres_settings(pg_url), clock=clock)

    class SameOnBothAdapters(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            clock.set(EPOCH)
            # TRUNCATE is the owner's (the login role's), not the system role's: no transaction() here.
            with postgres.uow.engine.begin() as conn:  # type: ignore[attr-defined]
                conn.execute(text(f"TRUNCATE {TABLES}"))
            self.memory = bootstrap(memory_settings(), clock=clock)
            self.sent: list[tuple[str, str]] = []
            self.keys = 0

        def both(self) -> tuple[Services, Services]:
            return self.memory, postgres

        @rule(
            user=st.sampled_from(USERS),
            channel=st.sampled_from(["inapp", "inapp", "push"]),
            category=st.sampled_from(["follow", "sale", "event", "system"]),
            reuse=st.booleans(),
        )
        def send(self, user: str, channel: str, category: str, reuse: bool) -> None:
            key = f"k{self.keys - 1}" if reuse and self.keys else f"k{self.keys}"
            self.keys += not reuse
            results = [
                s.notifications.send(SENDER, user, channel, category, title=category, idempotency_key=key)
                for s in self.both()
            ]
            assert results[0] == results[1]
            # A reused key may name an earlier send on another channel: only new in-app ones count.
            if results[0].notification_id and channel == "inapp" and not results[0].duplicate:
                self.sent.append((user, results[0].notification_id))

        @rule(data=st.data())
        def mark_read(self, data: st.DataObject) -> None:
            if not self.sent:
                return
            user, ident = data.draw(st.sampled_from(self.sent))
            reader = data.draw(st.sampled_from(USERS))
            outcomes = []
            for services in self.both():
                try:
                    outcomes.append(services.notifications.mark_read(Actor(reader), [ident]))
                except NotFound:
                    outcomes.append(-1)
            assert outcomes[0] == outcomes[1]
            assert (outcomes[0] == -1) == (reader != user)

        @rule(user=st.sampled_from(USERS), lane=st.sampled_from([None, "social", "commerce"]))
        def mark_all_read(self, user: str, lane: str | None) -> None:
            changed = [s.notifications.mark_all_read(Actor(user), lane) for s in self.both()]
            assert changed[0] == changed[1]

        @rule(
            user=st.sampled_from(USERS),
            zone=st.sampled_from(["UTC", "Asia/Tokyo", "America/New_York"]),
            quiet=st.booleans(),
            start=st.integers(0, 23),
        )
        def preferences(self, user: str, zone: str, quiet: bool, start: int) -> None:
            patch = {
                "timezone": zone,
                "quiet_hours": {"enabled": quiet, "start": f"{start:02d}:00", "end": f"{(start + 3) % 24:02d}:00"},
            }
            docs = [s.notifications.update_preferences(Actor(user), patch).document for s in self.both()]
            assert docs[0] == docs[1]

        @rule(hours=st.integers(1, 30))
        def time_passes(self, hours: int) -> None:
            clock.advance(timedelta(hours=hours))

        @invariant()
        def inboxes_and_counts_agree(self) -> None:
            for user in USERS:
                memory, pg = (s.notifications for s in self.both())
                assert memory.counts(Actor(user)) == pg.counts(Actor(user))
                mine = [(n.id, n.read_at) for n in memory.inbox(Actor(user), limit=100).items]
                theirs = [(n.id, n.read_at) for n in pg.inbox(Actor(user), limit=100).items]
                assert mine == theirs

    try:
        run_state_machine_as_test(
            SameOnBothAdapters, settings=settings(max_examples=20, stateful_step_count=20, deadline=None)
        )
    finally:
        postgres.close()
