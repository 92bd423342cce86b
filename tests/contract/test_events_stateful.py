"""Stateful comparisons of memory and Postgres.

Random reservations (with and without a code), confirmations, cancellations, refunds, quota
changes and clock moves give the same outcomes on both, and the invariants hold on both: seats
held never above a quota or the capacity, a code's uses never above its maximum. A second
machine drives the waitlist (joins, leaves, declines, offers confirmed, seats freed, quota
raises, promotions, offer expiry, queued jobs) with its invariants: offers in join order (no
entry still waiting ahead of one of its type that got an offer), one offer per entry, and
seats held (offers included) within quota and capacity. On Postgres both check after every step that
the store's counters (seats and uses held, migration 0035) equal a recount of the registrations."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from sqlalchemy import Engine, create_engine, text
from tests.conftest import EPOCH, memory_settings, postgres_settings
from tests.contract.test_events import details

from townsquare.adapters.postgres.events import EVENTS_TABLES
from townsquare.adapters.postgres.feed import FEED_TABLES
from townsquare.adapters.postgres.reports import REPORT_TABLES
from townsquare.bootstrap import Services, bootstrap
from townsquare.core.clock import ManualClock
from townsquare.core.errors import DomainError
from townsquare.core.events import HOLD_DURATION, Registration, WaitlistStatus, registration_id_for
from townsquare.core.events.waitlist import offer_registration_id
from townsquare.core.identity import Actor
from townsquare.core.jobs import JobRunner

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
    tables = ", ".join((*EVENTS_TABLES, *REPORT_TABLES, *FEED_TABLES, "jobs"))
    with create_engine(pg_url).begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    return bootstrap(postgres_settings(pg_url), clock=clock)


# The store's counters (migration 0035) against a recount of the registrations they count.
_COUNTERS_OFF = text(
    """
    SELECT 'type ' || t.event_id || '/' || t.type_id || ': ' || t.held || ' <> ' || r.recount AS off
    FROM event_ticket_types t
    CROSS JOIN LATERAL (
        SELECT coalesce(sum(quantity), 0) AS recount FROM event_registrations
        WHERE event_id = t.event_id AND type_id = t.type_id AND status IN ('reserved', 'confirmed')
    ) r WHERE t.held <> r.recount
    UNION ALL
    SELECT 'code ' || c.code || ': ' || c.uses_held || ' <> ' || r.recount
    FROM event_discount_codes c
    CROSS JOIN LATERAL (
        SELECT count(*) AS recount FROM event_registrations
        WHERE producer_id = c.producer_id AND discount_code = c.code AND status IN ('reserved', 'confirmed')
          AND (c.max_uses IS NOT NULL OR c.per_user_limit IS NOT NULL)  -- only limited codes are counted
    ) r WHERE c.uses_held <> r.recount
    """
)


def counters_off(engine: Engine) -> list[str]:
    """The Postgres store's counters that differ from a recount (none, when it kept them right)."""
    with engine.connect() as conn:
        return list(conn.execute(_COUNTERS_OFF).scalars())


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
            self.engine = create_engine(pg_url)
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
                assert sum(1 for each in held if each.discount_code == "HALF") <= MAX_USES
                assert all(left >= 0 for left in availability.values())

        @invariant()
        def counters_equal_a_recount(self) -> None:
            if hasattr(self, "engine"):
                assert counters_off(self.engine) == []

        def teardown(self) -> None:
            if hasattr(self, "adapters"):
                self.adapters["postgres"].close()
                self.engine.dispose()

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


FANS = [Actor(name) for name in ("ann", "ben", "cat", "dan")]
LINE_TYPES = {"standard": 2, "vip": 1}
LINE_CAPACITY = 3


def _setup_line(services: Services, producer: Actor) -> None:
    """A sold-out event: ann and ben hold the standard tickets, cat the VIP one (all confirmed)."""
    events = services.events
    events.create_event(producer, details(capacity=LINE_CAPACITY), event_id="jazz")  # type: ignore[arg-type]
    for type_id, quota in LINE_TYPES.items():
        events.add_ticket_type(producer, "jazz", type_id=type_id, name=type_id.title(), price=1_000, quota=quota)
    events.publish(producer, "jazz")
    for who, type_id in ((FANS[0], "standard"), (FANS[1], "standard"), (FANS[2], "vip")):
        held = events.reserve(who, "jazz", type_id, 1, idempotency_key="seed")
        events.confirm(who, held.registration_id, idempotency_key="seed-paid")


def test_the_waitlist_agrees_and_keeps_its_order(pg_url: str) -> None:
    class WaitlistMachine(RuleBasedStateMachine):
        @initialize()
        def fresh(self) -> None:
            self.clocks = {"memory": ManualClock(EPOCH), "postgres": ManualClock(EPOCH)}
            self.adapters = {
                "memory": bootstrap(memory_settings(), clock=self.clocks["memory"]),
                "postgres": _emptied(pg_url, self.clocks["postgres"]),
            }
            self.producer = Actor(f"pat-line-{next(EXAMPLES)}")
            self.engine = create_engine(pg_url)
            for services in self.adapters.values():
                _setup_line(services, self.producer)

        def both(self, call: Callable[[Services], Any]) -> Any:
            outcomes = {name: _outcome(call, services) for name, services in self.adapters.items()}
            assert outcomes["memory"] == outcomes["postgres"], outcomes
            return outcomes["memory"]

        def line(self) -> list[Any]:
            return list(
                self.adapters["memory"].waitlist.entries(self.producer, "jazz", active_only=False, limit=500).entries
            )

        def registrations(self, services: Services) -> list[Registration]:
            found = [each for who in FANS for each in services.events.my_registrations(who, limit=100).registrations]
            return sorted(found, key=lambda each: each.registration_id)

        @rule(whos=st.lists(st.sampled_from(FANS), min_size=1, max_size=3), type_id=st.sampled_from(list(LINE_TYPES)))
        def join(self, whos: list[Actor], type_id: str) -> None:
            for who in whos:
                self.both(lambda s, who=who: s.waitlist.join(who, "jazz", type_id))

        @rule(who=st.sampled_from(FANS), type_id=st.sampled_from(list(LINE_TYPES)), key=st.sampled_from(["a", "b"]))
        def reserve(self, who: Actor, type_id: str, key: str) -> None:
            self.both(lambda s: s.events.reserve(who, "jazz", type_id, 1, idempotency_key=key))

        @rule(index=st.integers(0, 7))
        def cancel_one_holding(self, index: int) -> None:
            """Its attendee cancels a registration holding seats (offers included): a seat frees."""
            memory = self.adapters["memory"]
            now = memory.clock.now()
            holding = [each for each in self.registrations(memory) if each.holds_seats(now)]
            if holding:
                chosen = holding[index % len(holding)]
                self.both(lambda s: s.events.cancel(Actor(chosen.attendee_id), chosen.registration_id))

        @rule(index=st.integers(0, 7), how=st.sampled_from(["leave", "decline", "confirm"]))
        def answer(self, index: int, how: str) -> None:
            """One entry's user leaves, declines, or confirms the offer's hold."""
            line = self.line()
            if not line:
                return
            entry = line[index % len(line)]
            who = Actor(entry.user_id)
            if how == "confirm":
                rid = offer_registration_id(entry.entry_id)
                self.both(lambda s: s.events.confirm(who, rid, idempotency_key=f"pay-{entry.entry_id}"))
            else:
                self.both(lambda s: getattr(s.waitlist, how)(who, entry.entry_id))

        @rule(type_id=st.sampled_from(list(LINE_TYPES)), quota=st.integers(1, 3))
        def change_quota(self, type_id: str, quota: int) -> None:
            self.both(lambda s: s.events.update_ticket_type(self.producer, "jazz", type_id, quota=quota))

        @rule(capacity=st.integers(2, 5))
        def change_capacity(self, capacity: int) -> None:
            self.both(
                lambda s: s.events.update_event(self.producer, "jazz", details(capacity=capacity))  # type: ignore[arg-type]
            )

        @rule(step=st.sampled_from([timedelta(minutes=15), timedelta(hours=12), timedelta(hours=24)]))
        def time_passes(self, step: timedelta) -> None:
            for clock in self.clocks.values():
                clock.advance(step)

        @rule()
        def promote(self) -> None:
            self.both(lambda s: s.waitlist.promote("jazz"))

        @rule()
        def expire(self) -> None:
            self.both(lambda s: (s.waitlist.expire_offers(), s.events.expire_holds()))

        @rule()
        def run_jobs(self) -> None:
            def run(s: Services) -> tuple[int, int]:
                report = JobRunner(s.jobs, s.job_handlers).run_due(schedules=[])
                return report.completed, report.failed

            self.both(run)

        @invariant()
        def offers_in_join_order_within_capacity(self) -> None:
            if not hasattr(self, "adapters"):
                return
            line = self.both(lambda s: s.waitlist.entries(self.producer, "jazz", active_only=False, limit=500).entries)
            waiting_ahead: set[str] = set()
            for entry in line:  # first in line first
                if entry.registration_id is not None:
                    assert entry.type_id not in waiting_ahead, f"{entry.entry_id} got an offer with others ahead"
                if entry.status is WaitlistStatus.WAITING:
                    waiting_ahead.add(entry.type_id)
            offers = sorted(entry.registration_id for entry in line if entry.registration_id is not None)
            assert len(offers) == len(set(offers))
            types = self.both(lambda s: {t.type_id: t.quota for t in s.events.ticket_types(self.producer, "jazz")})
            capacity = self.both(lambda s: s.events.get_event(self.producer, "jazz").details.capacity)
            for services in self.adapters.values():
                registrations = self.registrations(services)
                now = services.clock.now()
                assert offers == [
                    each.registration_id for each in registrations if each.reserve_key.startswith("waitlist:")
                ]
                held = [each for each in registrations if each.holds_seats(now)]
                assert sum(each.quantity for each in held) <= capacity
                for type_id, quota in types.items():
                    assert sum(each.quantity for each in held if each.type_id == type_id) <= quota

        @invariant()
        def counters_equal_a_recount(self) -> None:
            if hasattr(self, "engine"):
                assert counters_off(self.engine) == []

        def teardown(self) -> None:
            if hasattr(self, "adapters"):
                self.adapters["postgres"].close()
                self.engine.dispose()

    run_state_machine_as_test(
        WaitlistMachine,
        settings=settings(
            max_examples=20,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
