"""Real races on Postgres: concurrent reservations never hold more seats than the quota, racing
retries of one reservation key make one registration, concurrent waitlist approvals never exceed
the free seats, and racing promotion runs make each offer once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import attrs
import pytest
from sqlalchemy import create_engine, text

from tests.conftest import postgres_settings
from tests.contract.test_events import PRODUCER, details, published_event
from tests.contract.test_events_stateful import counters_off
from townsquare.bootstrap import Services, bootstrap
from townsquare.core.clock import ManualClock
from townsquare.core.errors import Conflict
from townsquare.core.events import RegistrationStatus, registration_id_for
from townsquare.core.events.checkout import HoldOutcome, HoldTerms, new_hold
from townsquare.core.identity import Actor

pytestmark = pytest.mark.postgres


def run_together(count: int, work: Callable[[int], None]) -> None:
    barrier = threading.Barrier(count)

    def start(number: int) -> None:
        barrier.wait()
        work(number)

    threads = [threading.Thread(target=start, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)


def race_services(pg_url: str, clock: ManualClock) -> Services:
    return bootstrap(attrs.evolve(postgres_settings(pg_url), database_pool_size=20), clock=clock)


def test_two_hundred_concurrent_reservations_for_fifty_seats_hold_exactly_fifty(
    pg_url: str, clock: ManualClock
) -> None:
    # Given an event whose one ticket type has 50 seats
    services = race_services(pg_url, clock)
    try:
        published_event(services, capacity=1_000, quota=50)
        held: list[str] = []
        refused: list[int] = []

        def attendee(number: int) -> None:
            try:
                registration = services.events.reserve(
                    Actor(f"fan-{number}"), "jazz", "standard", 1, idempotency_key="go"
                )
                held.append(registration.registration_id)
            except Conflict:
                refused.append(number)

        # When 200 attendees reserve one seat each at once
        run_together(200, attendee)
        # Then exactly 50 hold a seat, the others were told it is sold out, and the store agrees
        assert (len(held), len(refused)) == (50, 150)
        assert services.events.availability(PRODUCER, "jazz") == {"standard": 0}
        engine = create_engine(pg_url)
        with engine.connect() as conn:
            seats = conn.execute(
                text("SELECT sum(quantity) FROM event_registrations WHERE status = 'reserved'")
            ).scalar_one()
        engine.dispose()
        assert seats == 50
    finally:
        services.close()


def test_racing_retries_of_one_key_make_one_registration(pg_url: str, clock: ManualClock) -> None:
    services = race_services(pg_url, clock)
    try:
        published_event(services, quota=50)
        alice = Actor("alice")
        ids: list[str] = []

        def retry(_number: int) -> None:
            ids.append(services.events.reserve(alice, "jazz", "standard", 2, idempotency_key="once").registration_id)

        run_together(20, retry)
        assert len(set(ids)) == 1 and len(ids) == 20
        page = services.events.my_registrations(alice)
        assert [(each.quantity, each.status) for each in page.registrations] == [(2, RegistrationStatus.RESERVED)]
    finally:
        services.close()


def test_concurrent_confirmations_write_one_earning_each(pg_url: str, clock: ManualClock) -> None:
    services = race_services(pg_url, clock)
    try:
        published_event(services, quota=50)
        alice = Actor("alice")
        held = services.events.reserve(alice, "jazz", "standard", 2, idempotency_key="r")
        earnings: list[str | None] = []

        def confirm(_number: int) -> None:
            earnings.append(services.events.confirm(alice, held.registration_id, idempotency_key="c").earning_id)

        run_together(10, confirm)
        assert len(set(earnings)) == 1
        assert [summary.events for summary in services.earnings.summary(PRODUCER, "pat")] == [1]
    finally:
        services.close()


def _confirm_race(services: Services, alice: Actor, holds: list[str], key: str) -> tuple[set[str], list[str | None]]:
    confirmed: set[str] = set()
    refused: list[str | None] = []

    def confirm(number: int) -> None:
        try:
            confirmed.add(services.events.confirm(alice, holds[number % 2], idempotency_key=key).registration_id)
        except Conflict as refusal:
            refused.append(refusal.field)

    run_together(4, confirm)
    return confirmed, refused


def test_one_key_racing_to_confirm_different_holds_confirms_one_and_refuses_the_rest(
    pg_url: str, clock: ManualClock
) -> None:
    # Given alice's holds on two events, confirmed at once under one idempotency key, round after round
    services = race_services(pg_url, clock)
    try:
        published_event(services, quota=50)
        published_event(services, quota=50, event_id="blues")
        alice = Actor("alice")
        for round_number in range(10):
            holds = [
                services.events.reserve(alice, event, "standard", 1, idempotency_key=f"r{round_number}-{event}")
                for event in ("jazz", "blues")
            ]
            confirmed, refused = _confirm_race(services, alice, [h.registration_id for h in holds], f"k{round_number}")
            # Then one hold is confirmed (retries of it answer the same), the other is refused naming the key
            assert len(confirmed) == 1, confirmed
            assert refused and set(refused) == {"idempotency_key"}
    finally:
        services.close()


def test_a_hundred_concurrent_checkouts_with_a_code_of_five_uses_use_it_exactly_five_times(
    pg_url: str, clock: ManualClock
) -> None:
    # Given a code of at most 5 uses and plenty of seats
    services = race_services(pg_url, clock)
    try:
        published_event(services, capacity=1_000, quota=500)
        services.events.create_code(
            PRODUCER,
            code="FIVE",
            kind="percent",
            value=50,
            valid_from=clock.now() - timedelta(days=1),
            valid_until=clock.now() + timedelta(days=1),
            max_uses=5,
        )
        used: list[str] = []
        refused: list[int] = []

        def checkout(number: int) -> None:
            buyer = Actor(f"fan-{number}")
            try:
                held = services.events.reserve(buyer, "jazz", "standard", 1, idempotency_key="go", code="FIVE")
            except Conflict as refusal:
                assert refusal.field == "code"
                refused.append(number)
                return
            services.events.confirm(buyer, held.registration_id, idempotency_key="pay")
            used.append(held.registration_id)

        # When 100 buyers check out with it at once
        run_together(100, checkout)
        # Then exactly 5 got it
        assert (len(used), len(refused)) == (5, 95)
        # And the code is used up for whoever comes next
        with pytest.raises(Conflict) as late:
            services.events.reserve(Actor("late-fan"), "jazz", "standard", 1, idempotency_key="go", code="FIVE")
        assert late.value.field == "code"
    finally:
        services.close()


def _sold_out_with_a_line(services: Services, *, mode: str, sold: int, fans: int) -> list[str]:
    """An event whose one type's ``sold`` tickets are confirmed, with ``fans`` in line; their entry ids."""
    events = services.events
    events.create_event(PRODUCER, details(capacity=1_000, waitlist_mode=mode), event_id="jazz")  # type: ignore[arg-type]
    events.add_ticket_type(PRODUCER, "jazz", type_id="standard", name="Standard", price=1_000, quota=sold)
    events.publish(PRODUCER, "jazz")
    for number in range(sold):
        buyer = Actor(f"buyer-{number}")
        held = events.reserve(buyer, "jazz", "standard", 1, idempotency_key="b")
        events.confirm(buyer, held.registration_id, idempotency_key="p")
    return [services.waitlist.join(Actor(f"fan-{n}"), "jazz", "standard").entry.entry_id for n in range(fans)]


def _offers_in_store(pg_url: str) -> tuple[int, int, int]:
    """Offered entries, offer holds and announcement jobs, as the database has them."""
    engine = create_engine(pg_url)
    with engine.connect() as conn:
        entries = conn.execute(text("SELECT count(*) FROM event_waitlist WHERE status = 'offered'")).scalar_one()
        holds = conn.execute(
            text("SELECT count(*) FROM event_registrations WHERE reserve_key LIKE 'waitlist:%' AND status = 'reserved'")
        ).scalar_one()
        jobs = conn.execute(text("SELECT count(*) FROM jobs WHERE job_type = 'events.announce_offer'")).scalar_one()
    engine.dispose()
    return entries, holds, jobs


def test_concurrent_approvals_never_exceed_the_free_seats(pg_url: str, clock: ManualClock) -> None:
    # Given a manual-mode event sold out at 5 with 30 people in line, and 5 seats freed by a quota raise
    services = race_services(pg_url, clock)
    try:
        entries = _sold_out_with_a_line(services, mode="manual", sold=5, fans=30)
        services.events.update_ticket_type(PRODUCER, "jazz", "standard", quota=10)
        approved: list[str] = []
        refused: list[str] = []

        def approve(number: int) -> None:
            try:
                services.waitlist.approve(PRODUCER, "jazz", [entries[number]])
                approved.append(entries[number])
            except Conflict as error:
                assert error.field == "entry_ids"
                refused.append(entries[number])

        # When the producer approves all 30 at once (30 requests)
        run_together(30, approve)
        # Then exactly 5 were offered a seat: the seats held are the quota, never more
        assert (len(approved), len(refused)) == (5, 25)
        assert services.events.availability(PRODUCER, "jazz") == {"standard": 0}
        assert _offers_in_store(pg_url) == (5, 5, 5)
    finally:
        services.close()


def test_concurrent_promotion_runs_make_each_offer_once(pg_url: str, clock: ManualClock) -> None:
    # Given an event sold out at 5 with 50 people in line, and 20 seats freed by a quota raise
    services = race_services(pg_url, clock)
    try:
        entries = _sold_out_with_a_line(services, mode="automatic", sold=5, fans=50)
        services.events.update_ticket_type(PRODUCER, "jazz", "standard", quota=25)
        made: list[int] = []
        errors: list[Exception] = []

        def promote(_number: int) -> None:
            try:
                made.append(services.waitlist.promote("jazz"))
            except Exception as error:  # a duplicate offer would surface here as a unique violation
                errors.append(error)

        # When eight promotion runs race (the queued job, the sweep, retries)
        run_together(8, promote)
        # Then 20 offers were made between them, once each, to the first 20 in line, and no run failed
        assert errors == []
        assert sum(made) == 20
        assert _offers_in_store(pg_url) == (20, 20, 20)
        line = services.waitlist.entries(PRODUCER, "jazz", limit=500).entries
        offered = [entry.entry_id for entry in line if entry.registration_id is not None]
        assert offered == entries[:20]
    finally:
        services.close()


def test_racing_checkouts_cancellations_and_the_sweep_keep_the_counters_equal_to_a_recount(
    pg_url: str, clock: ManualClock
) -> None:
    # Given two events sharing a producer-wide code of 12 uses, with a few holds already lapsed
    services = race_services(pg_url, clock)
    engine = create_engine(pg_url)
    try:
        for event_id in ("jazz", "blues"):
            published_event(services, capacity=1_000, quota=30, event_id=event_id)
        services.events.create_code(
            PRODUCER,
            code="TWELVE",
            kind="percent",
            value=10,
            valid_from=clock.now() - timedelta(days=1),
            valid_until=clock.now() + timedelta(days=1),
            max_uses=12,
        )
        for number in range(4):
            services.events.reserve(Actor(f"early-{number}"), "jazz", "standard", 2, idempotency_key="e", code="TWELVE")
        clock.advance(timedelta(minutes=16))

        def work(number: int) -> None:
            if number % 10 == 0:
                services.events.expire_holds()  # the bookkeeping job, racing the checkouts
                return
            buyer = Actor(f"fan-{number}")
            event_id = ("jazz", "blues")[number % 2]
            try:
                held = services.events.reserve(
                    buyer, event_id, "standard", 1 + number % 2, idempotency_key="go", code="TWELVE"
                )
            except Conflict:
                return
            if number % 3 == 0:
                services.events.cancel(buyer, held.registration_id)
                return
            confirmed = services.events.confirm(buyer, held.registration_id, idempotency_key="pay")
            if number % 3 == 1:
                services.events.refund(PRODUCER, confirmed.registration_id, reason="r", idempotency_key="r")

        # When 80 of them run at once
        run_together(80, work)
        # Then every counter equals a recount, and no limit was passed
        assert counters_off(engine) == []
        for event_id in ("jazz", "blues"):
            assert all(left >= 0 for left in services.events.availability(PRODUCER, event_id).values())
        with engine.connect() as conn:
            held_now = conn.execute(
                text(
                    "SELECT event_id, sum(quantity) AS seats FROM event_registrations WHERE status = 'confirmed' "
                    "OR (status = 'reserved' AND expires_at > :now) GROUP BY event_id"
                ),
                {"now": clock.now()},
            ).all()
            uses = conn.execute(
                text(
                    "SELECT count(*) FROM event_registrations WHERE discount_code = 'TWELVE' AND (status = 'confirmed' "
                    "OR (status = 'reserved' AND expires_at > :now))"
                ),
                {"now": clock.now()},
            ).scalar_one()
        assert all(row.seats <= 30 for row in held_now)
        assert uses <= 12
    finally:
        engine.dispose()
        services.close()


def _count_as_lapsed_then_wait(
    services: Services, how: str, counted: threading.Event, release: threading.Event
) -> None:
    """In one transaction, count seats for a decision (as a reservation does), then wait to commit."""
    store = services.events._events  # type: ignore[attr-defined]
    with services.uow.transaction():
        if how == "locked path":
            assert store.held_seats_for_change("jazz", services.clock.now()) == {}
        else:
            terms = _bob_terms(services)
            assert store.place_hold(terms) is HoldOutcome.HELD
        counted.set()
        release.wait(30)


def _bob_terms(services: Services) -> HoldTerms:
    store = services.events._events  # type: ignore[attr-defined]
    registration_id = registration_id_for("bob", "b")
    with services.uow.single_statements():
        context = store.checkout_context("jazz", None, registration_id)
    ticket = context.types[0]
    hold = new_hold(
        Actor("bob"),
        context.event,
        ticket,
        registration_id=registration_id,
        quantity=1,
        key="b",
        code=None,
        discount=0,
        now=services.clock.now(),
        hold_for=timedelta(minutes=15),
    )
    return HoldTerms(registration=hold, event=context.event, ticket=ticket, code=None)


@pytest.mark.parametrize("how", ["locked path", "at once"])
def test_a_confirmation_of_a_hold_a_reservation_counted_as_lapsed_waits_for_it_and_refuses(
    pg_url: str, clock: ManualClock, how: str
) -> None:
    # Given alice's hold on the one seat, lapsed by the time a reservation counts it
    services = race_services(pg_url, clock)
    try:
        published_event(services, quota=1)
        alice = Actor("alice")
        held = services.events.reserve(alice, "jazz", "standard", 1, idempotency_key="a")
        clock.advance(timedelta(minutes=15))
        counted, release = threading.Event(), threading.Event()
        counting = threading.Thread(target=_count_as_lapsed_then_wait, args=(services, how, counted, release))
        counting.start()
        assert counted.wait(30)
        # When alice confirms with a clock read earlier than the reservation's (it has not moved yet
        # for her: the clock goes back to before her hold's expiry)
        clock.advance(timedelta(minutes=-1))
        outcome: list[object] = []

        def confirm() -> None:
            try:
                outcome.append(services.events.confirm(alice, held.registration_id, idempotency_key="pay"))
            except Conflict as refusal:
                outcome.append(refusal.field)

        confirming = threading.Thread(target=confirm)
        confirming.start()
        confirming.join(1.0)
        # Then the confirmation waits for the reservation that counted her seat free
        assert confirming.is_alive() and outcome == []
        clock.advance(timedelta(minutes=1))  # time moves on while it waits
        release.set()
        counting.join(30)
        confirming.join(30)
        # and then reads the clock after it: the hold has lapsed, nothing is confirmed
        assert outcome == ["registration_id"]
        assert services.events.availability(PRODUCER, "jazz") == {"standard": 0 if how == "at once" else 1}
    finally:
        services.close()


def test_a_confirmation_does_not_wait_for_the_events_lock(pg_url: str, clock: ManualClock) -> None:
    # Given a hold, and a transaction holding its event's row (a reservation or a quota change)
    services = race_services(pg_url, clock)
    engine = create_engine(pg_url)
    try:
        published_event(services, quota=5)
        alice = Actor("alice")
        held = services.events.reserve(alice, "jazz", "standard", 1, idempotency_key="a")
        with engine.begin() as conn:
            conn.execute(text("SELECT 1 FROM events WHERE event_id = 'jazz' FOR UPDATE"))
            # When alice confirms meanwhile, Then it completes without waiting for that lock
            done: list[RegistrationStatus] = []
            confirming = threading.Thread(
                target=lambda: done.append(
                    services.events.confirm(alice, held.registration_id, idempotency_key="pay").status
                )
            )
            confirming.start()
            confirming.join(10)
            assert done == [RegistrationStatus.CONFIRMED]
    finally:
        engine.dispose()
        services.close()
