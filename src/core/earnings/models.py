"""The ledger's events and the rules over them: what a capture, void or refund may do to an earning.

An *earning* (a sale, a tip, a subscription payment, ...) is recorded pending. Captures, voids
and refunds are new events that reference it; nothing is ever edited. Every event has an id
derived from its creator and idempotency key, so a retried write names the same event.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from attrs import field, frozen

from townsquare.core.earnings.money import Money
from townsquare.core.errors import Conflict, InvalidInput
from townsquare.core.identity import check_user_id
from townsquare.core.text import check_storable

MAX_KEY_LENGTH = 200
MAX_REASON_LENGTH = 500
_EVENT_NAMESPACE = uuid.UUID("6f1d3c2e-8a47-5b0e-9c61-3e2a7d0b5f14")


class EventType(StrEnum):
    """What an event does to the ledger."""

    EARNING = "earning"
    """Money a creator earned, pending until captured (or voided)."""
    CAPTURE = "capture"
    """Part or all of an earning's amount was collected."""
    VOID = "void"
    """An earning with nothing captured was cancelled; its whole amount is released."""
    REFUND = "refund"
    """Part or all of what was captured was given back, with a reason."""


class EarningKind(StrEnum):
    """Where an earning came from; captures, voids and refunds carry their earning's kind."""

    SALE = "sale"
    TIP = "tip"
    SUBSCRIPTION = "subscription"
    TICKET = "ticket"
    AFFILIATE = "affiliate"
    BONUS = "bonus"


class EarningStatus(StrEnum):
    """An earning's state, derived from its events."""

    PENDING = "pending"
    PARTIALLY_CAPTURED = "partially_captured"
    CAPTURED = "captured"
    VOIDED = "voided"


def parse_kind(value: str) -> EarningKind:
    """The earning kind named by ``value``.

    Raises:
        InvalidInput: not one of :class:`EarningKind`.
    """
    try:
        return EarningKind(value)
    except ValueError:
        known = ", ".join(kind.value for kind in EarningKind)
        raise InvalidInput(f"unknown earning kind {value!r}; use one of {known}", field="kind") from None


def parse_type(value: str) -> EventType:
    """The event type named by ``value``.

    Raises:
        InvalidInput: not one of :class:`EventType`.
    """
    try:
        return EventType(value)
    except ValueError:
        known = ", ".join(kind.value for kind in EventType)
        raise InvalidInput(f"unknown event type {value!r}; use one of {known}", field="type") from None


def event_id_for(creator_id: str, idempotency_key: str) -> str:
    """The id of the event a creator's ``idempotency_key`` names (a UUID v5, the same on every retry)."""
    return str(uuid.uuid5(_EVENT_NAMESPACE, f"{creator_id}\n{idempotency_key}"))


def check_creator_id(creator_id: object) -> str:
    """Return ``creator_id`` when it is a plausible user id (1..200 printable characters).

    Printable only: with no newline in either, ``creator_id + "\\n" + key`` names one pair.
    """
    return check_user_id(creator_id, "creator_id")


def check_idempotency_key(key: object) -> str:
    """Return ``key`` when it is 1..200 printable characters."""
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidInput(f"idempotency_key must be 1..{MAX_KEY_LENGTH} printable characters", field="idempotency_key")
    return key


def check_reason(reason: object) -> str:
    """Return a refund ``reason`` when it says something (1..500 characters, trimmed)."""
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON_LENGTH:
        raise InvalidInput(f"a refund needs a reason of 1..{MAX_REASON_LENGTH} characters", field="reason")
    check_storable(reason, "reason")
    return reason.strip()


@frozen(kw_only=True)
class LedgerEvent:
    """One immutable line of a creator's ledger.

    Attributes:
        id: derived from ``creator_id`` and ``idempotency_key`` (:func:`event_id_for`).
        creator_id: whose ledger the event belongs to.
        type: earning, capture, void or refund.
        kind: the earning's kind (sale, tip, ...), also on the events that reference it.
        earning_id: the earning this event is about (its own id for an earning).
        money: the event's amount; a void carries the whole amount it released.
        idempotency_key: the key the writer sent; a retry with it names this event.
        reason: why a refund was given (refunds only).
        recorded_at: when the ledger recorded it (from the clock, UTC).
    """

    id: str
    creator_id: str
    type: EventType = field(converter=EventType)
    kind: EarningKind = field(converter=EarningKind)
    earning_id: str
    money: Money
    idempotency_key: str
    reason: str | None = None
    recorded_at: datetime

    @property
    def amount(self) -> int:
        return self.money.amount

    @property
    def currency(self) -> str:
        return self.money.currency

    def same_request_as(self, other: LedgerEvent) -> bool:
        """Whether ``other`` asks for the same thing (its time and id aside): an idempotent replay."""
        return (
            self.creator_id == other.creator_id
            and self.type == other.type
            and self.kind == other.kind
            and self.earning_id == other.earning_id
            and self.money == other.money
            and self.reason == other.reason
        )


def replay_or_conflict(stored: LedgerEvent, requested: LedgerEvent) -> LedgerEvent:
    """The stored event when ``requested`` repeats it; otherwise the key was reused for something else.

    Raises:
        Conflict: the idempotency key already names an event with other content.
    """
    if stored.same_request_as(requested):
        return stored
    raise Conflict(
        f"idempotency key {requested.idempotency_key!r} was already used for a different "
        f"{stored.type.value} event ({stored.id}); use a new key for a new event",
        field="idempotency_key",
    )


@frozen(kw_only=True)
class EarningBalance:
    """An earning and what its events have done to it so far; the rules for the next event.

    Attributes:
        earning: the earning event itself.
        captured: the sum of its captures.
        refunded: the sum of its refunds.
        voided: whether it was voided.
    """

    earning: LedgerEvent
    captured: int = 0
    refunded: int = 0
    voided: bool = False

    @classmethod
    def of(cls, earning: LedgerEvent, events: Iterable[LedgerEvent]) -> EarningBalance:
        """Fold the events that reference ``earning`` into its balance."""
        captured = refunded = 0
        voided = False
        for event in events:
            if event.type is EventType.CAPTURE:
                captured += event.amount
            elif event.type is EventType.REFUND:
                refunded += event.amount
            elif event.type is EventType.VOID:
                voided = True
        return cls(earning=earning, captured=captured, refunded=refunded, voided=voided)

    @property
    def currency(self) -> str:
        return self.earning.currency

    @property
    def uncaptured(self) -> int:
        """What may still be captured."""
        return 0 if self.voided else self.earning.amount - self.captured

    @property
    def refundable(self) -> int:
        """What may still be refunded: captured and not yet refunded."""
        return self.captured - self.refunded

    @property
    def status(self) -> EarningStatus:
        if self.voided:
            return EarningStatus.VOIDED
        if self.captured == 0:
            return EarningStatus.PENDING
        if self.captured < self.earning.amount:
            return EarningStatus.PARTIALLY_CAPTURED
        return EarningStatus.CAPTURED

    def check_capture(self, money: Money) -> None:
        """Raise unless ``money`` may be captured now.

        Raises:
            InvalidInput: another currency than the earning's.
            Conflict: the earning is voided, fully captured, or ``money`` exceeds what is uncaptured.
        """
        self._check_currency(money)
        if self.voided:
            raise Conflict(f"earning {self.earning.id} was voided; a voided earning cannot be captured")
        if self.uncaptured == 0:
            raise Conflict(f"earning {self.earning.id} is already fully captured")
        if money.amount > self.uncaptured:
            raise Conflict(
                f"capture of {money.amount} exceeds the {self.uncaptured} still uncaptured of earning "
                f"{self.earning.id} ({self.captured} of {self.earning.amount} captured)",
                field="amount",
            )

    def check_void(self) -> None:
        """Raise unless the earning may be voided: only while nothing of it is captured.

        Raises:
            Conflict: already voided, or partly or fully captured (refund it instead).
        """
        if self.voided:
            raise Conflict(f"earning {self.earning.id} is already voided")
        if self.captured > 0:
            raise Conflict(
                f"earning {self.earning.id} has {self.captured} captured; a captured earning cannot be "
                "voided (refund what was captured instead)"
            )

    def check_refund(self, money: Money) -> None:
        """Raise unless ``money`` may be refunded now.

        Raises:
            InvalidInput: another currency than the earning's.
            Conflict: voided, nothing captured, or ``money`` exceeds captured minus refunded.
        """
        self._check_currency(money)
        if self.voided:
            raise Conflict(f"earning {self.earning.id} was voided; there is nothing to refund")
        if money.amount > self.refundable:
            raise Conflict(
                f"refund of {money.amount} exceeds the refundable {self.refundable} of earning "
                f"{self.earning.id} (captured {self.captured}, already refunded {self.refunded})",
                field="amount",
            )

    def _check_currency(self, money: Money) -> None:
        if money.currency != self.currency:
            raise InvalidInput(
                f"currency {money.currency} does not match the earning's currency {self.currency}",
                field="currency",
            )


@frozen
class Totals:
    """Sums over a creator's events in one currency: what the stored totals hold.

    Attributes:
        currency: the ISO 4217 code.
        total: the sum of earnings (every earning, voided ones included).
        captured: the sum of captures.
        voided: the sum of voided earnings' amounts.
        refunded: the sum of refunds.
        events: how many events.
    """

    currency: str
    total: int = 0
    captured: int = 0
    voided: int = 0
    refunded: int = 0
    events: int = 0

    @classmethod
    def of_event(cls, event: LedgerEvent) -> Totals:
        """The change one event makes to its creator's totals."""
        amount = event.amount
        return cls(
            currency=event.currency,
            total=amount if event.type is EventType.EARNING else 0,
            captured=amount if event.type is EventType.CAPTURE else 0,
            voided=amount if event.type is EventType.VOID else 0,
            refunded=amount if event.type is EventType.REFUND else 0,
            events=1,
        )

    def __add__(self, other: Totals) -> Totals:
        if other.currency != self.currency:
            raise ValueError("cannot add totals of different currencies")
        return Totals(
            currency=self.currency,
            total=self.total + other.total,
            captured=self.captured + other.captured,
            voided=self.voided + other.voided,
            refunded=self.refunded + other.refunded,
            events=self.events + other.events,
        )

    def differences(self, other: Totals) -> dict[str, int]:
        """Per field, ``other`` minus this, leaving out fields that agree."""
        fields = ("total", "captured", "voided", "refunded", "events")
        return {
            name: getattr(other, name) - getattr(self, name)
            for name in fields
            if getattr(other, name) != getattr(self, name)
        }


@frozen
class Summary:
    """A creator's earnings in one currency, as the dashboard's cards show them.

    ``total = captured + pending + voided``; ``missed = total - captured`` (pending and voided
    money both count as missed); ``net = captured - refunded``.
    """

    creator_id: str
    currency: str
    total: int
    captured: int
    pending: int
    voided: int
    missed: int
    refunded: int
    net: int
    events: int

    @classmethod
    def of(cls, creator_id: str, totals: Totals) -> Summary:
        return cls(
            creator_id=creator_id,
            currency=totals.currency,
            total=totals.total,
            captured=totals.captured,
            pending=totals.total - totals.captured - totals.voided,
            voided=totals.voided,
            missed=totals.total - totals.captured,
            refunded=totals.refunded,
            net=totals.captured - totals.refunded,
            events=totals.events,
        )


@frozen
class Correction:
    """What a recompute changed in one currency's stored totals."""

    currency: str
    stored: Totals | None
    recomputed: Totals | None
    differences: dict[str, int]


@frozen
class RecomputeReport:
    """The outcome of rebuilding a creator's stored totals from the events.

    Attributes:
        creator_id: whose totals were rebuilt.
        events: how many events were summed.
        corrections: one entry per currency whose stored totals disagreed (empty when all agreed).
    """

    creator_id: str
    events: int
    corrections: tuple[Correction, ...]

    @property
    def corrected(self) -> bool:
        return bool(self.corrections)


def reconcile(creator_id: str, stored: Iterable[Totals], recomputed: Iterable[Totals]) -> RecomputeReport:
    """Compare stored totals with totals recomputed from the events, currency by currency."""
    before = {totals.currency: totals for totals in stored}
    after = {totals.currency: totals for totals in recomputed}
    corrections = []
    for currency in sorted(before.keys() | after.keys()):
        old, new = before.get(currency), after.get(currency)
        differences = (old or Totals(currency)).differences(new or Totals(currency))
        if differences:
            corrections.append(Correction(currency=currency, stored=old, recomputed=new, differences=differences))
    return RecomputeReport(
        creator_id=creator_id,
        events=sum(totals.events for totals in after.values()),
        corrections=tuple(corrections),
    )


@frozen
class TimelinePosition:
    """Where a timeline page ended: the last event's time and id (the keyset)."""

    recorded_at: datetime
    event_id: str


def _kinds(values: Iterable[str]) -> frozenset[EarningKind]:
    return frozenset(parse_kind(value) for value in values)


def _types(values: Iterable[str]) -> frozenset[EventType]:
    return frozenset(parse_type(value) for value in values)


@frozen(kw_only=True)
class TimelineFilter:
    """Which events a timeline shows; empty sets mean every kind or type.

    Attributes:
        kinds: earning kinds to keep.
        types: event types to keep.
        since: keep events recorded at or after this time.
        until: keep events recorded before this time.
    """

    kinds: frozenset[EarningKind] = field(default=frozenset(), converter=_kinds)
    types: frozenset[EventType] = field(default=frozenset(), converter=_types)
    since: datetime | None = None
    until: datetime | None = None

    def __attrs_post_init__(self) -> None:
        for name, value in (("since", self.since), ("until", self.until)):
            if value is not None and value.tzinfo is None:
                raise InvalidInput(f"'{name}' needs a UTC offset (e.g. 2026-01-15T00:00:00Z)", field=name)
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise InvalidInput("'since' must be before 'until'", field="since")

    @property
    def fingerprint(self) -> str:
        """A stable text naming the filter, so a cursor cannot be reused under other filters."""
        return "|".join(
            [
                ",".join(sorted(self.kinds)),
                ",".join(sorted(self.types)),
                self.since.isoformat() if self.since else "",
                self.until.isoformat() if self.until else "",
            ]
        )

    def keeps(self, event: LedgerEvent) -> bool:
        """Whether ``event`` passes the filter (the memory adapter's reading of it)."""
        return (
            (not self.kinds or event.kind in self.kinds)
            and (not self.types or event.type in self.types)
            and (self.since is None or event.recorded_at >= self.since)
            and (self.until is None or event.recorded_at < self.until)
        )


@frozen
class TimelinePage:
    """One page of a creator's timeline, newest first, and the cursor of the next page (None at the end)."""

    events: tuple[LedgerEvent, ...]
    next_cursor: str | None
