"""Discount codes, on both adapters: the price rule, validity, uses counting confirmed and unexpired holds,
per-user limits, and bad codes as problems naming ``code``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from tests.conftest import EPOCH
from tests.contract.test_events import ALICE, BOB, PRODUCER, details, published_event

from townsquare.bootstrap import Services
from townsquare.core.clock import ManualClock
from townsquare.core.errors import Conflict, InvalidInput, NotFound
from townsquare.core.events import HOLD_DURATION, Registration
from townsquare.core.events.discounts import DiscountCode, DiscountKind, make_code
from townsquare.core.identity import Actor


def code(services: Services, **overrides: Any) -> DiscountCode:
    values: dict[str, Any] = {
        "code": "jazz10",
        "kind": "percent",
        "value": 10,
        "valid_from": EPOCH - timedelta(days=1),
        "valid_until": EPOCH + timedelta(days=5),
        "event_id": "jazz",
        **overrides,
    }
    return services.events.create_code(PRODUCER, **values)


def reserve(
    services: Services, actor: Actor = ALICE, quantity: int = 1, key: str = "r1", with_code: str | None = "JAZZ10"
) -> Registration:
    return services.events.reserve(actor, "jazz", "standard", quantity, idempotency_key=key, code=with_code)


@pytest.mark.parametrize(
    ("kind", "value", "price", "quantity", "discount"),
    [
        ("percent", 10, 2_500, 3, 750),
        ("percent", 15, 333, 1, 50),  # 49.95 rounds half up to 50
        ("percent", 15, 330, 1, 50),  # 49.5 rounds half up to 50
        ("percent", 15, 329, 1, 49),  # 49.35 rounds to 49
        ("percent", 100, 999, 2, 1_998),
        ("fixed", 1_000, 2_500, 2, 1_000),
        ("fixed", 9_999, 2_500, 2, 5_000),  # never below zero
    ],
)
def test_the_price_rule(kind: str, value: int, price: int, quantity: int, discount: int) -> None:
    made = make_code(
        producer_id="pat",
        code="X",
        kind=kind,
        value=value,
        valid_from=EPOCH,
        valid_until=EPOCH + timedelta(days=1),
        created_at=EPOCH,
    )
    assert made.kind is DiscountKind(kind)
    assert made.discount_on(price * quantity) == discount


def test_a_code_lowers_the_total_of_a_reservation(services: Services) -> None:
    published_event(services)
    code(services)
    held = reserve(services, quantity=3)
    assert (held.price.subtotal, held.price.discount, held.price.total) == (7_500, 750, 6_750)
    assert held.discount_code == "JAZZ10"
    confirmed = services.events.confirm(ALICE, held.registration_id, idempotency_key="c1")
    assert confirmed.earning_id is not None
    assert services.earnings.earning(PRODUCER, confirmed.earning_id).earning.amount == 6_750


def test_max_uses_count_confirmed_and_unexpired_holds(services: Services, clock: ManualClock) -> None:
    published_event(services)
    code(services, max_uses=2)
    first = reserve(services, ALICE, key="a")
    services.events.confirm(ALICE, first.registration_id, idempotency_key="c")
    reserve(services, BOB, key="b")
    with pytest.raises(Conflict) as caught:
        reserve(services, Actor("carol"), key="c")
    assert caught.value.field == "code"
    # When bob's hold lapses its use is free at once (no sweep ran)
    clock.advance(HOLD_DURATION)
    assert reserve(services, Actor("carol"), key="c").price.discount == 250


def test_a_cancelled_hold_gives_its_use_back(services: Services) -> None:
    published_event(services)
    code(services, max_uses=1)
    held = reserve(services, ALICE, key="a")
    services.events.cancel(ALICE, held.registration_id)
    assert reserve(services, BOB, key="b").discount_code == "JAZZ10"


def test_the_per_user_limit(services: Services) -> None:
    published_event(services)
    code(services, per_user_limit=1)
    reserve(services, ALICE, key="a")
    with pytest.raises(Conflict):
        reserve(services, ALICE, key="a2")
    assert reserve(services, BOB, key="b").discount_code == "JAZZ10"


@pytest.mark.parametrize(
    ("overrides", "with_code", "quantity"),
    [
        ({}, "NOPE", 1),
        ({"valid_until": EPOCH - timedelta(hours=1), "valid_from": EPOCH - timedelta(days=2)}, "JAZZ10", 1),
        ({"valid_from": EPOCH + timedelta(hours=1)}, "JAZZ10", 1),
        ({"min_quantity": 2}, "JAZZ10", 1),
        ({"type_ids": ["vip"]}, "JAZZ10", 1),
        ({"event_id": "other"}, "JAZZ10", 1),
        ({}, "bad code!", 1),
    ],
)
def test_a_code_that_does_not_apply_names_code_and_holds_nothing(
    services: Services, overrides: dict[str, Any], with_code: str, quantity: int
) -> None:
    published_event(services)
    services.events.create_event(PRODUCER, details(), event_id="other")  # type: ignore[arg-type]
    code(services, **overrides)
    with pytest.raises(InvalidInput) as caught:
        reserve(services, quantity=quantity, with_code=with_code)
    assert caught.value.field == "code"
    assert services.events.my_registrations(ALICE).registrations == ()


def test_a_producer_wide_code_applies_to_every_event_of_theirs(services: Services) -> None:
    published_event(services)
    code(services, code="ALL5", kind="fixed", value=500, event_id=None)
    assert reserve(services, with_code="all5").price.discount == 500


def test_another_producers_event_is_not_a_code_target(services: Services) -> None:
    services.events.create_event(Actor("zoe"), details(), event_id="theirs")  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        code(services, event_id="theirs")


def test_the_same_code_again_returns_it_and_other_values_conflict(services: Services) -> None:
    published_event(services)
    made = code(services)
    assert code(services) == made
    with pytest.raises(Conflict):
        code(services, value=20)
    assert [each.code for each in services.events.codes(PRODUCER)] == ["JAZZ10"]


def test_a_retry_with_another_code_is_a_conflict(services: Services) -> None:
    published_event(services)
    code(services)
    reserve(services, key="a")
    with pytest.raises(Conflict) as caught:
        reserve(services, key="a", with_code=None)
    assert caught.value.field == "idempotency_key"
