"""The earnings service: records, captures, voids and refunds earnings; summaries, timeline, tiers, recompute."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime

from townsquare.core.clock import Clock
from townsquare.core.cursor import CursorCodec
from townsquare.core.earnings.models import (
    EarningBalance,
    EventType,
    LedgerEvent,
    RecomputeReport,
    Summary,
    TimelineFilter,
    TimelinePage,
    TimelinePosition,
    Totals,
    check_creator_id,
    check_idempotency_key,
    check_reason,
    event_id_for,
    parse_kind,
    reconcile,
    replay_or_conflict,
)
from townsquare.core.earnings.money import Money, check_amount, check_currency
from townsquare.core.earnings.ports import EarningsLedger
from townsquare.core.earnings.tiers import (
    PACE_WINDOW,
    TierLadder,
    TierOutlook,
    TierStatus,
    default_tier_ladder,
    outlook,
)
from townsquare.core.errors import Conflict, Forbidden, InvalidCursor, InvalidInput, NotFound
from townsquare.core.identity import ADMIN_ROLE, Actor
from townsquare.core.uow import UnitOfWork

SERVICE_ROLE = "service"
LEDGER_WRITER_ROLES = frozenset({ADMIN_ROLE, SERVICE_ROLE})
"""Roles that may record, capture and void earnings for any creator (the commerce backend's token)."""
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100


def _check_event_id(event_id: str) -> str:
    try:
        return str(uuid.UUID(event_id))
    except (ValueError, TypeError, AttributeError):
        raise NotFound(f"no earning with id {event_id!r}", field="earning_id") from None


class EarningsService:
    """The earnings ledger's operations.

    Who may do what: ledger writers (the ``admin`` or ``service`` role, i.e. the commerce
    backend) record, capture and void earnings for any creator; a creator may refund their
    own captured earnings; creators read and recompute their own ledger; admins read and
    recompute anyone's.

    Args:
        ledger: the event store.
        uow: opens the transaction around each operation.
        clock: stamps events.
        cursors: signs timeline cursors.
        tiers: the tier ladder (defaults to :func:`default_tier_ladder`).
    """

    def __init__(
        self,
        ledger: EarningsLedger,
        uow: UnitOfWork,
        clock: Clock,
        cursors: CursorCodec,
        tiers: TierLadder | None = None,
    ) -> None:
        self._ledger = ledger
        self._uow = uow
        self._clock = clock
        self._cursors = cursors
        self.tiers = tiers or default_tier_ladder()

    # -- writes ---------------------------------------------------------------------------

    def record(
        self, actor: Actor, *, creator_id: str, kind: str, amount: int, currency: str, idempotency_key: str
    ) -> LedgerEvent:
        """Record a pending earning (a sale, tip, ...) for ``creator_id``.

        Returns:
            The earning event; the same one when ``idempotency_key`` is replayed with the same content.

        Raises:
            Forbidden: the actor is not a ledger writer.
            InvalidInput: bad creator, kind, amount, currency or key.
            Conflict: the key already names an event with other content.
        """
        _require_writer(actor)
        creator_id = check_creator_id(creator_id)
        key = check_idempotency_key(idempotency_key)
        event_id = event_id_for(creator_id, key)
        requested = LedgerEvent(
            id=event_id,
            creator_id=creator_id,
            type=EventType.EARNING,
            kind=parse_kind(kind),
            earning_id=event_id,
            money=Money(amount, currency),
            idempotency_key=key,
            recorded_at=self._clock.now(),
        )
        with self._uow.transaction(actor=actor.acting_as(LEDGER_WRITER_ROLES)):
            return replay_or_conflict(self._ledger.append(requested), requested)

    def capture(
        self, actor: Actor, earning_id: str, *, currency: str, idempotency_key: str, amount: int | None = None
    ) -> LedgerEvent:
        """Capture ``amount`` of a pending earning (all that is uncaptured when omitted).

        Raises:
            Forbidden: the actor is not a ledger writer.
            NotFound: no such earning.
            InvalidInput: bad amount, currency or key; a currency other than the earning's.
            Conflict: voided, fully captured, more than is uncaptured, or a reused key.
        """
        _require_writer(actor)
        return self._follow_up(
            actor,
            earning_id,
            EventType.CAPTURE,
            idempotency_key=idempotency_key,
            currency=currency,
            amount=amount,
            reason=None,
            default_amount=lambda balance: balance.uncaptured,
            check=EarningBalance.check_capture,
        )

    def void(self, actor: Actor, earning_id: str, *, idempotency_key: str) -> LedgerEvent:
        """Void an earning nothing of which is captured; its whole amount is released (counted as missed).

        Raises:
            Forbidden: the actor is not a ledger writer.
            NotFound: no such earning.
            Conflict: already voided, partly or fully captured, or a reused key.
        """
        _require_writer(actor)
        return self._follow_up(
            actor,
            earning_id,
            EventType.VOID,
            idempotency_key=idempotency_key,
            currency=None,
            amount=None,
            reason=None,
            default_amount=lambda balance: balance.earning.amount,
            check=lambda balance, _money: balance.check_void(),
        )

    def refund(
        self,
        actor: Actor,
        earning_id: str,
        *,
        currency: str,
        reason: str,
        idempotency_key: str,
        amount: int | None = None,
    ) -> LedgerEvent:
        """Refund ``amount`` of what was captured (all that is refundable when omitted), with a reason.

        Raises:
            NotFound: no such earning, or not the actor's to refund.
            InvalidInput: bad amount, currency, reason or key; a currency other than the earning's.
            Conflict: voided, more than captured minus refunded, or a reused key.
        """
        reason = check_reason(reason)

        return self._follow_up(
            actor,
            earning_id,
            EventType.REFUND,
            idempotency_key=idempotency_key,
            currency=currency,
            amount=amount,
            reason=reason,
            default_amount=lambda balance: balance.refundable,
            check=EarningBalance.check_refund,
        )

    def _follow_up(
        self,
        actor: Actor,
        earning_id: str,
        event_type: EventType,
        *,
        idempotency_key: str,
        currency: str | None,
        amount: int | None,
        reason: str | None,
        default_amount: Callable[[EarningBalance], int],
        check: Callable[[EarningBalance, Money], None],
    ) -> LedgerEvent:
        earning_id = _check_event_id(earning_id)
        key = check_idempotency_key(idempotency_key)
        if amount is not None:
            check_amount(amount)
        if currency is not None:
            check_currency(currency)
        # Ledger writers act for every creator; a creator refunding acts as themselves.
        with self._uow.transaction(actor=actor.acting_as(LEDGER_WRITER_ROLES)):
            # The lock serializes every capture, void and refund of this earning, so the
            # balance checked below is still the balance when the event is appended.
            balance = self._ledger.lock_earning(earning_id)
            if balance is None or not _may_follow_up(actor, balance):
                raise NotFound(f"no earning with id {earning_id!r}", field="earning_id")
            earning = balance.earning
            event_id = event_id_for(earning.creator_id, key)
            stored = self._ledger.get(event_id)

            def requested(money: Money) -> LedgerEvent:
                return LedgerEvent(
                    id=event_id,
                    creator_id=earning.creator_id,
                    type=event_type,
                    kind=earning.kind,
                    earning_id=earning.id,
                    money=money,
                    idempotency_key=key,
                    reason=reason,
                    recorded_at=self._clock.now(),
                )

            if stored is not None:
                # A replay: an omitted amount matches whatever amount the first request resolved to.
                replay_amount = amount if amount is not None else stored.amount
                return replay_or_conflict(stored, requested(Money(replay_amount, currency or stored.currency)))
            resolved = amount if amount is not None else default_amount(balance)
            if resolved == 0:
                nothing = "capture" if event_type is EventType.CAPTURE else "refund"
                raise Conflict(f"earning {earning.id} has nothing left to {nothing} ({balance.status.value})")
            money = Money(resolved, currency or earning.currency)
            check(balance, money)
            event = requested(money)
            return replay_or_conflict(self._ledger.append(event), event)

    # -- reads ----------------------------------------------------------------------------

    def earning(self, actor: Actor, earning_id: str) -> EarningBalance:
        """An earning and its balance (captured, refunded, status).

        Raises:
            NotFound: no such earning, or not the actor's to see.
        """
        earning_id = _check_event_id(earning_id)
        with self._uow.transaction(actor=actor.acting_as()):
            balance = self._ledger.balance(earning_id)
        if balance is None or not _may_read(actor, balance.earning.creator_id):
            raise NotFound(f"no earning with id {earning_id!r}", field="earning_id")
        return balance

    def summary(self, actor: Actor, creator_id: str, *, as_of: datetime | None = None) -> list[Summary]:
        """The creator's summary per currency, now or as of a past instant.

        Now, it comes from the stored totals (no scan of the events). As of ``as_of`` it is
        summed from the events recorded at or before ``as_of``: each capture, void and refund
        counts at its own ``recorded_at``, so an earning captured after ``as_of`` is pending
        as of ``as_of``.

        Raises:
            Forbidden: another creator's, and the actor is not an admin.
            InvalidInput: ``as_of`` without a UTC offset, or later than the Clock's now.
        """
        creator_id = _require_reader(actor, creator_id)
        if as_of is not None:
            as_of = self._check_as_of(as_of)
        with self._uow.transaction(actor=actor.acting_as()):
            totals = (
                self._ledger.stored_totals(creator_id)
                if as_of is None
                else self._ledger.sum_events_as_of(creator_id, as_of)
            )
        return _summaries(creator_id, totals)

    def _check_as_of(self, as_of: datetime) -> datetime:
        if not isinstance(as_of, datetime) or as_of.tzinfo is None or as_of.utcoffset() is None:
            raise InvalidInput("'as_of' needs a UTC offset (e.g. 2026-01-15T00:00:00Z)", field="as_of")
        if as_of > self._clock.now():
            # The future is not a balance yet; refusing it keeps "as of" a statement of fact.
            raise InvalidInput("'as_of' is in the future; a balance exists only up to now", field="as_of")
        return as_of

    def timeline(
        self,
        actor: Actor,
        creator_id: str,
        where: TimelineFilter | None = None,
        *,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> TimelinePage:
        """The creator's events, newest first, a page at a time.

        Raises:
            Forbidden: another creator's, and the actor is not an admin.
            InvalidInput: ``limit`` outside 1..100.
            InvalidCursor: a malformed, tampered, expired or foreign cursor (or one from other filters).
        """
        creator_id = _require_reader(actor, creator_id)
        where = where or TimelineFilter()
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_SIZE:
            raise InvalidInput(f"limit must be an integer in 1..{MAX_PAGE_SIZE}", field="limit")
        scope = f"earnings:timeline:{creator_id}:{where.fingerprint}"
        after = _decode_position(self._cursors.decode(scope, cursor)) if cursor is not None else None
        with self._uow.transaction(actor=actor.acting_as()):
            events = list(self._ledger.timeline(creator_id, where, after, limit + 1))
        page, more = events[:limit], len(events) > limit
        next_cursor = None
        if more:
            last = page[-1]
            next_cursor = self._cursors.encode(scope, {"at": last.recorded_at.isoformat(), "id": last.id})
        return TimelinePage(events=tuple(page), next_cursor=next_cursor)

    def tier(self, actor: Actor, creator_id: str) -> TierStatus:
        """The creator's tier by captured net earnings in the ladder's currency, and progress to the next.

        Raises:
            Forbidden: another creator's, and the actor is not an admin.
        """
        return self.tier_of(creator_id, self.summary(actor, creator_id))

    def tier_of(self, creator_id: str, summaries: Sequence[Summary]) -> TierStatus:
        """The tier the creator's summaries (from :meth:`summary`) put them in: no read of its own."""
        net = sum(each.net for each in summaries if each.currency == self.tiers.currency)
        return self.tiers.status(creator_id, net)

    def tier_outlook(self, actor: Actor, creator_id: str) -> TierOutlook:
        """Tiers as data: every milestone, progress, and the countdown to the next tier.

        The pace is the net (captured minus refunded, in the ladder's currency) earned over the
        last 30 days by the Clock: the net now minus the net as of 30 days ago.

        Raises:
            Forbidden: another creator's, and the actor is not an admin.
        """
        creator_id = _require_reader(actor, creator_id)
        now = self._clock.now()
        with self._uow.transaction(actor=actor.acting_as()):
            net_now = self._net(self._ledger.sum_events_as_of(creator_id, now))
            net_then = self._net(self._ledger.sum_events_as_of(creator_id, now - PACE_WINDOW))
        return outlook(self.tiers, creator_id, net_now, pace=net_now - net_then, now=now)

    def _net(self, totals: Sequence[Totals]) -> int:
        return sum(each.captured - each.refunded for each in totals if each.currency == self.tiers.currency)

    # -- maintenance ----------------------------------------------------------------------

    def recompute(self, actor: Actor, creator_id: str) -> RecomputeReport:
        """Rebuild the creator's stored totals from the events and report what was corrected.

        Writers of the creator's events wait while it runs, so the totals it writes are exact.

        Raises:
            Forbidden: another creator's, and the actor is not an admin.
        """
        creator_id = _require_reader(actor, creator_id)
        with self._uow.transaction(actor=actor.acting_as()):
            self._ledger.lock_totals(creator_id)
            recomputed = self._ledger.sum_events(creator_id)
            report = reconcile(creator_id, self._ledger.stored_totals(creator_id), recomputed)
            if report.corrected:
                self._ledger.replace_totals(creator_id, recomputed)
            # The point-in-time checkpoints are rebuilt every time (a bulk load bypasses the append).
            self._ledger.rebuild_checkpoints(creator_id)
        return report

    def creators(self, actor: Actor) -> list[str]:
        """Every creator with at least one event (for reconciling everyone); admins only.

        Raises:
            Forbidden: the actor is not an admin.
        """
        actor.require_admin()
        with self._uow.transaction(actor=actor.acting_as()):
            return list(self._ledger.creators())


def _summaries(creator_id: str, totals: Sequence[Totals]) -> list[Summary]:
    return [Summary.of(creator_id, each) for each in totals if each.events]


def _require_writer(actor: Actor) -> None:
    if not actor.roles & LEDGER_WRITER_ROLES:
        raise Forbidden("recording, capturing and voiding earnings needs the admin or service role")


def _may_read(actor: Actor, creator_id: str) -> bool:
    return actor.is_admin or actor.user_id == creator_id


def _may_follow_up(actor: Actor, balance: EarningBalance) -> bool:
    return bool(actor.roles & LEDGER_WRITER_ROLES) or actor.user_id == balance.earning.creator_id


def _require_reader(actor: Actor, creator_id: str) -> str:
    creator_id = check_creator_id(creator_id)
    if not _may_read(actor, creator_id):
        raise Forbidden("you may only see your own earnings (admins may see anyone's)", field="creator_id")
    return creator_id


def _decode_position(position: dict[str, object]) -> TimelinePosition:
    try:
        at = datetime.fromisoformat(str(position["at"]))
        event_id = str(uuid.UUID(str(position["id"])))
    except (KeyError, ValueError):
        raise InvalidCursor("cursor body is malformed", field="cursor") from None
    if at.tzinfo is None:
        raise InvalidCursor("cursor body is malformed", field="cursor")
    return TimelinePosition(recorded_at=at, event_id=event_id)
