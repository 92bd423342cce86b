"""A stateful comparison: random sequences of feed operations give the same outcomes on memory and Postgres."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test
from tests.conftest import EPOCH
from tests.contract.test_feed_properties import _emptied, _memory_services

from townsquare.bootstrap import Services
from townsquare.core.errors import DomainError
from townsquare.core.feed import Draft, FeedPage, ItemKind
from townsquare.core.identity import Actor

pytestmark = pytest.mark.postgres

USERS = [Actor("ann"), Actor("ben"), Actor("cat"), Actor("root", roles=["admin"])]
ITEM_IDS = [f"item-{n}" for n in range(12)]

users = st.sampled_from(USERS)
item_ids = st.sampled_from(ITEM_IDS)


def _outcome(call: Callable[[Services], Any], services: Services) -> Any:
    """What a caller sees: the result in comparable form, or the kind and text of the refusal."""
    try:
        result = call(services)
    except DomainError as error:
        return (type(error).__name__, error.detail, error.field)
    if isinstance(result, FeedPage):
        return ([item.item_id for item in result.items], result.next_cursor is None)
    if isinstance(result, list):
        return [(entry.item.item_id, entry.added_at) for entry in result]
    return result


def test_memory_and_postgres_agree_step_by_step(pg_url: str) -> None:
    class FeedMachine(RuleBasedStateMachine):
        @initialize(
            items=st.lists(
                st.tuples(item_ids, st.sampled_from(list(ItemKind)), st.sampled_from(USERS[:3]), st.integers(0, 30)),
                min_size=3,
                max_size=10,
                unique_by=lambda spec: spec[0],
            )
        )
        def fresh_feeds(self, items: list[tuple[str, ItemKind, Actor, int]]) -> None:
            self.adapters = {"memory": _memory_services(), "postgres": _emptied(pg_url)}
            self.cursors: dict[tuple[str, str, str], str | None] = {}
            for item_id, kind, creator, minutes_ago in items:
                self.publish(
                    author=USERS[3],
                    item_id=item_id,
                    kind=kind,
                    title="a",
                    minutes_ago=minutes_ago,
                    creator=creator.user_id,
                )

        def both(self, call: Callable[[Services], Any]) -> dict[str, Any]:
            outcomes = {name: _outcome(call, services) for name, services in self.adapters.items()}
            assert outcomes["memory"] == outcomes["postgres"], outcomes
            return outcomes

        @rule(
            author=users,
            item_id=item_ids,
            kind=st.sampled_from(list(ItemKind)),
            title=st.sampled_from(["a", "b"]),
            minutes_ago=st.none() | st.integers(0, 30),
            creator=st.none() | st.sampled_from(["ann", "ben"]),
        )
        def publish(
            self,
            *,
            author: Actor,
            item_id: str,
            kind: ItemKind,
            title: str,
            minutes_ago: int | None,
            creator: str | None,
        ) -> None:
            price = {"price_cents": 700, "currency": "EUR"} if kind is ItemKind.PRODUCT else {}
            draft = Draft(item_id=item_id, kind=kind, title=title, **price)  # type: ignore[arg-type]
            when = None if minutes_ago is None else EPOCH - timedelta(minutes=minutes_ago)
            self.both(lambda s: s.feed.publish(author, draft, creator_id=creator, published_at=when))

        @rule(actor=users, item_id=item_ids)
        def remove(self, actor: Actor, item_id: str) -> None:
            self.both(lambda s: s.feed.remove(actor, item_id))

        @rule(viewer=users, creator=st.sampled_from(["ann", "ben", "cat"]), on=st.booleans())
        def follow(self, viewer: Actor, creator: str, on: bool) -> None:
            self.both(lambda s: (s.feed.follow if on else s.feed.unfollow)(viewer, creator))

        @rule(viewer=users, item_id=item_ids, on=st.booleans())
        def hide(self, viewer: Actor, item_id: str, on: bool) -> None:
            self.both(lambda s: (s.feed.hide if on else s.feed.unhide)(viewer, item_id))

        @rule(viewer=users, item_id=item_ids, on=st.booleans())
        def cart(self, viewer: Actor, item_id: str, on: bool) -> None:
            self.both(lambda s: (s.feed.add_to_cart if on else s.feed.remove_from_cart)(viewer, item_id))
            self.both(lambda s: s.feed.cart(viewer))

        @rule(
            viewer=users,
            mode=st.sampled_from(["for_you", "following"]),
            limit=st.integers(1, 7),
            go_on=st.booleans(),
        )
        def read_page(self, viewer: Actor, mode: str, limit: int, go_on: bool) -> None:
            # Each adapter continues its own pagination, with its own cursor.
            pages = {}
            for name, services in self.adapters.items():
                key = (name, viewer.user_id, mode)
                page = services.feed.home(viewer, mode, self.cursors.get(key) if go_on else None, limit)
                self.cursors[key] = page.next_cursor
                pages[name] = ([item.item_id for item in page.items], page.next_cursor is None)
            assert pages["memory"] == pages["postgres"], pages

        def teardown(self) -> None:
            if hasattr(self, "adapters"):
                self.adapters["postgres"].close()

    run_state_machine_as_test(
        FeedMachine,
        settings=settings(
            max_examples=60,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
