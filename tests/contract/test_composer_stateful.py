"""A stateful comparison: random saves, publishes, schedules, reschedules, cancels and clock moves
give the same outcomes on memory and Postgres, and the same feed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test
from sqlalchemy import create_engine, text
from tests.conftest import EPOCH, memory_settings, postgres_settings

from townsquare.adapters.postgres.composer import COMPOSER_TABLES
from townsquare.adapters.postgres.feed import FEED_TABLES
from townsquare.bootstrap import Services, bootstrap
from townsquare.core.clock import ManualClock
from townsquare.core.composer import Draft, DraftConflict, DraftPage, make_content
from townsquare.core.errors import DomainError
from townsquare.core.feed import FeedItem
from townsquare.core.identity import Actor
from townsquare.core.jobs import JobRunner

pytestmark = pytest.mark.postgres

AUTHORS = [Actor("ann"), Actor("ben")]
DRAFT_IDS = [f"d{n}" for n in range(5)]
ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Not/AZone"]

authors = st.sampled_from(AUTHORS)
draft_ids = st.sampled_from(DRAFT_IDS)
versions = st.integers(1, 6)
titles = st.sampled_from(["", "a", "b", "ünïcödé 👩‍👩‍👧"])


def _comparable(result: Any) -> Any:
    if isinstance(result, Draft):
        return result
    if isinstance(result, DraftPage):
        return ([draft.draft_id for draft in result.drafts], result.next_cursor is None)
    if isinstance(result, FeedItem):
        return (result.item_id, result.creator_id, result.title, result.body, result.published_at)
    return result


def _outcome(call: Callable[[Services], Any], services: Services) -> Any:
    """What a caller sees: the result in comparable form, or the kind and text of the refusal."""
    try:
        return _comparable(call(services))
    except DraftConflict as conflict:
        return ("DraftConflict", conflict.current)
    except DomainError as error:
        return (type(error).__name__, error.detail, error.field)


def _emptied(pg_url: str, clock: ManualClock) -> Services:
    with create_engine(pg_url).begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join((*COMPOSER_TABLES, *FEED_TABLES, 'jobs'))} RESTART IDENTITY"))
    return bootstrap(postgres_settings(pg_url), clock=clock)


def test_memory_and_postgres_agree_step_by_step(pg_url: str) -> None:
    class ComposerMachine(RuleBasedStateMachine):
        @initialize()
        def fresh(self) -> None:
            self.clocks = {"memory": ManualClock(EPOCH), "postgres": ManualClock(EPOCH)}
            self.adapters = {
                "memory": bootstrap(memory_settings(), clock=self.clocks["memory"]),
                "postgres": _emptied(pg_url, self.clocks["postgres"]),
            }

        def both(self, call: Callable[[Services], Any]) -> Any:
            outcomes = {name: _outcome(call, services) for name, services in self.adapters.items()}
            assert outcomes["memory"] == outcomes["postgres"], outcomes
            return outcomes["memory"]

        @rule(author=authors, draft_id=draft_ids, title=titles)
        def create(self, author: Actor, draft_id: str, title: str) -> None:
            self.both(lambda s: s.composer.create(author, make_content(title, "body"), draft_id=draft_id))

        @rule(author=authors, draft_id=draft_ids, version=versions, title=titles, body=st.sampled_from(["x", "y"]))
        def save(self, author: Actor, draft_id: str, version: int, title: str, body: str) -> None:
            self.both(lambda s: s.composer.save(author, draft_id, version, make_content(title, body)))

        @rule(author=authors, draft_id=draft_ids, version=versions)
        def publish(self, author: Actor, draft_id: str, version: int) -> None:
            self.both(lambda s: s.composer.publish(author, draft_id, version))

        @rule(author=authors, draft_id=draft_ids, version=versions)
        def delete(self, author: Actor, draft_id: str, version: int) -> None:
            self.both(lambda s: s.composer.delete(author, draft_id, version))

        @rule(
            author=authors,
            draft_id=draft_ids,
            version=versions,
            minutes=st.integers(-5, 180),
            zone=st.sampled_from(ZONES),
        )
        def schedule(self, author: Actor, draft_id: str, version: int, minutes: int, zone: str) -> None:
            # The same local wall-clock time on both: the clocks move together.
            local = (self.clocks["memory"].now() + timedelta(minutes=minutes)).replace(tzinfo=None)
            self.both(lambda s: s.composer.schedule(author, draft_id, version, local, zone))

        @rule(author=authors, draft_id=draft_ids, version=versions)
        def cancel(self, author: Actor, draft_id: str, version: int) -> None:
            self.both(lambda s: s.composer.cancel_schedule(author, draft_id, version))

        @rule(minutes=st.integers(1, 400))
        def time_passes(self, minutes: int) -> None:
            for clock in self.clocks.values():
                clock.advance(timedelta(minutes=minutes))
            for services in self.adapters.values():
                JobRunner(services.jobs, services.job_handlers).run_due()
            self.both(lambda s: [_comparable(item) for item in s.feed.home(Actor("reader"), limit=100).items])

        @rule(author=authors)
        def read(self, author: Actor) -> None:
            self.both(lambda s: s.composer.list_mine(author, limit=100))
            for draft_id in DRAFT_IDS:
                self.both(lambda s, draft_id=draft_id: s.composer.get(author, draft_id))

        def teardown(self) -> None:
            if hasattr(self, "adapters"):
                self.adapters["postgres"].close()

    run_state_machine_as_test(
        ComposerMachine,
        settings=settings(
            max_examples=25,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
