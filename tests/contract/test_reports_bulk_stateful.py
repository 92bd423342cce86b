"""Bulk actions driven through both adapters at once: random sales, holds, refunds and cancellations
by hand, bulk refunds and cancellations started (and started again), and their jobs' ranges run, run
again and run out of order. Memory and Postgres agree on every outcome, every registration and every
action's progress, and no registration ever gets a second refund from a bulk action."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from tests.conftest import EPOCH, memory_settings, postgres_settings
from tests.contract.test_reports_bulk import ledger_refunds

from townsquare.bootstrap import Services, bootstrap
from townsquare.core.clock import ManualClock
from townsquare.core.errors import DomainError
from townsquare.core.events import make_details
from townsquare.core.identity import Actor
from townsquare.core.reports import BulkReport
from townsquare.core.reports import bulk as reports_bulk

pytestmark = pytest.mark.postgres

SHOP = Actor("shop", roles=["service"])
ATTENDEES = [Actor(f"fan-{n}") for n in range(4)]
KEYS = [f"k{n}" for n in range(5)]
_producers = itertools.count()


def outcome(call: Callable[[], Any]) -> Any:
    try:
        result = call()
    except DomainError as exc:
        return (type(exc).__name__, exc.detail, exc.field)
    if isinstance(result, BulkReport):  # job ids and instants are each adapter's own
        return (result.action.action_id, result.action.total, result.action.amounts, result.progress, result.finished)
    return result


def test_random_bulk_actions_agree_and_refund_each_registration_once(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reports_bulk, "ITEMS_PER_PART", 1)  # a range per item: ranges run out of order
    clock = ManualClock(EPOCH)
    memory = bootstrap(memory_settings(), clock=clock)
    postgres = bootstrap(postgres_settings(pg_url), clock=clock)

    class BulkActions(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            memory.reset()
            clock.set(EPOCH)
            # The ledger is append-only: each example has a producer (and an event) of its own.
            self.producer = Actor(f"bp-{next(_producers)}")
            self.registrations: list[str] = []
            self.actions: dict[str, int] = {}  # action id -> items

        def both(self, call: Callable[[Services], Any]) -> Any:
            in_memory = outcome(lambda: call(memory))
            in_postgres = outcome(lambda: call(postgres))
            assert in_memory == in_postgres
            return in_memory

        @initialize()
        def an_event(self) -> None:
            details = make_details(
                title="Show",
                starts_at=EPOCH + timedelta(days=60),
                ends_at=EPOCH + timedelta(days=60, hours=2),
                time_zone="Europe/Berlin",
                venue="Hall",
                sales_start=EPOCH - timedelta(days=1),
                sales_end=EPOCH + timedelta(days=59),
                capacity=100,
                currency="EUR",
            )
            for services in (memory, postgres):
                services.events.create_event(self.producer, details, event_id=f"{self.producer.user_id}-ev")
                for type_id, price in (("standard", 2_500), ("free", 0)):
                    services.events.add_ticket_type(
                        self.producer,
                        f"{self.producer.user_id}-ev",
                        type_id=type_id,
                        name=type_id,
                        price=price,
                        quota=50,
                    )
                services.events.publish(self.producer, f"{self.producer.user_id}-ev")

        @property
        def event_id(self) -> str:
            return f"{self.producer.user_id}-ev"

        @rule(
            attendee=st.sampled_from(ATTENDEES),
            key=st.sampled_from(KEYS),
            type_id=st.sampled_from(["standard", "standard", "free"]),
            confirm=st.booleans(),
            capture=st.booleans(),
        )
        def buy(self, attendee: Actor, key: str, type_id: str, confirm: bool, capture: bool) -> None:
            held = self.both(
                lambda s: s.events.reserve(
                    attendee, self.event_id, type_id, 1, idempotency_key=f"{self.producer.user_id}{key}"
                )
            )
            if isinstance(held, tuple):
                return
            if held.registration_id not in self.registrations:
                self.registrations.append(held.registration_id)
            if confirm:
                paid = self.both(
                    lambda s: s.events.confirm(
                        attendee, held.registration_id, idempotency_key=f"{self.producer.user_id}p{key}"
                    )
                )
                if capture and not isinstance(paid, tuple) and paid.earning_id is not None:
                    self.both(
                        lambda s: s.earnings.capture(
                            SHOP, paid.earning_id, currency="EUR", idempotency_key=f"c{paid.earning_id}"
                        )
                    )

        @rule(which=st.integers(0, 20), full=st.booleans())
        def refund_by_hand(self, which: int, full: bool) -> None:
            if self.registrations:
                target = self.registrations[which % len(self.registrations)]
                self.both(
                    lambda s: s.events.refund(
                        self.producer,
                        target,
                        reason="asked",
                        idempotency_key=f"hand-{which}",
                        amount=None if full else 700,
                    )
                )

        @rule(which=st.integers(0, 20))
        def cancel_by_hand(self, which: int) -> None:
            if self.registrations:
                target = self.registrations[which % len(self.registrations)]
                self.both(lambda s: s.events.cancel(self.producer, target))

        @rule(
            kind=st.sampled_from(["refund", "cancel"]),
            narrowed=st.sampled_from(["event", "standard", "confirmed"]),
            key=st.sampled_from(["b0", "b1", "b2"]),
        )
        def start(self, kind: str, narrowed: str, key: str) -> None:
            filters: dict[str, Any] = {"event_id": self.event_id}
            if narrowed == "standard":
                filters["type_id"] = "standard"
            elif narrowed == "confirmed":
                filters["status"] = "confirmed"
            result = self.both(
                lambda s: s.reports.start_bulk(
                    self.producer,
                    kind,
                    s.reports.registration_filter(self.producer, **filters),
                    reason="storm",
                    idempotency_key=key,
                )
            )
            if len(result) == 5:
                self.actions[result[0]] = result[1]

        @rule(which=st.integers(0, 10), part=st.integers(-1, 5))
        def run(self, which: int, part: int) -> None:
            if not self.actions:
                return
            action_id = sorted(self.actions)[which % len(self.actions)]
            ranges = reports_bulk.parts(self.actions[action_id])
            positions = None if part < 0 else ranges[part % len(ranges)]
            self.both(lambda s: s.reports.run_bulk(action_id, positions=positions))

        @rule(minutes=st.integers(0, 40))
        def time_passes(self, minutes: int) -> None:
            clock.advance(timedelta(minutes=minutes))

        @invariant()
        def adapters_agree_and_bulk_refunds_are_single(self) -> None:
            for registration in self.registrations:
                self.both(lambda s, r=registration: s.events.get_registration(self.producer, r))
            for action_id in self.actions:
                report = self.both(lambda s, a=action_id: s.reports.bulk_report(self.producer, a))
                progress, finished = report[3], report[4]
                assert progress.done + progress.failed + progress.pending == report[1]
                assert not finished or progress.pending == 0
            refunds = self.both(lambda s: ledger_refunds(s, self.producer))
            # by hand a registration may be refunded twice (two partial refunds); never by one action
            for action_id in self.actions:
                keyed = self.both(
                    lambda s, a=action_id: sorted(
                        e.earning_id
                        for e in s.earnings.timeline(self.producer, self.producer.user_id, limit=100).events
                        if e.idempotency_key.endswith(f"reports.bulk:{a}")
                    )
                )
                assert len(keyed) == len(set(keyed))
            assert all(count >= 1 for count in refunds.values())

    try:
        run_state_machine_as_test(
            BulkActions, settings=hypothesis_settings(max_examples=12, stateful_step_count=30, deadline=None)
        )
    finally:
        memory.close()
        postgres.close()
