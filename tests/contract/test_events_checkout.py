"""The checkout's fast path, on both adapters: ``place_hold`` writes a hold only while the terms the
core decided on still stand, and says why not otherwise (writing nothing); the service's answers
do not depend on which path decided them."""

from __future__ import annotations

from datetime import timedelta

from tests.contract.test_events import ALICE, PRODUCER, published_event

from townsquare.bootstrap import Services
from townsquare.core.events import registration_id_for
from townsquare.core.events.checkout import HoldOutcome, HoldTerms, new_hold
from townsquare.core.events.ports import EventStore
from townsquare.core.identity import Actor

BOB = Actor("bob")


def _store(services: Services) -> EventStore:
    return services.events._events  # type: ignore[attr-defined, no-any-return]


def _terms(services: Services, who: Actor, key: str, quantity: int, code: str | None = None) -> HoldTerms:
    """What the core decides on for a reservation now: the context read and the hold made from it."""
    store = _store(services)
    registration_id = registration_id_for(who.user_id, key)
    with services.uow.single_statements():
        context = store.checkout_context("jazz", code, registration_id)
    assert context is not None
    ticket = context.types[0]
    discount = 0 if context.code is None else context.code.discount_on(ticket.price * quantity)
    hold = new_hold(
        who,
        context.event,
        ticket,
        registration_id=registration_id,
        quantity=quantity,
        key=key,
        code=code,
        discount=discount,
        now=services.clock.now(),
        hold_for=timedelta(minutes=15),
    )
    return HoldTerms(registration=hold, event=context.event, ticket=ticket, code=context.code)


def _uses(services: Services, code: str) -> int:
    with services.uow.transaction():
        return _store(services).code_uses(PRODUCER.user_id, code, "nobody", services.clock.now())[0]


def _place(services: Services, terms: HoldTerms) -> HoldOutcome:
    with services.uow.single_statements():
        return _store(services).place_hold(terms)


def test_a_hold_is_written_while_it_fits_and_a_retry_finds_its_id_taken(services: Services) -> None:
    published_event(services, quota=3)
    terms = _terms(services, ALICE, "r1", 2)
    assert _place(services, terms) is HoldOutcome.HELD
    assert services.events.get_registration(ALICE, terms.registration.registration_id) == terms.registration
    assert _place(services, terms) is HoldOutcome.TAKEN
    # One seat is left of the quota: two more do not fit, and nothing is written
    too_many = _terms(services, BOB, "r1", 2)
    assert _place(services, too_many) is HoldOutcome.FULL
    assert services.events.my_registrations(BOB).registrations == ()
    assert _place(services, _terms(services, BOB, "r2", 1)) is HoldOutcome.HELD
    assert services.events.availability(PRODUCER, "jazz") == {"standard": 0}


def test_the_event_capacity_limits_a_hold_over_every_type(services: Services) -> None:
    published_event(services, capacity=3, quota=3)
    services.events.add_ticket_type(PRODUCER, "jazz", type_id="vip", name="VIP", price=9_000, quota=3)
    services.events.reserve(ALICE, "jazz", "vip", 2, idempotency_key="v")
    assert _place(services, _terms(services, BOB, "r1", 2)) is HoldOutcome.FULL
    assert _place(services, _terms(services, BOB, "r1", 1)) is HoldOutcome.HELD


def test_a_lapsed_hold_frees_its_seats_for_the_next_hold_at_its_expiry_instant(services: Services) -> None:
    published_event(services, quota=2)
    assert _place(services, _terms(services, ALICE, "r1", 2)) is HoldOutcome.HELD
    services.clock.advance(timedelta(minutes=15) - timedelta(microseconds=1))  # type: ignore[attr-defined]
    assert _place(services, _terms(services, BOB, "r1", 1)) is HoldOutcome.FULL
    services.clock.advance(timedelta(microseconds=1))  # type: ignore[attr-defined]
    assert _place(services, _terms(services, BOB, "r1", 2)) is HoldOutcome.HELD  # no job ran


def test_a_quota_or_capacity_changed_since_the_read_is_reported_changed(services: Services) -> None:
    published_event(services, quota=5)
    terms = _terms(services, ALICE, "r1", 1)
    services.events.update_ticket_type(PRODUCER, "jazz", "standard", quota=4)
    assert _place(services, terms) is HoldOutcome.CHANGED
    terms = _terms(services, ALICE, "r1", 1)
    services.events.unpublish(PRODUCER, "jazz")
    assert _place(services, terms) is HoldOutcome.CHANGED
    assert services.events.my_registrations(ALICE).registrations == ()


def test_a_line_waiting_for_the_event_sends_the_hold_to_the_locked_path(services: Services) -> None:
    published_event(services, quota=1)
    services.events.reserve(ALICE, "jazz", "standard", 1, idempotency_key="r")
    services.waitlist.join(BOB, "jazz", "standard")
    services.events.update_ticket_type(PRODUCER, "jazz", "standard", quota=2)  # the promotion is queued, not run
    assert _place(services, _terms(services, Actor("cy"), "r1", 1)) is HoldOutcome.LINE
    # The service's locked path counts the line's claim: the freed seat is bob's
    assert services.events.availability(PRODUCER, "jazz") == {"standard": 0}


def test_a_code_with_limited_uses_is_used_up_on_the_fast_path_too(services: Services) -> None:
    published_event(services, quota=50)
    clock = services.clock
    services.events.create_code(
        PRODUCER,
        code="ONE",
        kind="fixed",
        value=100,
        valid_from=clock.now() - timedelta(days=1),
        valid_until=clock.now() + timedelta(days=1),
        max_uses=1,
    )
    assert _place(services, _terms(services, ALICE, "r1", 1, code="ONE")) is HoldOutcome.HELD
    assert _place(services, _terms(services, BOB, "r1", 1, code="ONE")) is HoldOutcome.USED_UP
    assert _uses(services, "ONE") == 1
    clock.advance(timedelta(minutes=15))  # type: ignore[attr-defined]
    # The lapsed hold gives its use back at once
    assert _uses(services, "ONE") == 0
    assert _place(services, _terms(services, BOB, "r1", 1, code="ONE")) is HoldOutcome.HELD


def test_an_unlimited_codes_uses_are_counted_too(services: Services) -> None:
    published_event(services, quota=50)
    clock = services.clock
    services.events.create_code(
        PRODUCER,
        code="ANY",
        kind="fixed",
        value=100,
        valid_from=clock.now() - timedelta(days=1),
        valid_until=clock.now() + timedelta(days=1),
    )
    held = services.events.reserve(ALICE, "jazz", "standard", 1, idempotency_key="a", code="ANY")
    services.events.confirm(ALICE, held.registration_id, idempotency_key="pay")
    services.events.reserve(BOB, "jazz", "standard", 1, idempotency_key="b", code="ANY")
    assert _uses(services, "ANY") == 2
    clock.advance(timedelta(minutes=15))  # type: ignore[attr-defined]
    assert _uses(services, "ANY") == 1


def test_counts_follow_cancellations_refunds_and_the_bookkeeping_job(services: Services) -> None:
    published_event(services, quota=3)
    first = services.events.reserve(ALICE, "jazz", "standard", 2, idempotency_key="a")
    services.events.confirm(ALICE, first.registration_id, idempotency_key="pay")
    second = services.events.reserve(BOB, "jazz", "standard", 1, idempotency_key="b")
    assert services.events.availability(PRODUCER, "jazz") == {"standard": 0}
    services.events.cancel(BOB, second.registration_id)
    assert services.events.availability(PRODUCER, "jazz") == {"standard": 1}
    services.events.refund(PRODUCER, first.registration_id, reason="sorry", idempotency_key="r")
    assert services.events.availability(PRODUCER, "jazz") == {"standard": 3}
    third = services.events.reserve(BOB, "jazz", "standard", 3, idempotency_key="c")
    services.clock.advance(timedelta(minutes=16))  # type: ignore[attr-defined]
    assert services.events.availability(PRODUCER, "jazz") == {"standard": 3}
    assert services.events.expire_holds() == 1
    assert services.events.availability(PRODUCER, "jazz") == {"standard": 3}
    assert services.events.status_of(services.events.get_registration(BOB, third.registration_id)).value == "expired"
