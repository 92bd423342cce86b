"""Next-best actions: candidates from the other ports, eligibility, a score, a threshold, a reason.

Arbitration in the Pega manner: each source proposes candidates (an action the user could
take and the value at stake in minor units, or a notional value for actions that move no
money); eligibility drops what the user recently dismissed (for :data:`DISMISS_COOLDOWN`)
or accepted (for :data:`ACCEPT_COOLDOWN`); the score is ``log10(1 + value) * propensity``,
where propensity is the user's own acceptance rate of that kind of action over the last
30 days with a uniform prior, ``(accepted + 1) / (accepted + dismissed + 2)``; nothing under
:data:`MIN_SCORE` is shown.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from attrs import frozen

from townsquare.core.assistant.models import ActionFeedback, Decision
from townsquare.core.assistant.ports import ActionFeedbackStore
from townsquare.core.clock import Clock
from townsquare.core.composer.service import ComposerService
from townsquare.core.earnings.service import EarningsService
from townsquare.core.errors import InvalidInput
from townsquare.core.events.models import EventStatus
from townsquare.core.events.waitlist import WaitlistService
from townsquare.core.feed.service import FeedService
from townsquare.core.identity import Actor
from townsquare.core.notifications.service import NotificationService
from townsquare.core.uow import UnitOfWork

DISMISS_COOLDOWN = timedelta(days=7)
ACCEPT_COOLDOWN = timedelta(days=1)
BEHAVIOUR_WINDOW = timedelta(days=30)
MIN_SCORE = 1.0
MAX_ACTIONS = 10
STALE_CART = timedelta(hours=24)
TIER_NEAR_BASIS_POINTS = 7500
UNREAD_BACKLOG = 10
_KEY = re.compile(r"^[a-z_]{1,40}:[A-Za-z0-9_.:-]{0,120}$")


class ActionKind(StrEnum):
    """The kinds of action the sources propose (propensity is learnt per kind)."""

    CAPTURE_PENDING = "capture_pending"
    REACH_TIER = "reach_tier"
    CART_FOLLOW_UP = "cart_follow_up"
    CLEAR_UNREAD = "clear_unread"
    TURN_ON_DIGEST = "turn_on_digest"
    PUBLISH_DRAFT = "publish_draft"
    RAISE_QUOTA = "raise_quota"


@frozen
class Candidate:
    """An action a source proposes.

    Attributes:
        key: ``kind:subject``, stable for the same subject (what accept and dismiss name).
        kind: the kind of action (propensity is learnt per kind).
        title: what to do.
        reason: why it is suggested, with the figures behind it.
        value: the value at stake in minor units (or a notional value, said in ``reason``).
        currency: the value's currency, None for a notional value.
        tool: the chat tool that does it, when there is one.
    """

    key: str
    kind: ActionKind
    title: str
    reason: str
    value: int
    currency: str | None = None
    tool: str | None = None


@frozen
class SuggestedAction:
    candidate: Candidate
    score: float
    propensity: float


class CandidateSource(Protocol):
    """Proposes actions for a user from one area's own service calls, as the user."""

    def candidates(self, actor: Actor, now: datetime) -> Sequence[Candidate]: ...


class ActionService:
    """Suggests the user's next-best actions and learns from their answers.

    Args:
        sources: the candidate sources, in a fixed order (ties keep it).
        feedback: where accepted and dismissed actions are recorded.
        uow: opens transactions.
        clock: cooldowns and the behaviour window.
    """

    def __init__(
        self, sources: Sequence[CandidateSource], feedback: ActionFeedbackStore, uow: UnitOfWork, clock: Clock
    ) -> None:
        self._sources = list(sources)
        self._feedback = feedback
        self._uow = uow
        self._clock = clock

    def add_source(self, source: CandidateSource) -> None:
        self._sources.append(source)

    def suggest(self, actor: Actor, limit: int = 3) -> list[SuggestedAction]:
        """The best actions for the actor now, best first; empty when none reaches :data:`MIN_SCORE`."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_ACTIONS:
            raise InvalidInput(f"limit must be an integer from 1 to {MAX_ACTIONS}, got {limit!r}", field="limit")
        now = self._clock.now()
        # One read-only transaction as the user that every source's own joins (speed.py).
        with self._uow.transaction(actor=actor.user_id):
            history = self._feedback.since(actor.user_id, now - BEHAVIOUR_WINDOW)
            candidates = [candidate for source in self._sources for candidate in source.candidates(actor, now)]
        suggested = []
        for candidate in candidates:
            if not _eligible(candidate, history, now):
                continue
            propensity = _propensity(candidate.kind, history)
            score = math.log10(1 + max(candidate.value, 0)) * propensity
            if score >= MIN_SCORE:
                suggested.append(SuggestedAction(candidate, round(score, 6), round(propensity, 6)))
        suggested.sort(key=lambda each: (-each.score, each.candidate.key))
        return suggested[:limit]

    def decide(self, actor: Actor, key: str, decision: Decision | str) -> ActionFeedback:
        """Record that the actor accepted or dismissed the action ``key``.

        Raises:
            InvalidInput: a malformed key or an unknown decision.
        """
        if not isinstance(key, str) or not _KEY.match(key):
            raise InvalidInput("key must be an action key like 'cart_follow_up:item-1'", field="key")
        try:
            chosen = Decision(decision)
        except ValueError:
            raise InvalidInput("decision must be 'accepted' or 'dismissed'", field="decision") from None
        feedback = ActionFeedback(
            user_id=actor.user_id,
            action_key=key,
            kind=key.split(":", 1)[0],
            decision=chosen,
            decided_at=self._clock.now(),
        )
        with self._uow.transaction(actor=actor.user_id):
            self._feedback.add(feedback)
        return feedback


def _eligible(candidate: Candidate, history: Sequence[ActionFeedback], now: datetime) -> bool:
    for answer in history:
        if answer.action_key != candidate.key:
            continue
        cooldown = DISMISS_COOLDOWN if answer.decision is Decision.DISMISSED else ACCEPT_COOLDOWN
        if now - answer.decided_at < cooldown:
            return False
    return True


def _propensity(kind: str, history: Sequence[ActionFeedback]) -> float:
    accepted = sum(1 for answer in history if answer.kind == kind and answer.decision is Decision.ACCEPTED)
    dismissed = sum(1 for answer in history if answer.kind == kind and answer.decision is Decision.DISMISSED)
    return (accepted + 1) / (accepted + dismissed + 2)


# -- the sources over the existing ports -----------------------------------------------------


class EarningsCandidates:
    """Pending earnings to follow up, and a tier within reach."""

    def __init__(self, earnings: EarningsService) -> None:
        self._earnings = earnings

    def candidates(self, actor: Actor, now: datetime) -> Sequence[Candidate]:
        found = []
        summaries = self._earnings.summary(actor, actor.user_id)
        for summary in summaries:
            if summary.pending > 0:
                found.append(
                    Candidate(
                        key=f"capture_pending:{summary.currency}",
                        kind=ActionKind.CAPTURE_PENDING,
                        title=f"Capture your pending {summary.currency} earnings",
                        reason=f"{summary.pending} minor units of {summary.currency} are pending capture",
                        value=summary.pending,
                        currency=summary.currency,
                        tool="earnings_summary",
                    )
                )
        tier = self._earnings.tier_of(actor.user_id, summaries)
        if tier.next is not None and tier.progress_basis_points >= TIER_NEAR_BASIS_POINTS:
            found.append(
                Candidate(
                    key=f"reach_tier:{tier.next.name}",
                    kind=ActionKind.REACH_TIER,
                    title=f"Reach {tier.next.name}",
                    reason=(
                        f"{tier.remaining} minor units of {tier.currency} to go "
                        f"({tier.progress_basis_points // 100}% of the way); "
                        f"it unlocks {', '.join(tier.next.unlocks)}"
                    ),
                    value=tier.remaining,
                    currency=tier.currency,
                    tool="earnings_tier",
                )
            )
        return found


class CartCandidates:
    """Products left in the cart for over a day (a cart that did not convert)."""

    def __init__(self, feed: FeedService) -> None:
        self._feed = feed

    def candidates(self, actor: Actor, now: datetime) -> Sequence[Candidate]:
        return [
            Candidate(
                key=f"cart_follow_up:{entry.item.item_id}",
                kind=ActionKind.CART_FOLLOW_UP,
                title=f"Finish buying {entry.item.title!r}",
                reason=f"in your cart since {entry.added_at:%Y-%m-%d %H:%M} UTC",
                value=entry.item.price_cents or 0,
                currency=entry.item.currency,
                tool="cart_list",
            )
            for entry in self._feed.cart(actor)
            if now - entry.added_at >= STALE_CART
        ]


NOTIONAL_DRAFT_VALUE = 300
READY_DRAFT_AGE = timedelta(days=1)


class DraftCandidates:
    """A titled draft with a body, untouched for a day and not scheduled: ready to publish.

    Publishing moves no money: the value is notional (300, said in the reason), which puts a
    ready draft over the threshold until the user dismisses that kind a few times.
    """

    def __init__(self, composer: ComposerService) -> None:
        self._composer = composer

    def candidates(self, actor: Actor, now: datetime) -> Sequence[Candidate]:
        return [
            Candidate(
                key=f"publish_draft:{draft.draft_id}",
                kind=ActionKind.PUBLISH_DRAFT,
                title=f"Publish your draft {draft.content.title!r}",
                reason=f"ready since {draft.updated_at:%Y-%m-%d} and not scheduled (a notional value of 300)",
                value=NOTIONAL_DRAFT_VALUE,
                currency=None,
                tool="composer_publish",
            )
            for draft in self._composer.list_mine(actor, None, 20).drafts
            if draft.schedule is None
            and draft.content.title
            and draft.content.body
            and now - draft.updated_at >= READY_DRAFT_AGE
        ]


NOTIONAL_DIGEST_VALUE = 200
NOTIONAL_UNREAD_VALUE = 20


class NotificationCandidates:
    """A digest to turn on when unread notifications pile up, and a backlog to clear.

    Neither moves money: the value is notional (20 per unread notification, plus 200 for a
    digest), which puts a backlog of about 10 over the threshold.
    """

    def __init__(self, notifications: NotificationService) -> None:
        self._notifications = notifications

    def candidates(self, actor: Actor, now: datetime) -> Sequence[Candidate]:
        unread = self._notifications.counts(actor).total
        if unread < UNREAD_BACKLOG:
            return []
        found = [
            Candidate(
                key="clear_unread:all",
                kind=ActionKind.CLEAR_UNREAD,
                title="Catch up on your notifications",
                reason=f"{unread} unread notifications",
                value=unread * NOTIONAL_UNREAD_VALUE,
                tool="notifications_inbox",
            )
        ]
        if self._notifications.preferences(actor).digest.frequency.value == "off":
            found.append(
                Candidate(
                    key="turn_on_digest:daily",
                    kind=ActionKind.TURN_ON_DIGEST,
                    title="Turn on a daily digest",
                    reason=f"{unread} unread notifications and no digest: one email a day would sum them up",
                    value=NOTIONAL_DIGEST_VALUE + unread * NOTIONAL_UNREAD_VALUE,
                    tool="notifications_preferences",
                )
            )
        return found


class WaitlistCandidates:
    """A sold-out ticket type of the producer's with people waiting: raise its quota.

    The value at stake is what the line would pay at today's price (waiting x price, in the
    event's currency); a free type's line moves no money and is not proposed. Only a
    published event whose sales are still open is proposed (a raise after the sales end
    serves nobody). When the event's capacity is full, or would be once the quota rises, the
    reason says the capacity needs raising too; when the capacity alone is what is full, the
    action is to raise it (the quota has room). A type with free seats and people waiting is
    not proposed: its promotion is under way, nothing for the producer to do.
    """

    def __init__(self, waitlist: WaitlistService) -> None:
        self._waitlist = waitlist

    def candidates(self, actor: Actor, now: datetime) -> Sequence[Candidate]:
        found = []
        for demand in self._waitlist.demand(actor):
            if (
                not demand.sold_out
                or demand.value <= 0
                or demand.status is not EventStatus.PUBLISHED
                or now >= demand.sales_end
            ):
                continue
            stake = f"{demand.waiting} x {demand.price} = {demand.value} minor units of {demand.currency} at stake"
            if demand.held >= demand.quota:
                title = f"Raise the quota of {demand.name!r} of {demand.title!r} to {demand.quota + demand.waiting}"
                reason = f"{demand.waiting} waiting for {demand.name!r}, sold out at {demand.quota}: {stake}"
                if demand.capacity_short:
                    reason += (
                        f"; the event's capacity of {demand.capacity} needs {demand.capacity_short} more seats too"
                    )
                tool: str | None = "events_raise_quota"
            else:
                title = f"Raise the capacity of {demand.title!r} by {demand.capacity_short}"
                reason = (
                    f"{demand.waiting} waiting for {demand.name!r}, whose quota has room but the event is full "
                    f"at {demand.capacity}: {stake}"
                )
                tool = None  # the capacity is the event's details: edited with the event, not by a tool
            found.append(
                Candidate(
                    key=f"raise_quota:{demand.event_id}:{demand.type_id}",
                    kind=ActionKind.RAISE_QUOTA,
                    title=title,
                    reason=reason,
                    value=demand.value,
                    currency=demand.currency,
                    tool=tool,
                )
            )
        return found
