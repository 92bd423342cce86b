"""Creator tiers: thresholds on captured net earnings, what each unlocks, and progress to the next."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from attrs import field, frozen

from townsquare.core.earnings.money import check_currency

BASIS_POINTS = 10_000
PACE_WINDOW = timedelta(days=30)
"""The window a creator's pace is measured over (net earned in the last 30 days by the Clock)."""


def _unlocks(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


def _tiers(values: Iterable[Tier]) -> tuple[Tier, ...]:
    return tuple(values)


@frozen
class Tier:
    """A rung of the ladder.

    Attributes:
        name: shown to the creator (``Silver``).
        threshold: captured net earnings, in minor units, from which the tier applies.
        unlocks: what reaching it gives the creator.
    """

    name: str
    threshold: int
    unlocks: tuple[str, ...] = field(default=(), converter=_unlocks)


def _check_tiers(_instance: object, _attribute: object, tiers: tuple[Tier, ...]) -> None:
    if not tiers:
        raise ValueError("a tier ladder needs at least one tier")
    if tiers[0].threshold != 0:
        raise ValueError("the first tier must start at 0 so every creator has a tier")
    thresholds = [tier.threshold for tier in tiers]
    if any(later <= earlier for earlier, later in itertools.pairwise(thresholds)):
        raise ValueError("tier thresholds must strictly increase")
    if len({tier.name for tier in tiers}) != len(tiers):
        raise ValueError("tier names must be unique")


def _check_ladder_currency(_instance: object, _attribute: object, currency: str) -> None:
    check_currency(currency)


@frozen
class TierLadder:
    """The configured tiers, in one currency (earnings in other currencies do not count: no FX here).

    Attributes:
        currency: the ISO 4217 code thresholds are in.
        tiers: lowest first; the first starts at 0.
    """

    currency: str = field(validator=_check_ladder_currency)
    tiers: tuple[Tier, ...] = field(converter=_tiers, validator=_check_tiers)

    def status(self, creator_id: str, net: int) -> TierStatus:
        """Where a creator with ``net`` captured net earnings stands on the ladder."""
        index = max((i for i, tier in enumerate(self.tiers) if net >= tier.threshold), default=0)
        current = self.tiers[index]
        following = self.tiers[index + 1] if index + 1 < len(self.tiers) else None
        if following is None:
            return TierStatus(
                creator_id=creator_id,
                currency=self.currency,
                net=net,
                current=current,
                next=None,
                remaining=0,
                progress_basis_points=BASIS_POINTS,
            )
        span = following.threshold - current.threshold
        progress = (max(net, current.threshold) - current.threshold) * BASIS_POINTS // span
        return TierStatus(
            creator_id=creator_id,
            currency=self.currency,
            net=net,
            current=current,
            next=following,
            remaining=following.threshold - max(net, 0),
            progress_basis_points=progress,
        )


@frozen(kw_only=True)
class TierStatus:
    """A creator's tier, progress toward the next and what it unlocks.

    Attributes:
        creator_id: whose status it is.
        currency: the ladder's currency.
        net: captured minus refunded, in minor units.
        current: the tier reached.
        next: the next tier, None at the top.
        remaining: minor units still to earn to reach ``next`` (0 at the top).
        progress_basis_points: progress from ``current`` to ``next``, 0..10000 (integer; no floats).
    """

    creator_id: str
    currency: str
    net: int
    current: Tier
    next: Tier | None
    remaining: int
    progress_basis_points: int


def default_tier_ladder(tiers: Sequence[Tier] | None = None) -> TierLadder:
    """The default ladder in USD: Bronze 0, Silver $1,000, Gold $10,000, Platinum $50,000."""
    return TierLadder(
        currency="USD",
        tiers=tiers
        or (
            Tier("Bronze", 0, ("sell products and take tips", "standard payouts (weekly)")),
            Tier("Silver", 1_000_00, ("subscriptions", "discount codes", "payouts twice a week")),
            Tier("Gold", 10_000_00, ("ticketed events with waitlists", "daily payouts", "priority support")),
            Tier("Platinum", 50_000_00, ("reduced platform fee", "instant payouts", "a partner manager")),
        ),
    )


@frozen(kw_only=True)
class Milestone:
    """One tier of the ladder as seen from where a creator stands.

    Attributes:
        tier: the tier.
        reached: whether it is the creator's tier or below it (the first tier is always reached).
        remaining: minor units still to earn to reach it (0 once reached).
    """

    tier: Tier
    reached: bool
    remaining: int


@frozen(kw_only=True)
class Countdown:
    """How far the next tier is, and when it comes at the creator's recent pace.

    Attributes:
        remaining: minor units still to earn to reach the next tier.
        pace: net earned over the pace window (the last 30 days), in minor units.
        eta: the first instant at which, earning at ``pace``, ``remaining`` is reached; None when
            the pace is zero or negative, or the date is past year 9999 (at that pace it never comes).
    """

    remaining: int
    pace: int
    eta: datetime | None


@frozen(kw_only=True)
class TierOutlook:
    """Tiers as data: the status, every milestone, and the countdown to the next tier.

    Attributes:
        status: the tier reached and progress to the next.
        milestones: every tier of the ladder, lowest first.
        countdown: the way to the next tier; None at the top.
    """

    status: TierStatus
    milestones: tuple[Milestone, ...]
    countdown: Countdown | None


def eta_at_pace(remaining: int, pace: int, now: datetime, window: timedelta = PACE_WINDOW) -> datetime | None:
    """When ``remaining`` is earned at ``pace`` per ``window``, to the microsecond, rounded up.

    Integer arithmetic only: the result is the smallest ``now + t`` (``t`` whole microseconds)
    with ``pace * t >= remaining * window``. None when ``pace`` is not positive, or when the
    date falls past the calendar's end (year 9999: at that pace, never).
    """
    if pace <= 0:
        return None
    if remaining <= 0:
        return now
    window_us = window // timedelta(microseconds=1)
    micros = -(-remaining * window_us // pace)  # ceiling division
    try:
        return now + timedelta(microseconds=micros)
    except OverflowError:
        return None


def outlook(
    ladder: TierLadder, creator_id: str, net: int, *, pace: int, now: datetime, window: timedelta = PACE_WINDOW
) -> TierOutlook:
    """Where a creator stands on ``ladder``, every milestone, and the countdown to the next tier.

    Args:
        ladder: the tiers.
        creator_id: whose outlook.
        net: captured net earnings now, in the ladder's currency.
        pace: net earned over ``window`` up to ``now`` (may be negative after refunds).
        now: the Clock's time; the countdown's date counts from it.
        window: the pace window (30 days).
    """
    status = ladder.status(creator_id, net)
    milestones = tuple(
        Milestone(
            tier=tier,
            reached=tier.threshold <= status.current.threshold,
            # Like ``TierStatus.remaining``: a negative net (refunds above captures) starts from 0.
            remaining=0 if tier.threshold <= status.current.threshold else tier.threshold - max(net, 0),
        )
        for tier in ladder.tiers
    )
    countdown = None
    if status.next is not None:
        countdown = Countdown(
            remaining=status.remaining, pace=pace, eta=eta_at_pace(status.remaining, pace, now, window)
        )
    return TierOutlook(status=status, milestones=milestones, countdown=countdown)
