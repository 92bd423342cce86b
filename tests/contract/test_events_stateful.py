"""A stateful comparison: random reservations (with and without a code), confirmations, cancellations,
refunds, quota changes and clock moves give the same outcomes on memory and Postgres, and the
invariants hold on both: seats held never above a quota or the capacity, a code's uses never
above its maximum."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from sqlalchemy import create_engine, text
from tests.conftest import EPOCH, memory_settings, postgres_settings
from tests.contract.test_events import details

from townsquare.adapters.postgres.events import EVENTS_TABLES
from townsquare.adapters.postgres.feed import FEED_TABLES
from townsquare.bootstrap import Services, bootstrap
from townsquare.core.clock import ManualClock
from townsquare.core.errors import DomainError
from townsquare.core.events import HOLD_DURATION, Registration, registration_id_for
from townsquare.core.identity import Actor

pytestmark = pytest.mark.postgres

EXAMPLES = itertools.count()
ATTENDEES = [Actor("ann"), Actor("ben"), Actor("cat")]
TYPES = ["standard", "vip"]
KEYS = [f"k{n}" for n in range(4)]
CAPACITY = 6
MAX_USES = 2

attendees = st.sampled_from(ATTENDEES)
keys = st.sampled_from(KEYS)


def _comparable(result: Any) -> Any:
    if isinstance(result, Registration):
        return result
    return result


def _outcome(call: Callable[[Services], Any], services: Services) -> Any:
    try:
        return _comparable(call(services))
    except DomainError as error:
        return (type(error).__name__, error.detail, error.field)


def _emptied(pg_url: str, clock: ManualClock) -> Services:
    # The ledger is append-only (no TRUNCATE): each example writes to a producer of its own.
    tables = ", ".join((*EVENTS_TABLES, *FEED_TABLES, "jobs"))
    with create_engine(pg_url).begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    return bootstrap(postgres_settings(pg_url), clock=clock)


def _setup(services: Services, producer: Actor) -> None:
    events = services.events
    events.create_event(producer, details(capacity=CAPACITY), event_id="jazz")  # type: ignore[arg-type]
    events.add_ticket_type(producer, "jazz", type_id="standard", name="Standard", price=1_000, quota=4)
    events.add_ticket_type(producer, "jazz", type_id="vip", name="VIP", price=3_333, quota=3)
    events.publish(producer, "jazz")
    events.create_code(
        producer,
        code="HALF",
        kind="percent",
        value=50,
        valid_from=EPOCH - timedelta(days=1),
        valid_until=EPOCH + timedelta(days=5),
        max_uses=MAX_USES,
    )


def test_memory_and_postgres_agree_step_by_step(pg_url: str) -> None:
    class EventsMachine(RuleBasedStateMachine):
        @initialize()
        def fresh(self) -> None:
            self.clocks = {"memory": ManualClock(EPOCH), "postgres": ManualClock(EPOCH)}
            self.adapters = {
                "memory": bootstrap(memory_settings(), clock=self.clocks["memory"]),
                "postgres": _emptied(pg_url, self.clocks["postgres"]),
            }
            self.producer = Actor(f"pat-{next(EXAMPLES)}")
            for services in self.adapters.values():
                _setup(services, self.producer)

        def both(self, call: Callable[[Services], Any]) -> Any:
            outcomes = {name: _outcome(call, services) for name, services in self.adapters.items()}
            assert outcomes["memory"] == outcomes["postgres"], outcomes
            return outcomes["memory"]

        @rule(
            who=attendees,
            key=keys,
            type_id=st.sampled_from(TYPES),
            quantity=st.integers(0, 4),
            code=st.sampled_from([None, "HALF", "half", "NOPE"]),
        )
        def reserve(self, who: Actor, key: str, type_id: str, quantity: int, code: str | None) -> None:
            self.both(lambda s: s.events.reserve(who, "jazz", type_id, quantity, idempotency_key=key, code=code))

        @rule(who=attendees, key=keys, pay=st.sampled_from(["p1", "p2"]))
        def confirm(self, who: Actor, key: str, pay: str) -> None:
            rid = registration_id_for(who.user_id, key)
            self.both(lambda s: s.events.confirm(who, rid, idempotency_key=pay))

        @rule(who=attendees, key=keys, by_producer=st.booleans())
        def cancel(self, who: Actor, key: str, by_producer: bool) -> None:
            rid = registration_id_for(who.user_id, key)
            self.both(lambda s: s.events.cancel(self.producer if by_producer else who, rid))

        @rule(who=attendees, key=keys, amount=st.sampled_from([None, 1, 500, 10_000]), refund_key=keys)
        def refund(self, who: Actor, key: str, amount: int | None, refund_key: str) -> None:
            rid = registration_id_for(who.user_id, key)
            self.both(
                lambda s: s.events.refund(self.producer, rid, reason="r", idempotency_key=refund_key, amount=amount)
            )

        @rule(type_id=st.sampled_from(TYPES), quota=st.integers(1, 5))
        def change_quota(self, type_id: str, quota: int) -> None:
            self.both(lambda s: s.events.update_ticket_type(self.producer, "jazz", type_id, quota=quota))

        @rule(minutes=st.sampled_from([1, 7, 15]))
        def time_passes(self, minutes: int) -> None:
            for clock in self.clocks.values():
                clock.advance(timedelta(minutes=minutes))

        @rule()
        def expire(self) -> None:
            self.both(lambda s: s.events.expire_holds())

        @invariant()
        def within_limits(self) -> None:
            if not hasattr(self, "adapters"):
                return
            availability = self.both(lambda s: s.events.availability(self.producer, "jazz"))
            uses = self.both(lambda s: s.events.code_uses(self.producer, "HALF"))
            assert uses <= MAX_USES
            for services in self.adapters.values():
                now = services.clock.now()
                mine = [
                    registration
                    for who in ATTENDEES
                    for registration in services.events.my_registrations(who, limit=100).registrations
                ]
                held = [each for each in mine if each.holds_seats(now)]
                types = {each.type_id: each.quota for each in services.events.ticket_types(self.producer, "jazz")}
                assert sum(each.quantity for each in held) <= CAPACITY
                for type_id, quota in types.items():
                    # A quota may be lowered only to what is held, so holds stay within it.
                    assert sum(each.quantity for each in held if each.type_id == type_id) <= quota
                assert sum(1 for each in held if each.discount_code == "HALF") == uses
                assert all(left >= 0 for left in availability.values())

        def teardown(self) -> None:
            if hasattr(self, "adapters"):
                self.adapters["postgres"].close()

    assert timedelta(minutes=15) == HOLD_DURATION
    run_state_machine_as_test(
        EventsMachine,
        settings=settings(
            max_examples=10,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
