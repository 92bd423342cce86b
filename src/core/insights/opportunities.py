"""Missed opportunities and what-if projections: pure functions of one currency's signals.

Everything here is integer arithmetic on minor units. A share is given in basis points
(1 bp = 0.01 %, 10,000 bp = all of it) so that no float ever touches money; every product
of an amount and a share rounds half up to a whole minor unit, once per figure (see
:func:`round_half_up`). The baseline of a projection (every assumption at its default) is the
summary itself, figure for figure: nothing is rounded when nothing changes.
"""

from __future__ import annotations

from enum import StrEnum

from attrs import Attribute, field, frozen

from townsquare.core.earnings.models import Summary
from townsquare.core.errors import InvalidInput

BASIS_POINTS = 10_000
MAX_PRICE_CHANGE_BP = 10 * BASIS_POINTS
"""A price change of at most +1,000 % (and at least -100 %: prices can't go below zero)."""


def round_half_up(amount: int, basis_points: int) -> int:
    """``amount * basis_points / 10,000`` rounded half away from zero, in integers only."""
    product = amount * basis_points
    sign = -1 if product < 0 else 1
    quotient, remainder = divmod(abs(product), BASIS_POINTS)
    return sign * (quotient + (1 if 2 * remainder >= BASIS_POINTS else 0))


class OpportunityKind(StrEnum):
    """What money was left on the table, each with the action that would pick it up."""

    PENDING = "pending"
    """Earnings recorded and not captured yet: capture them."""
    VOIDED = "voided"
    """Earnings cancelled before capture: win the buyer back."""
    REFUNDED = "refunded"
    """Money given back after capture: find out why."""
    CART = "cart"
    """The creator's products sitting in buyers' carts for over a day: follow up."""


ACTIONS: dict[OpportunityKind, str] = {
    OpportunityKind.PENDING: "capture_pending",
    OpportunityKind.VOIDED: "win_back_voided",
    OpportunityKind.REFUNDED: "review_refunds",
    OpportunityKind.CART: "follow_up_carts",
}
# Ties in amount rank in this order: money already earned first, then money still to win.
_TIE_ORDER = list(OpportunityKind)


@frozen
class Signals:
    """One currency's inputs: the ledger summary and the commerce signals beside it.

    Attributes:
        summary: the creator's ledger summary in this currency (stored totals, exact).
        cart_items: how many cart entries hold the creator's live products for over a day.
        cart_amount: the sum of those products' prices.
    """

    summary: Summary
    cart_items: int = 0
    cart_amount: int = 0


@frozen
class Opportunity:
    """One scenario of money missed, with what to do about it.

    Attributes:
        kind: what was missed.
        currency: the ISO 4217 code of ``amount``.
        amount: minor units at stake (always > 0: empty scenarios are not listed).
        action: a stable name for the action that would pick it up (for clients to map to a button).
        insight: one sentence for a person, naming the amount.
        rank: 1 for the largest amount.
    """

    kind: OpportunityKind
    currency: str
    amount: int
    action: str
    insight: str
    rank: int


def _format(amount: int, currency: str) -> str:
    return f"{amount / 100:,.2f} {currency}" if currency not in {"JPY", "KRW"} else f"{amount:,} {currency}"


def _scenarios(signals: Signals) -> list[tuple[OpportunityKind, int, str]]:
    summary = signals.summary
    money = _format
    currency = summary.currency
    found = [
        (
            OpportunityKind.PENDING,
            summary.pending,
            f"{money(summary.pending, currency)} is recorded but not captured yet; capturing it adds it to your net.",
        ),
        (
            OpportunityKind.VOIDED,
            summary.voided,
            f"{money(summary.voided, currency)} was voided before capture; those buyers wanted it once.",
        ),
        (
            OpportunityKind.REFUNDED,
            summary.refunded,
            f"{money(summary.refunded, currency)} was refunded after capture; the reasons say what to fix.",
        ),
        (
            OpportunityKind.CART,
            signals.cart_amount,
            f"{signals.cart_items} cart entries worth {money(signals.cart_amount, currency)} hold your products "
            "for over a day without an order; a reminder or an offer may convert them.",
        ),
    ]
    return [each for each in found if each[1] > 0]


def missed_opportunities(signals: list[Signals]) -> list[Opportunity]:
    """Every non-empty scenario over all currencies, ranked by amount (largest first).

    Amounts in different currencies are ranked by their minor units as they are: the ranking
    is a reading order, not an exchange rate. Ties rank pending, voided, refunded, cart.
    """
    rows = [(kind, each.summary.currency, amount, text) for each in signals for kind, amount, text in _scenarios(each)]
    rows.sort(key=lambda row: (-row[2], _TIE_ORDER.index(row[0]), row[1]))
    return [
        Opportunity(kind=kind, currency=currency, amount=amount, action=ACTIONS[kind], insight=text, rank=index)
        for index, (kind, currency, amount, text) in enumerate(rows, start=1)
    ]


def _check_share(_instance: object, attribute: Attribute[int], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= BASIS_POINTS:
        name = attribute.name
        raise InvalidInput(f"{name} must be an integer of basis points in 0..{BASIS_POINTS}", field=name)


def _check_price_change(_instance: object, attribute: Attribute[int], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not -BASIS_POINTS <= value <= MAX_PRICE_CHANGE_BP:
        raise InvalidInput(
            f"{attribute.name} must be an integer of basis points in -{BASIS_POINTS}..{MAX_PRICE_CHANGE_BP}",
            field=attribute.name,
        )


@frozen
class Assumptions:
    """What a what-if changes, each in basis points; the defaults change nothing.

    Attributes:
        capture_pending_bp: the share of pending money that gets captured.
        win_back_voided_bp: the share of voided money won back and captured.
        avoid_refunds_bp: the share of refunds that would not have happened.
        convert_carts_bp: the share of stale cart value that becomes captured sales.
        price_change_bp: every price changed by this share (-10,000 = free, +10,000 = doubled),
            applied after the shares above, to each figure.
    """

    capture_pending_bp: int = field(default=0, validator=_check_share)
    win_back_voided_bp: int = field(default=0, validator=_check_share)
    avoid_refunds_bp: int = field(default=0, validator=_check_share)
    convert_carts_bp: int = field(default=0, validator=_check_share)
    price_change_bp: int = field(default=0, validator=_check_price_change)


@frozen
class Projection:
    """One currency's summary under assumptions, beside the baseline it started from.

    ``projected`` keeps the summary's identities: ``total = captured + pending + voided``,
    ``missed = total - captured``, ``net = captured - refunded``. ``delta`` is projected
    minus baseline, figure by figure.
    """

    currency: str
    baseline: Summary
    projected: Summary
    delta: dict[str, int]


_FIGURES = ("total", "captured", "pending", "voided", "missed", "refunded", "net")


def project(signals: Signals, assumptions: Assumptions) -> Projection:
    """The summary recomputed under ``assumptions``.

    Steps, each figure rounded half up once per step: pending, voided and stale-cart money move
    into captured by their shares; refunds shrink by theirs; then every amount scales by the
    price change. Converted carts are new sales, so they add to the total as well.
    """
    base = signals.summary
    captured_pending = round_half_up(base.pending, assumptions.capture_pending_bp)
    won_back = round_half_up(base.voided, assumptions.win_back_voided_bp)
    converted = round_half_up(signals.cart_amount, assumptions.convert_carts_bp)
    avoided = round_half_up(base.refunded, assumptions.avoid_refunds_bp)

    scale = BASIS_POINTS + assumptions.price_change_bp
    captured = round_half_up(base.captured + captured_pending + won_back + converted, scale)
    pending = round_half_up(base.pending - captured_pending, scale)
    voided = round_half_up(base.voided - won_back, scale)
    refunded = round_half_up(base.refunded - avoided, scale)  # <= captured: both scale alike
    total = captured + pending + voided
    projected = Summary(
        creator_id=base.creator_id,
        currency=base.currency,
        total=total,
        captured=captured,
        pending=pending,
        voided=voided,
        missed=total - captured,
        refunded=refunded,
        net=captured - refunded,
        events=base.events,
    )
    delta = {name: getattr(projected, name) - getattr(base, name) for name in _FIGURES}
    return Projection(currency=base.currency, baseline=base, projected=projected, delta=delta)
