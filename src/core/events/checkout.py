"""The checkout's speed (issue 17): a reservation in two statements when nothing stands in its way.

A reservation that the rules accept needs no transaction: the core reads what it decides on
(:meth:`EventStore.checkout_context`, one statement, no lock), checks the rules on it, and
hands the store the hold it decided on with the terms it was decided under
(:meth:`EventStore.place_hold`, one statement). The store writes the hold only if, under the
event's lock, those terms still stand: the event and ticket type as read, nobody waiting in
the event's line, the seats held plus the quantity within the quota and capacity, a limited
code's uses within its limits. The rules stay here (which limits apply, what a hold costs,
when it expires); the store only compares counts with them, atomically.

Anything else (a refusal, a retry of a known key, a line to serve, something changed since
the read) goes to the locked path in :meth:`EventService.reserve`, which decides afresh under
the event's lock and names the refusal: the fast path only ever succeeds, so it can never
refuse differently from the locked path.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from attrs import frozen

from townsquare.core.errors import DomainError
from townsquare.core.events.discounts import DiscountCode
from townsquare.core.events.models import (
    Event,
    EventStatus,
    PriceBreakdown,
    Registration,
    RegistrationStatus,
    TicketType,
)

if TYPE_CHECKING:
    from townsquare.core.events.ports import EventStore
    from townsquare.core.identity import Actor
    from townsquare.core.uow import UnitOfWork


class HoldOutcome(StrEnum):
    """What :meth:`EventStore.place_hold` did; the reasons why not in the order they are checked."""

    HELD = "held"
    """The hold is written (and committed, in ``single_statements()``)."""
    CHANGED = "changed"
    """The event or ticket type is no longer as the core read it."""
    TAKEN = "taken"
    """The registration id exists (a retry of the key)."""
    LINE = "line"
    """Someone waits in the event's line: freed seats are theirs (the locked path counts the claims)."""
    FULL = "full"
    """The quantity does not fit within the quota or the capacity."""
    USED_UP = "used_up"
    """The code has no use left (overall or for the attendee)."""


@frozen(kw_only=True)
class CheckoutContext:
    """What a reservation decides on, read at once.

    Attributes:
        event: the event.
        types: its ticket types, in the order they were added.
        code: the producer's code of that name, if one was asked for and exists.
        taken: whether the registration id exists already.
        waiting: whether anyone waits in the event's line.
    """

    event: Event
    types: tuple[TicketType, ...]
    code: DiscountCode | None
    taken: bool
    waiting: bool


@frozen(kw_only=True)
class HoldTerms:
    """A hold the core decided on, and what it decided on: the limits the store writes it within.

    Attributes:
        registration: the hold (status reserved, price fixed, ``created_at`` the instant the
            seats are counted at).
        event: the event as read; its capacity is the limit over every type.
        ticket: the ticket type as read; its quota is the type's limit.
        code: the code applied, or None; its ``max_uses`` and ``per_user_limit`` are the limits.
    """

    registration: Registration
    event: Event
    ticket: TicketType
    code: DiscountCode | None


@frozen(kw_only=True)
class ConfirmLocks:
    """A registration of the attendee's, under a confirmation's locks (:meth:`EventStore.lock_for_confirm`).

    Attributes:
        registration: the registration as it is under the locks.
        prior_registration_id: the registration the confirmation key already confirmed, if any.
    """

    registration: Registration
    prior_registration_id: str | None


def new_hold(
    actor: Actor,
    event: Event,
    ticket: TicketType,
    *,
    registration_id: str,
    quantity: int,
    key: str,
    code: str | None,
    discount: int,
    now: datetime,
    hold_for: timedelta,
) -> Registration:
    """The registration a reservation makes: reserved until ``now + hold_for``, its price fixed now."""
    return Registration(
        registration_id=registration_id,
        event_id=event.event_id,
        type_id=ticket.type_id,
        attendee_id=actor.user_id,
        producer_id=event.producer_id,
        quantity=quantity,
        price=PriceBreakdown.of(ticket, quantity, event.details.currency, discount),
        status=RegistrationStatus.RESERVED,
        expires_at=now + hold_for,
        refunded=0,
        reserve_key=key,
        confirm_key=None,
        earning_id=None,
        created_at=now,
        updated_at=now,
        discount_code=code,
    )


def reserve_at_once(
    store: EventStore,
    uow: UnitOfWork,
    actor: Actor,
    *,
    event_id: str,
    type_id: str,
    quantity: int,
    key: str,
    registration_id: str,
    code: str | None,
    now: datetime,
    hold_for: timedelta,
) -> Registration | None:
    """The hold, written in two statements, when the rules accept it and nothing changed; else None.

    None means: take the locked path (it decides afresh and names any refusal).
    """
    with uow.single_statements():
        context = store.checkout_context(event_id, code, registration_id)
    if context is None or context.taken or context.waiting or context.event.status is not EventStatus.PUBLISHED:
        return None
    event = context.event
    ticket = next((each for each in context.types if each.type_id == type_id), None)
    if ticket is None or (code is not None and context.code is None):
        return None
    try:
        event.check_sales_open(now)
        discount = 0
        if context.code is not None:
            context.code.check_applies(event, type_id, quantity, now)
            discount = context.code.discount_on(ticket.price * quantity)
    except DomainError:
        return None
    hold = new_hold(
        actor,
        event,
        ticket,
        registration_id=registration_id,
        quantity=quantity,
        key=key,
        code=code,
        discount=discount,
        now=now,
        hold_for=hold_for,
    )
    with uow.single_statements():
        # One statement, atomic on its own: under the event's lock (and a limited code's), the
        # hold is written only if these terms still stand (see HoldTerms).
        outcome = store.place_hold(HoldTerms(registration=hold, event=event, ticket=ticket, code=context.code))
    return hold if outcome is HoldOutcome.HELD else None


__all__ = ["CheckoutContext", "ConfirmLocks", "HoldOutcome", "HoldTerms", "new_hold", "reserve_at_once"]
