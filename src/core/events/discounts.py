"""Discount codes: percent or fixed amount off a registration, per event or for all of a producer's events.

The price rule (docs/events.md, "Discount codes"), in integer minor units:

- a *percent* code takes ``round_half_up(subtotal * percent / 100)`` off the registration's
  subtotal (one line: one ticket type times a quantity), computed as
  ``(subtotal * percent + 50) // 100``;
- a *fixed* code takes its amount off the line;
- either way the discount is at most the subtotal: a total is never below zero.

A *use* is a registration made with the code that holds seats (confirmed, or reserved with
an unexpired hold): a lapsed or cancelled hold gives its use back at once, as it gives back its
seats. ``max_uses`` and ``per_user_limit`` count uses.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from attrs import frozen

from townsquare.core.earnings.money import MAX_AMOUNT
from townsquare.core.errors import Conflict, InvalidInput
from townsquare.core.events.models import MAX_QUANTITY, Event, check_count, check_id, check_instant

CODE_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,31}\Z")
MAX_CODE_USES = 1_000_000
MAX_TYPES = 50


class DiscountKind(StrEnum):
    """How a code lowers a price."""

    PERCENT = "percent"
    """``value`` percent (1..100) off the line, rounded half up."""
    FIXED = "fixed"
    """``value`` minor units off the line."""


def normalize_code(value: object) -> str:
    """The code as stored: upper case, 1..32 of letters, digits, ``_`` and ``-``.

    Raises:
        InvalidInput: naming ``code``.
    """
    if not isinstance(value, str) or not CODE_PATTERN.match(value.strip().upper()):
        raise InvalidInput("code must be 1..32 letters, digits, '_' or '-'", field="code")
    return value.strip().upper()


@frozen(kw_only=True)
class DiscountCode:
    """A producer's discount code.

    Attributes:
        producer_id: whose code it is.
        code: the code attendees type (upper case).
        event_id: the one event it applies to, or None for all of the producer's events.
        kind: percent or fixed.
        value: the percent (1..100) or the minor units off (fixed, in the event's currency).
        valid_from: from when it can be applied.
        valid_until: until when (exclusive).
        max_uses: the most uses at once over everyone, or None for no limit.
        per_user_limit: the most uses by one attendee, or None for no limit.
        min_quantity: the fewest tickets a registration needs for it to apply.
        type_ids: the ticket types it applies to (empty: all).
        created_at: when it was made.
    """

    producer_id: str
    code: str
    event_id: str | None
    kind: DiscountKind
    value: int
    valid_from: datetime
    valid_until: datetime
    max_uses: int | None
    per_user_limit: int | None
    min_quantity: int
    type_ids: tuple[str, ...]
    created_at: datetime

    def discount_on(self, subtotal: int) -> int:
        """The minor units this code takes off a line of ``subtotal`` (never more than the subtotal)."""
        off = (subtotal * self.value + 50) // 100 if self.kind is DiscountKind.PERCENT else self.value
        return min(max(off, 0), subtotal)

    def check_applies(self, event: Event, type_id: str, quantity: int, now: datetime) -> None:
        """Raise :class:`InvalidInput` naming ``code`` unless it applies to this line now."""
        if self.event_id is not None and self.event_id != event.event_id:
            raise InvalidInput(f"code {self.code!r} is for another event", field="code")
        if self.producer_id != event.producer_id:
            raise InvalidInput(f"code {self.code!r} is for another producer's events", field="code")
        if now < self.valid_from:
            raise InvalidInput(f"code {self.code!r} is not valid yet", field="code")
        if now >= self.valid_until:
            raise InvalidInput(f"code {self.code!r} has expired", field="code")
        if self.type_ids and type_id not in self.type_ids:
            raise InvalidInput(f"code {self.code!r} does not apply to ticket type {type_id!r}", field="code")
        if quantity < self.min_quantity:
            raise InvalidInput(f"code {self.code!r} needs at least {self.min_quantity} tickets", field="code")

    @property
    def limits_uses(self) -> bool:
        """Whether the code has a limit on its uses (overall or per attendee): only then are they counted."""
        return self.max_uses is not None or self.per_user_limit is not None

    def has_use_left(self, uses: int, user_uses: int) -> bool:
        """Whether one more use stays within the limits (``uses`` overall, ``user_uses`` the attendee's)."""
        return (self.max_uses is None or uses < self.max_uses) and (
            self.per_user_limit is None or user_uses < self.per_user_limit
        )

    def check_uses(self, uses: int, user_uses: int) -> None:
        """Raise :class:`Conflict` naming ``code`` when one more use would pass a limit."""
        if self.max_uses is not None and uses >= self.max_uses:
            raise Conflict(f"code {self.code!r} has been used up", field="code")
        if self.per_user_limit is not None and user_uses >= self.per_user_limit:
            raise Conflict(f"you have used code {self.code!r} as often as it allows", field="code")

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> DiscountCode:
        """Build a code from a stored row (the ``event_discount_codes`` table)."""
        return cls(
            producer_id=row["producer_id"],
            code=row["code"],
            event_id=row["event_id"],
            kind=DiscountKind(row["kind"]),
            value=row["value"],
            valid_from=row["valid_from"],
            valid_until=row["valid_until"],
            max_uses=row["max_uses"],
            per_user_limit=row["per_user_limit"],
            min_quantity=row["min_quantity"],
            type_ids=tuple(row["type_ids"]),
            created_at=row["created_at"],
        )


def make_code(
    *,
    producer_id: str,
    code: object,
    kind: object,
    value: object,
    valid_from: object,
    valid_until: object,
    created_at: datetime,
    event_id: object = None,
    max_uses: object = None,
    per_user_limit: object = None,
    min_quantity: object = 1,
    type_ids: Iterable[object] = (),
) -> DiscountCode:
    """Build a :class:`DiscountCode` from client input.

    Raises:
        InvalidInput: naming the first field at fault.
    """
    checked_code = normalize_code(code)
    try:
        checked_kind = DiscountKind(str(kind))
    except ValueError:
        raise InvalidInput("kind must be 'percent' or 'fixed'", field="kind") from None
    high = 100 if checked_kind is DiscountKind.PERCENT else MAX_AMOUNT
    checked_value = check_count(value, "value", low=1, high=high)
    opens = check_instant(valid_from, "valid_from")
    closes = check_instant(valid_until, "valid_until")
    if closes <= opens:
        raise InvalidInput("valid_until must be after valid_from", field="valid_until")
    if isinstance(type_ids, str | bytes):
        raise InvalidInput("type_ids must be a list of ticket type ids", field="type_ids")
    types = tuple(dict.fromkeys(check_id(each, "type_ids") for each in type_ids))
    if len(types) > MAX_TYPES:
        raise InvalidInput(f"type_ids may hold at most {MAX_TYPES} entries", field="type_ids")
    return DiscountCode(
        producer_id=producer_id,
        code=checked_code,
        event_id=None if event_id is None else check_id(event_id, "event_id"),
        kind=checked_kind,
        value=checked_value,
        valid_from=opens,
        valid_until=closes,
        max_uses=None if max_uses is None else check_count(max_uses, "max_uses", low=1, high=MAX_CODE_USES),
        per_user_limit=None
        if per_user_limit is None
        else check_count(per_user_limit, "per_user_limit", low=1, high=MAX_CODE_USES),
        min_quantity=check_count(min_quantity, "min_quantity", low=1, high=MAX_QUANTITY),
        type_ids=types,
        created_at=created_at,
    )
