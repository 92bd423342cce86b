"""The waitlist contract, on both adapters: joining only a sold-out type, FIFO offers when seats
free up (a reservation that counts like any hold), confirm/decline/expiry, manual approvals, the
announcements (one per offer and channel), and the refusals (naming the field, changing nothing)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.conftest import EPOCH
from tests.contract.test_events import OPERATOR, PRODUCER, details

from townsquare.bootstrap import Services
from townsquare.core.clock import ManualClock
from townsquare.core.errors import Conflict, InvalidCursor, InvalidInput, NotFound
from townsquare.core.events import RegistrationStatus, WaitlistEntry, WaitlistStatus
from townsquare.core.events.waitlist import ANNOUNCE_OFFER, PROMOTE_WAITLIST, offer_registration_id
from townsquare.core.identity import Actor
from townsquare.core.jobs import JobRunner, JobStatus

BUYERS = [Actor("ann"), Actor("ben")]
FANS = [Actor(f"fan{n}") for n in range(5)]
OTHER = Actor("olga")


def sold_out_event(services: Services, *, quota: int = 2, mode: str = "automatic", event_id: str = "jazz") -> None:
    """A published event whose one type (``standard``) is sold out to confirmed buyers."""
    services.events.create_event(PRODUCER, details(capacity=100, waitlist_mode=mode), event_id=event_id)  # type: ignore[arg-type]
    services.events.add_ticket_type(PRODUCER, event_id, type_id="standard", name="Standard", price=2_000, quota=quota)
    services.events.publish(PRODUCER, event_id)
    for number in range(quota):
        buyer = BUYERS[number % len(BUYERS)]
        held = services.events.reserve(buyer, event_id, "standard", 1, idempotency_key=f"buy{number}")
        services.events.confirm(buyer, held.registration_id, idempotency_key=f"pay{number}")


def join_all(services: Services, fans: list[Actor], clock: ManualClock | None = None) -> list[WaitlistEntry]:
    entries = []
    for fan in fans:
        entries.append(services.waitlist.join(fan, "jazz", "standard").entry)
        if clock is not None:
            clock.advance(timedelta(seconds=1))
    return entries


def run_jobs(services: Services) -> None:
    """Run what is queued, not the periodic sweeps: what a freeing operation queued must do the work."""
    JobRunner(services.jobs, services.job_handlers).run_due(schedules=[])


def statuses(services: Services, entries: list[WaitlistEntry]) -> list[str]:
    return [services.waitlist.status_of(services.waitlist.get_entry(PRODUCER, e.entry_id).entry) for e in entries]


def free_a_seat(services: Services) -> None:
    """The first buyer cancels their ticket (refunded; its seat frees at once)."""
    services.events.cancel(BUYERS[0], services.events.my_registrations(BUYERS[0]).registrations[-1].registration_id)


# -- joining -------------------------------------------------------------------------


def test_only_a_sold_out_type_can_be_joined(services: Services) -> None:
    # Given a type with a seat left
    sold_out_event(services, quota=2)
    services.events.update_ticket_type(PRODUCER, "jazz", "standard", quota=3)
    # When a fan tries to join its line, then it is refused naming the type, and nothing is stored
    with pytest.raises(Conflict) as caught:
        services.waitlist.join(FANS[0], "jazz", "standard")
    assert caught.value.field == "type_id"
    assert services.waitlist.my_entries(FANS[0]).places == ()


def test_joining_gives_a_place_at_the_back_once_per_user_and_type(services: Services) -> None:
    sold_out_event(services)
    first = services.waitlist.join(FANS[0], "jazz", "standard")
    second = services.waitlist.join(FANS[1], "jazz", "standard")
    assert (first.position, second.position) == (1, 2)
    assert first.entry.status is WaitlistStatus.WAITING
    # Joining again is refused, and the line is as it was
    with pytest.raises(Conflict) as caught:
        services.waitlist.join(FANS[0], "jazz", "standard")
    assert caught.value.field == "type_id"
    assert [place.position for place in services.waitlist.my_entries(FANS[0]).places] == [1]
    assert [e.entry_id for e in services.waitlist.entries(PRODUCER, "jazz").entries] == [
        first.entry.entry_id,
        second.entry.entry_id,
    ]


def test_a_users_own_entries_page_newest_first(services: Services, clock: ManualClock) -> None:
    # Five entries of one fan: four left (each rejoining at the back) and the last waiting.
    sold_out_event(services)
    joined = []
    for number in range(5):
        joined.append(services.waitlist.join(FANS[0], "jazz", "standard").entry.entry_id)
        if number < 4:
            services.waitlist.leave(FANS[0], joined[-1])
        clock.advance(timedelta(seconds=1))
    seen, cursor, pages = [], None, 0
    while True:
        page = services.waitlist.my_entries(FANS[0], cursor=cursor, limit=2)
        seen += [place.entry.entry_id for place in page.places]
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == joined[::-1]
    assert pages == 3
    # A cursor is the user's own: someone else's (or a tampered one) is refused, naming it.
    first = services.waitlist.my_entries(FANS[0], limit=2).next_cursor
    assert first is not None
    for actor, bad in [(FANS[1], first), (FANS[0], first[:-2] + "xx")]:
        with pytest.raises(InvalidCursor) as caught:
            services.waitlist.my_entries(actor, cursor=bad, limit=2)
        assert caught.value.field == "cursor"


@pytest.mark.parametrize(
    ("event_id", "type_id", "field", "error"),
    [("nope", "standard", "event_id", NotFound), ("jazz", "vip", "type_id", NotFound)],
)
def test_joining_an_unknown_event_or_type_names_it(
    services: Services, event_id: str, type_id: str, field: str, error: type[Exception]
) -> None:
    sold_out_event(services)
    with pytest.raises(error) as caught:
        services.waitlist.join(FANS[0], event_id, type_id)
    assert getattr(caught.value, "field", None) == field


def test_no_joining_once_sales_ended(services: Services, clock: ManualClock) -> None:
    sold_out_event(services)
    clock.set(EPOCH + timedelta(days=9))
    with pytest.raises(Conflict) as caught:
        services.waitlist.join(FANS[0], "jazz", "standard")
    assert caught.value.field == "event_id"


def test_leaving_moves_the_others_up_and_one_may_join_again_at_the_back(services: Services) -> None:
    sold_out_event(services)
    entries = join_all(services, FANS[:3])
    left = services.waitlist.leave(FANS[0], entries[0].entry_id)
    assert left.status is WaitlistStatus.LEFT
    assert services.waitlist.leave(FANS[0], entries[0].entry_id) == left
    assert services.waitlist.get_entry(FANS[1], entries[1].entry_id).position == 1
    again = services.waitlist.join(FANS[0], "jazz", "standard")
    assert again.position == 3 and again.entry.entry_id != entries[0].entry_id
    # Someone else's entry is not found
    with pytest.raises(NotFound) as caught:
        services.waitlist.leave(FANS[2], entries[1].entry_id)
    assert caught.value.field == "entry_id"


# -- offers --------------------------------------------------------------------------


def test_a_cancellation_offers_the_seat_to_the_first_in_line(services: Services) -> None:
    # Given a sold-out type and three fans in line (joined at the same instant: the join order decides)
    sold_out_event(services)
    entries = join_all(services, FANS[:3])
    # When a buyer cancels, a promotion is queued in the same transaction
    free_a_seat(services)
    assert len(services.jobs.list_jobs(OPERATOR, JobStatus.PENDING, job_type=PROMOTE_WAITLIST).jobs) == 1
    # and nobody outside the line can take the freed seat meanwhile
    with pytest.raises(Conflict):
        services.events.reserve(OTHER, "jazz", "standard", 1, idempotency_key="sneak")
    run_jobs(services)
    # Then the first in line holds an offer: a reservation of one ticket, valid for 24 hours
    assert statuses(services, entries) == ["offered", "waiting", "waiting"]
    offer = services.waitlist.get_entry(FANS[0], entries[0].entry_id).entry
    hold = services.events.get_registration(FANS[0], offer_registration_id(entries[0].entry_id))
    assert offer.registration_id == hold.registration_id
    assert hold.status is RegistrationStatus.RESERVED and hold.quantity == 1 and hold.price.total == 2_000
    assert hold.expires_at == offer.offer_expires_at == services.clock.now() + timedelta(hours=24)
    assert services.events.availability(OTHER, "jazz") == {"standard": 0}
    assert services.waitlist.get_entry(FANS[1], entries[1].entry_id).position == 1
    # When the fan confirms it like any hold, the entry is accepted
    confirmed = services.events.confirm(FANS[0], hold.registration_id, idempotency_key="pay")
    assert confirmed.status is RegistrationStatus.CONFIRMED
    assert statuses(services, entries) == ["accepted", "waiting", "waiting"]


def test_offers_never_exceed_the_freed_seats_and_go_in_join_order(services: Services, clock: ManualClock) -> None:
    sold_out_event(services, quota=2)
    entries = join_all(services, FANS, clock)
    # A quota raised by 2 offers 2 seats, to the first two in line
    services.events.update_ticket_type(PRODUCER, "jazz", "standard", quota=4)
    run_jobs(services)
    assert statuses(services, entries) == ["offered", "offered", "waiting", "waiting", "waiting"]
    # Promoting again offers nothing more: the offers hold the seats
    assert services.waitlist.promote("jazz") == 0
    # A capacity raise is a freeing too, but the quota still caps: nothing more
    services.events.update_event(PRODUCER, "jazz", details(capacity=200))  # type: ignore[arg-type]
    run_jobs(services)
    assert statuses(services, entries) == ["offered", "offered", "waiting", "waiting", "waiting"]


def test_a_declined_offer_passes_to_the_next(services: Services) -> None:
    sold_out_event(services)
    entries = join_all(services, FANS[:2])
    free_a_seat(services)
    run_jobs(services)
    # Leaving with an offer is not for a waiting entry's decline
    with pytest.raises(Conflict) as caught:
        services.waitlist.decline(FANS[1], entries[1].entry_id)
    assert caught.value.field == "entry_id"
    declined = services.waitlist.decline(FANS[0], entries[0].entry_id)
    assert declined.status is WaitlistStatus.DECLINED
    hold = services.events.get_registration(FANS[0], offer_registration_id(entries[0].entry_id))
    assert hold.status is RegistrationStatus.CANCELLED
    run_jobs(services)
    assert statuses(services, entries) == ["declined", "offered"]


def test_cancelling_the_offered_hold_is_a_decline(services: Services) -> None:
    sold_out_event(services)
    entries = join_all(services, FANS[:2])
    free_a_seat(services)
    run_jobs(services)
    services.events.cancel(FANS[0], offer_registration_id(entries[0].entry_id))
    run_jobs(services)
    assert statuses(services, entries) == ["declined", "offered"]


def test_an_expired_offer_passes_to_the_next(services: Services, clock: ManualClock) -> None:
    sold_out_event(services)
    entries = join_all(services, FANS[:2])
    free_a_seat(services)
    run_jobs(services)
    # When the offer's hours pass unconfirmed, it reads as expired at once
    clock.advance(timedelta(hours=24))
    assert statuses(services, entries) == ["expired", "waiting"]
    with pytest.raises(Conflict):
        services.events.confirm(FANS[0], offer_registration_id(entries[0].entry_id), idempotency_key="late")
    # and the expiry job marks it and passes the seat on
    assert services.waitlist.expire_offers() == 1
    assert statuses(services, entries) == ["expired", "offered"]
    hold = services.events.get_registration(FANS[0], offer_registration_id(entries[0].entry_id))
    assert hold.status is RegistrationStatus.EXPIRED
    assert services.waitlist.expire_offers() == 0


def test_a_lapsed_hold_frees_its_seat_for_the_line(services: Services, clock: ManualClock) -> None:
    # Given a type sold out with one unconfirmed hold
    services.events.create_event(PRODUCER, details(capacity=10), event_id="jazz")  # type: ignore[arg-type]
    services.events.add_ticket_type(PRODUCER, "jazz", type_id="standard", name="Standard", price=2_000, quota=1)
    services.events.publish(PRODUCER, "jazz")
    services.events.reserve(BUYERS[0], "jazz", "standard", 1, idempotency_key="h")
    entries = join_all(services, FANS[:1])
    # When the hold lapses, the bookkeeping job queues the promotion
    clock.advance(timedelta(minutes=15))
    assert services.events.expire_holds() == 1
    run_jobs(services)
    assert statuses(services, entries) == ["offered"]


def test_no_offers_once_sales_ended(services: Services, clock: ManualClock) -> None:
    sold_out_event(services)
    entries = join_all(services, FANS[:1])
    clock.set(EPOCH + timedelta(days=9))
    free_a_seat(services)
    run_jobs(services)
    assert services.waitlist.promote("jazz") == 0
    # The line closed (nothing can be sold any more): the sweep has nothing left to visit.
    assert statuses(services, entries) == ["closed"]
    assert services.waitlist.entries(PRODUCER, "jazz").entries == ()


@pytest.mark.parametrize("mode", ["automatic", "manual"])
def test_cancelling_the_event_closes_its_line(services: Services, mode: str) -> None:
    sold_out_event(services, mode=mode)
    entries = join_all(services, FANS[:3])
    services.waitlist.leave(FANS[1], entries[1].entry_id)
    services.events.cancel_event(PRODUCER, "jazz")
    run_jobs(services)
    assert statuses(services, entries) == ["closed", "left", "closed"]
    assert [place.entry.status for place in services.waitlist.my_entries(FANS[0]).places] == [WaitlistStatus.CLOSED]
    assert services.waitlist.promote("jazz") == 0  # again: nothing changes
    assert statuses(services, entries) == ["closed", "left", "closed"]


def test_the_line_closes_when_the_event_starts_in_manual_mode_too(services: Services, clock: ManualClock) -> None:
    sold_out_event(services, mode="manual")
    entries = join_all(services, FANS[:2])
    assert services.waitlist.promote_all() == 0
    assert statuses(services, entries) == ["waiting", "waiting"]  # manual: the producer decides
    clock.set(EPOCH + timedelta(days=30))
    services.waitlist.promote_all()
    assert statuses(services, entries) == ["closed", "closed"]


def test_an_offer_never_outlasts_the_sales(services: Services, clock: ManualClock) -> None:
    sold_out_event(services)
    entries = join_all(services, FANS[:1])
    clock.set(EPOCH + timedelta(days=8, hours=20))
    free_a_seat(services)
    run_jobs(services)
    offer = services.waitlist.get_entry(FANS[0], entries[0].entry_id).entry
    assert offer.offer_expires_at == EPOCH + timedelta(days=9)


def test_each_offer_is_announced_once_in_app(services: Services) -> None:
    sold_out_event(services)
    entries = join_all(services, FANS[:1])
    free_a_seat(services)
    run_jobs(services)
    # The announcement job ran once per offer; running the announcement again sends nothing new
    assert len(services.jobs.list_jobs(OPERATOR, JobStatus.COMPLETED, job_type=ANNOUNCE_OFFER).jobs) == 1
    services.waitlist.announce_offer(entries[0].entry_id)
    services.waitlist.promote("jazz")
    run_jobs(services)
    inbox = services.notifications.inbox(FANS[0]).items
    assert [(item.category, item.data["entry_id"]) for item in inbox] == [("waitlist", entries[0].entry_id)]
    assert "Jazz night" in inbox[0].title


# -- manual mode ---------------------------------------------------------------------


def test_in_manual_mode_the_producer_approves_within_the_free_seats(services: Services) -> None:
    sold_out_event(services, mode="manual")
    entries = join_all(services, FANS[:3])
    free_a_seat(services)
    run_jobs(services)
    # Nothing is offered on its own
    assert statuses(services, entries) == ["waiting", "waiting", "waiting"]
    # Approving more than the free seats is refused whole
    with pytest.raises(Conflict) as caught:
        services.waitlist.approve(PRODUCER, "jazz", [entries[2].entry_id, entries[1].entry_id])
    assert caught.value.field == "entry_ids"
    assert statuses(services, entries) == ["waiting", "waiting", "waiting"]
    # Approving one (the producer picks, not the line) offers it the seat
    approved = services.waitlist.approve(PRODUCER, "jazz", [entries[2].entry_id])
    assert [entry.status for entry in approved] == [WaitlistStatus.OFFERED]
    # Rejecting in bulk turns the others down
    services.waitlist.reject(PRODUCER, "jazz", [entries[0].entry_id, entries[1].entry_id])
    assert statuses(services, entries) == ["rejected", "rejected", "offered"]
    # An entry no longer waiting cannot be approved or rejected
    with pytest.raises(Conflict) as caught:
        services.waitlist.reject(PRODUCER, "jazz", [entries[2].entry_id])
    assert caught.value.field == "entry_ids"


@pytest.mark.parametrize(
    ("case", "error", "field"),
    [
        ((PRODUCER, "jazz", ["nope"]), NotFound, "entry_ids"),
        ((PRODUCER, "jazz", []), InvalidInput, "entry_ids"),
        ((PRODUCER, "jazz", "abc"), InvalidInput, "entry_ids"),
        ((OTHER, "jazz", None), NotFound, "event_id"),
        ((PRODUCER, "nope", None), NotFound, "event_id"),
    ],
)
def test_bad_approvals_name_the_field_and_change_nothing(
    services: Services, case: tuple[Actor, str, object], error: type[Exception], field: str
) -> None:
    actor, event_id, ids = case
    sold_out_event(services, mode="manual")
    entries = join_all(services, FANS[:1])
    free_a_seat(services)
    chosen = [entries[0].entry_id] if ids is None else ids
    for operation in (services.waitlist.approve, services.waitlist.reject):
        with pytest.raises(error) as caught:
            operation(actor, event_id, chosen)  # type: ignore[arg-type]
        assert getattr(caught.value, "field", None) == field
    assert statuses(services, entries) == ["waiting"]


def test_approving_in_automatic_mode_is_refused(services: Services) -> None:
    sold_out_event(services)
    entries = join_all(services, FANS[:1])
    with pytest.raises(Conflict) as caught:
        services.waitlist.approve(PRODUCER, "jazz", [entries[0].entry_id])
    assert caught.value.field == "waitlist_mode"
    with pytest.raises(Conflict):
        services.waitlist.reject(PRODUCER, "jazz", [entries[0].entry_id])
    assert statuses(services, entries) == ["waiting"]


def test_switching_to_automatic_serves_the_line(services: Services) -> None:
    sold_out_event(services, mode="manual")
    entries = join_all(services, FANS[:2])
    free_a_seat(services)
    services.events.update_event(PRODUCER, "jazz", details(capacity=100, waitlist_mode="automatic"))  # type: ignore[arg-type]
    run_jobs(services)
    assert statuses(services, entries) == ["offered", "waiting"]


def test_the_producers_line_pages_in_order(services: Services, clock: ManualClock) -> None:
    sold_out_event(services)
    entries = join_all(services, FANS, clock)
    first = services.waitlist.entries(PRODUCER, "jazz", limit=3)
    assert first.next_cursor is not None
    second = services.waitlist.entries(PRODUCER, "jazz", limit=3, cursor=first.next_cursor)
    assert [e.entry_id for e in (*first.entries, *second.entries)] == [e.entry_id for e in entries]
    assert second.next_cursor is None
    with pytest.raises(NotFound):
        services.waitlist.entries(OTHER, "jazz")


def test_the_demo_data_has_a_sold_out_masterclass_with_alice_in_line(services: Services) -> None:
    from townsquare.demo import events as demo_events

    demo_events.seed(services)
    demo_events.seed(services)  # seeding again adds nothing
    alice = Actor("alice")
    places = services.waitlist.my_entries(alice).places
    assert [(p.entry.event_id, p.entry.type_id, p.position) for p in places] == [
        ("demo-wheel-workshop", "masterclass", 1)
    ]
    assert services.events.availability(alice, "demo-wheel-workshop")["masterclass"] == 0


def test_publishing_again_serves_a_line_that_formed_before(services: Services) -> None:
    sold_out_event(services)
    entries = join_all(services, FANS[:1])
    services.events.unpublish(PRODUCER, "jazz")
    free_a_seat(services)
    run_jobs(services)
    assert statuses(services, entries) == ["waiting"]  # no offers while unpublished
    services.events.publish(PRODUCER, "jazz")
    run_jobs(services)
    assert statuses(services, entries) == ["offered"]


def test_a_full_refund_frees_the_seat_for_the_line(services: Services) -> None:
    sold_out_event(services)
    entries = join_all(services, FANS[:2])
    paid = services.events.my_registrations(BUYERS[0]).registrations[-1]
    # A refund of the whole (a void before capture) makes it refunded and frees its seat
    refunded = services.events.refund(PRODUCER, paid.registration_id, reason="late", idempotency_key="all")
    assert refunded.status is RegistrationStatus.REFUNDED
    run_jobs(services)
    assert statuses(services, entries) == ["offered", "waiting"]


def test_a_capacity_raise_serves_the_line_when_the_capacity_was_full(services: Services) -> None:
    # Given an event full at its capacity (2), its type's quota higher (5)
    services.events.create_event(PRODUCER, details(capacity=2), event_id="jazz")  # type: ignore[arg-type]
    services.events.add_ticket_type(PRODUCER, "jazz", type_id="standard", name="Standard", price=2_000, quota=5)
    services.events.publish(PRODUCER, "jazz")
    for number, buyer in enumerate(BUYERS):
        held = services.events.reserve(buyer, "jazz", "standard", 1, idempotency_key=f"b{number}")
        services.events.confirm(buyer, held.registration_id, idempotency_key=f"p{number}")
    entries = join_all(services, FANS[:3])
    # When the capacity goes to 4, the first two in line get offers
    services.events.update_event(PRODUCER, "jazz", details(capacity=4))  # type: ignore[arg-type]
    run_jobs(services)
    assert statuses(services, entries) == ["offered", "offered", "waiting"]
