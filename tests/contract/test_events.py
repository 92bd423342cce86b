"""The events contract, on both adapters: events, ticket types, holds, confirmation into the ledger,
cancellation and refunds, and the refusals of bad input (naming the field, changing nothing)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from tests.conftest import EPOCH

from townsquare.bootstrap import Services
from townsquare.core.clock import ManualClock
from townsquare.core.errors import Conflict, InvalidCursor, InvalidInput, NotFound
from townsquare.core.events import (
    HOLD_DURATION,
    SETTLE_CANCELLED,
    Event,
    EventStatus,
    Registration,
    RegistrationStatus,
    make_details,
    settle_job_key,
)
from townsquare.core.identity import Actor, system_actor
from townsquare.core.jobs import JobRunner, JobStatus

OPERATOR = system_actor("tests")


PRODUCER = Actor("pat")
ALICE = Actor("alice")
BOB = Actor("bob")
LEDGER = Actor("shop", roles=["service"])


def details(**overrides: object) -> object:
    values: dict[str, object] = {
        "title": "Jazz night",
        "starts_at": EPOCH + timedelta(days=10),
        "ends_at": EPOCH + timedelta(days=10, hours=3),
        "time_zone": "Europe/Paris",
        "venue": "Le Caveau, Paris",
        "sales_start": EPOCH - timedelta(days=1),
        "sales_end": EPOCH + timedelta(days=9),
        "capacity": 100,
        "currency": "EUR",
        **overrides,
    }
    return make_details(**values)  # type: ignore[arg-type]


def published_event(
    services: Services, *, capacity: int = 100, quota: int = 50, price: int = 2_500, event_id: str = "jazz"
) -> Event:
    event = services.events.create_event(PRODUCER, details(capacity=capacity), event_id=event_id)  # type: ignore[arg-type]
    services.events.add_ticket_type(
        PRODUCER, event.event_id, type_id="standard", name="Standard", price=price, quota=quota
    )
    return services.events.publish(PRODUCER, event.event_id)


def reserve(
    services: Services, actor: Actor = ALICE, quantity: int = 2, key: str = "r1", event_id: str = "jazz"
) -> Registration:
    return services.events.reserve(actor, event_id, "standard", quantity, idempotency_key=key)


def run_due_jobs(services: Services) -> None:
    JobRunner(services.jobs, services.job_handlers).run_due()


# -- events --------------------------------------------------------------------------


def test_a_published_event_is_public_and_in_the_feed(services: Services) -> None:
    # Given a draft event with a ticket type
    draft = services.events.create_event(PRODUCER, details(), event_id="jazz")  # type: ignore[arg-type]
    assert draft.status is EventStatus.DRAFT
    services.events.add_ticket_type(PRODUCER, "jazz", type_id="standard", name="Standard", price=2_500, quota=50)
    # Then nobody else sees the draft
    with pytest.raises(NotFound):
        services.events.get_event(ALICE, "jazz")
    # When it is published
    published = services.events.publish(PRODUCER, "jazz")
    # Then anyone sees it and it is a feed item of kind event
    assert services.events.get_event(ALICE, "jazz") == published
    items = services.feed.home(ALICE).items
    assert [(item.item_id, item.kind.value, item.title) for item in items] == [("event:jazz:1", "event", "Jazz night")]
    # and unpublishing takes it out of the feed
    services.events.unpublish(PRODUCER, "jazz")
    assert services.feed.home(ALICE).items == ()


def test_an_event_needs_a_ticket_type_to_publish(services: Services) -> None:
    services.events.create_event(PRODUCER, details(), event_id="jazz")  # type: ignore[arg-type]
    with pytest.raises(Conflict):
        services.events.publish(PRODUCER, "jazz")


def test_only_the_producer_manages_an_event(services: Services) -> None:
    published_event(services)
    with pytest.raises(NotFound):
        services.events.cancel_event(ALICE, "jazz")
    with pytest.raises(NotFound):
        services.events.add_ticket_type(ALICE, "jazz", type_id="vip", name="VIP", price=1, quota=1)
    assert services.events.get_event(ALICE, "jazz").status is EventStatus.PUBLISHED


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"sales_end": EPOCH - timedelta(days=2)}, "sales_end"),
        ({"ends_at": EPOCH + timedelta(days=9)}, "ends_at"),
        ({"sales_end": EPOCH + timedelta(days=11)}, "sales_end"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"capacity": 0}, "capacity"),
        ({"currency": "XXX"}, "currency"),
        ({"title": "  "}, "title"),
        ({"online": True}, "venue"),
        ({"venue": None}, "venue"),
        ({"starts_at": datetime(2026, 2, 1, 12)}, "starts_at"),
    ],
)
def test_bad_event_details_name_the_field(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        details(**overrides)
    assert caught.value.field == field


def test_the_producers_events_page_by_cursor(services: Services, clock: ManualClock) -> None:
    for number in range(5):
        services.events.create_event(PRODUCER, details(), event_id=f"e{number}")  # type: ignore[arg-type]
        clock.advance(timedelta(seconds=1))
    first = services.events.list_mine(PRODUCER, limit=3)
    assert [event.event_id for event in first.events] == ["e4", "e3", "e2"] and first.next_cursor
    second = services.events.list_mine(PRODUCER, cursor=first.next_cursor, limit=3)
    assert [event.event_id for event in second.events] == ["e1", "e0"] and second.next_cursor is None
    with pytest.raises(InvalidCursor):
        services.events.list_mine(ALICE, cursor=first.next_cursor)


# -- holds and capacity --------------------------------------------------------------


def test_a_reservation_holds_seats_until_it_expires(services: Services, clock: ManualClock) -> None:
    # Given an event with 5 standard seats
    published_event(services, quota=5)
    # When alice holds 3
    held = reserve(services, quantity=3)
    assert held.status is RegistrationStatus.RESERVED and held.expires_at == clock.now() + HOLD_DURATION
    assert held.price.total == 7_500 and held.price.subtotal == 7_500
    assert services.events.availability(BOB, "jazz") == {"standard": 2}
    # Then bob cannot take 3 more
    with pytest.raises(Conflict) as caught:
        reserve(services, BOB, quantity=3, key="b1")
    assert caught.value.field == "quantity"
    # and once alice's hold expires the seats are free at once, no job needed
    clock.advance(HOLD_DURATION)
    assert services.events.availability(BOB, "jazz") == {"standard": 5}
    assert reserve(services, BOB, quantity=5, key="b1").quantity == 5
    assert services.events.status_of(services.events.get_registration(ALICE, held.registration_id)) is (
        RegistrationStatus.EXPIRED
    )


def test_the_event_capacity_caps_every_type_together(services: Services) -> None:
    published_event(services, capacity=4, quota=4)
    services.events.add_ticket_type(PRODUCER, "jazz", type_id="vip", name="VIP", price=9_000, quota=4)
    reserve(services, quantity=3)
    with pytest.raises(Conflict):
        services.events.reserve(BOB, "jazz", "vip", 2, idempotency_key="b1")
    assert services.events.reserve(BOB, "jazz", "vip", 1, idempotency_key="b1").quantity == 1


def test_a_retried_reservation_returns_the_same_hold(services: Services) -> None:
    published_event(services, quota=3)
    first = reserve(services, quantity=2)
    again = reserve(services, quantity=2)
    assert again == first
    assert services.events.availability(ALICE, "jazz") == {"standard": 1}
    with pytest.raises(Conflict) as caught:
        reserve(services, quantity=1)
    assert caught.value.field == "idempotency_key"


@pytest.mark.parametrize("quantity", [0, 10_000, -1, True, 2.0])
def test_a_bad_quantity_names_the_field_and_holds_nothing(services: Services, quantity: object) -> None:
    published_event(services)
    with pytest.raises(InvalidInput) as caught:
        services.events.reserve(ALICE, "jazz", "standard", quantity, idempotency_key="r1")
    assert caught.value.field == "quantity"
    assert services.events.my_registrations(ALICE).registrations == ()


def test_no_reservation_outside_the_sales_window(services: Services, clock: ManualClock) -> None:
    published_event(services)
    clock.set(EPOCH + timedelta(days=9))
    with pytest.raises(Conflict) as caught:
        reserve(services)
    assert caught.value.field == "event_id"


def test_a_draft_events_tickets_cannot_be_reserved(services: Services) -> None:
    services.events.create_event(PRODUCER, details(), event_id="jazz")  # type: ignore[arg-type]
    services.events.add_ticket_type(PRODUCER, "jazz", type_id="standard", name="Standard", price=1, quota=1)
    with pytest.raises(NotFound):
        reserve(services, quantity=1)


def test_a_quota_cannot_go_below_the_seats_held(services: Services) -> None:
    published_event(services, quota=5)
    reserve(services, quantity=3)
    with pytest.raises(Conflict) as caught:
        services.events.update_ticket_type(PRODUCER, "jazz", "standard", quota=2)
    assert caught.value.field == "quota"
    assert services.events.update_ticket_type(PRODUCER, "jazz", "standard", quota=3).quota == 3


# -- confirmation and the ledger ------------------------------------------------------


def test_confirming_writes_the_pending_earning_in_the_producers_ledger(services: Services) -> None:
    # Given alice's hold of 2 tickets at 25.00 EUR
    held = reserve(services) if published_event(services) else None
    assert held is not None
    # When she confirms it on payment
    confirmed = services.events.confirm(ALICE, held.registration_id, idempotency_key="c1")
    # Then it is confirmed, holds no expiry, and the producer has a pending earning of 50.00 EUR
    assert confirmed.status is RegistrationStatus.CONFIRMED and confirmed.expires_at is None
    assert confirmed.earning_id is not None
    balance = services.earnings.earning(PRODUCER, confirmed.earning_id)
    assert (balance.earning.amount, balance.earning.currency, balance.earning.kind.value) == (5_000, "EUR", "ticket")
    assert balance.status.value == "pending"
    # and confirming again (a retry) changes nothing
    assert services.events.confirm(ALICE, held.registration_id, idempotency_key="c1") == confirmed
    assert [summary.total for summary in services.earnings.summary(PRODUCER, "pat")] == [5_000]


def test_someone_elses_hold_cannot_be_confirmed(services: Services) -> None:
    published_event(services)
    held = reserve(services)
    with pytest.raises(NotFound) as caught:
        services.events.confirm(BOB, held.registration_id, idempotency_key="c1")
    assert caught.value.field == "registration_id"
    assert services.events.get_registration(ALICE, held.registration_id).status is RegistrationStatus.RESERVED


def test_an_expired_hold_cannot_be_confirmed(services: Services, clock: ManualClock) -> None:
    published_event(services)
    held = reserve(services)
    clock.advance(HOLD_DURATION + timedelta(seconds=1))
    with pytest.raises(Conflict):
        services.events.confirm(ALICE, held.registration_id, idempotency_key="c1")
    assert services.earnings.summary(PRODUCER, "pat") == []
    # and the bookkeeping job marks it expired
    assert services.events.expire_holds() == 1
    assert services.events.get_registration(ALICE, held.registration_id).status is RegistrationStatus.EXPIRED


def test_a_confirm_key_names_one_registration(services: Services) -> None:
    published_event(services)
    first = reserve(services, key="r1")
    second = reserve(services, key="r2")
    services.events.confirm(ALICE, first.registration_id, idempotency_key="c1")
    with pytest.raises(Conflict) as caught:
        services.events.confirm(ALICE, second.registration_id, idempotency_key="c1")
    assert caught.value.field == "idempotency_key"


# -- cancel and refund ---------------------------------------------------------------


def confirmed_and_captured(services: Services) -> Registration:
    published_event(services)
    confirmed = services.events.confirm(ALICE, reserve(services).registration_id, idempotency_key="c1")
    assert confirmed.earning_id is not None
    services.earnings.capture(LEDGER, confirmed.earning_id, currency="EUR", idempotency_key="cap1")
    return confirmed


def test_a_partial_then_full_refund_never_exceeds_what_was_paid(services: Services) -> None:
    confirmed = confirmed_and_captured(services)
    rid = confirmed.registration_id
    # When the producer refunds 20.00 of 50.00
    partial = services.events.refund(PRODUCER, rid, amount=2_000, reason="one left early", idempotency_key="f1")
    assert (partial.status, partial.refunded) == (RegistrationStatus.CONFIRMED, 2_000)
    # Then a retry changes nothing, and a refund above what remains names the amount
    assert services.events.refund(PRODUCER, rid, amount=2_000, reason="one left early", idempotency_key="f1") == partial
    with pytest.raises(InvalidInput) as caught:
        services.events.refund(PRODUCER, rid, amount=3_001, reason="too much", idempotency_key="f2")
    assert caught.value.field == "amount"
    # and refunding the rest makes it refunded, freeing its seats
    rest = services.events.refund(PRODUCER, rid, reason="gone", idempotency_key="f3")
    assert (rest.status, rest.refunded) == (RegistrationStatus.REFUNDED, 5_000)
    assert services.events.availability(ALICE, "jazz") == {"standard": 50}
    summary = services.earnings.summary(PRODUCER, "pat")[0]
    assert (summary.captured, summary.refunded, summary.net) == (5_000, 5_000, 0)


def test_only_the_producer_refunds(services: Services) -> None:
    confirmed = confirmed_and_captured(services)
    with pytest.raises(NotFound):
        services.events.refund(ALICE, confirmed.registration_id, reason="mine", idempotency_key="f1")


def test_cancelling_an_unpaid_confirmation_voids_its_earning(services: Services) -> None:
    published_event(services)
    confirmed = services.events.confirm(ALICE, reserve(services).registration_id, idempotency_key="c1")
    cancelled = services.events.cancel(ALICE, confirmed.registration_id)
    assert cancelled.status is RegistrationStatus.CANCELLED and cancelled.refunded == 5_000
    assert confirmed.earning_id is not None
    assert services.earnings.earning(PRODUCER, confirmed.earning_id).status.value == "voided"
    assert services.events.availability(ALICE, "jazz") == {"standard": 50}


def test_a_partial_refund_before_capture_is_refused(services: Services) -> None:
    published_event(services)
    confirmed = services.events.confirm(ALICE, reserve(services).registration_id, idempotency_key="c1")
    with pytest.raises(Conflict):
        services.events.refund(PRODUCER, confirmed.registration_id, amount=1, reason="x", idempotency_key="f1")
    assert services.events.get_registration(ALICE, confirmed.registration_id).refunded == 0


def test_cancelling_an_event_refunds_every_paid_registration_by_one_job(services: Services) -> None:
    # Given a captured confirmation, an uncaptured one and a hold
    paid = confirmed_and_captured(services)
    unpaid = services.events.confirm(BOB, reserve(services, BOB, key="b1").registration_id, idempotency_key="c1")
    hold = reserve(services, Actor("carol"), key="k1")
    # When the producer cancels the event (twice)
    services.events.cancel_event(PRODUCER, "jazz")
    services.events.cancel_event(PRODUCER, "jazz")
    jobs = services.jobs.list_jobs(OPERATOR, JobStatus.PENDING, job_type=SETTLE_CANCELLED).jobs
    assert [job.idempotency_key for job in jobs] == [settle_job_key("jazz")]
    run_due_jobs(services)
    # Then every registration is settled and the ledger holds the refund and the void
    statuses = {
        registration.registration_id: services.events.get_registration(PRODUCER, registration.registration_id).status
        for registration in (paid, unpaid, hold)
    }
    assert set(statuses.values()) == {RegistrationStatus.CANCELLED}
    summary = services.earnings.summary(PRODUCER, "pat")[0]
    assert (summary.captured, summary.refunded, summary.voided) == (5_000, 5_000, 5_000)
    assert services.feed.home(ALICE).items == ()


def test_my_registrations_page_by_cursor_and_are_mine_only(services: Services, clock: ManualClock) -> None:
    published_event(services)
    for number in range(3):
        reserve(services, quantity=1, key=f"r{number}")
        clock.advance(timedelta(seconds=1))
    reserve(services, BOB, quantity=1, key="b")
    first = services.events.my_registrations(ALICE, limit=2)
    assert len(first.registrations) == 2 and first.next_cursor
    second = services.events.my_registrations(ALICE, cursor=first.next_cursor, limit=2)
    assert len(second.registrations) == 1 and second.next_cursor is None
    assert {each.attendee_id for each in first.registrations + second.registrations} == {"alice"}
    with pytest.raises(InvalidCursor):
        services.events.my_registrations(BOB, cursor=first.next_cursor)
