"""Creator tiers: thresholds on captured net earnings, what each unlocks, and progress to the next."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

from attrs import field, frozen

from townsquare.core.earnings.money import check_currency

BASIS_POINTS = 10_000


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
