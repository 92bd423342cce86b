"""The context compiler: what the assistant knows about a user right now, bounded and ranked.

Each :class:`ContextSource` reads one area through its service, as the user, and yields
facts with a relevance. The compiler keeps the most relevant facts that fit the size budget
(characters of their text) and caches the result under a key made of the user and every
source's *high-water mark*: a change in any source changes its mark, so the next compile
misses the cache and reads afresh. A source's mark is the cheapest read its port offers that
changes whenever its data does: the memory version for memories, and for the sources whose
cheapest read is the data itself (unread counts, earnings totals with their event count, the
cart), a digest of that read, so a cache hit saves the loading and ranking, not that read.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from attrs import frozen

from townsquare.core.assistant.memory import MemoryService
from townsquare.core.assistant.ports import ContextCache
from townsquare.core.clock import Clock
from townsquare.core.composer.service import ComposerService
from townsquare.core.earnings.service import EarningsService
from townsquare.core.errors import InvalidInput
from townsquare.core.events.models import RegistrationStatus
from townsquare.core.events.service import EventService
from townsquare.core.feed.service import FeedService
from townsquare.core.identity import Actor
from townsquare.core.notifications.service import NotificationService
from townsquare.core.uow import UnitOfWork

DEFAULT_BUDGET = 4000
MAX_BUDGET = 32_000


class FactKind(StrEnum):
    """What a fact is about."""

    EARNINGS = "earnings"
    TIER = "tier"
    UNREAD = "unread"
    CART_ITEM = "cart_item"
    MEMORY = "memory"
    DRAFT = "draft"
    REGISTRATION = "registration"


@frozen
class Fact:
    """One thing the context says.

    Attributes:
        source: which source said it.
        kind: what it is about (``earnings``, ``unread``, ``cart_item`` ...).
        text: the sentence given to the model (its length counts against the budget).
        relevance: higher first (0..100).
        data: the figures behind it, for clients.
    """

    source: str
    kind: FactKind
    text: str
    relevance: int
    data: dict[str, Any]


@frozen
class CompiledContext:
    """A user's context: the facts that fit, most relevant first.

    Attributes:
        user_id: whose.
        facts: kept facts, by relevance (then source order).
        size: characters of the kept facts' texts.
        budget: the budget it was compiled for.
        dropped: how many facts did not fit.
        marks: each source's high-water mark it was compiled at.
        compiled_at: when.
        cached: whether this came from the cache.
    """

    user_id: str
    facts: tuple[Fact, ...]
    size: int
    budget: int
    dropped: int
    marks: dict[str, str]
    compiled_at: datetime
    cached: bool = False

    def as_text(self) -> str:
        return "\n".join(f"- {fact.text}" for fact in self.facts)


class ContextSource(Protocol):
    """One area's contribution to the context."""

    name: str

    def mark(self, actor: Actor) -> str:
        """The source's high-water mark for the user: changes whenever its facts would."""
        ...

    def facts(self, actor: Actor) -> Sequence[Fact]: ...


class ContextCodec(Protocol):
    """Turns compiled contexts into cache text and back (cattrs, in the adapter)."""

    def dumps(self, context: CompiledContext) -> str: ...

    def loads(self, text: str) -> CompiledContext: ...


class ContextCompiler:
    """Compiles and caches each user's context.

    Args:
        sources: the sources, in tie-breaking order.
        cache: where compiled contexts are kept (Redis or in process).
        codec: their cache form.
        clock: compile times.
        uow: the one read-only transaction every source's own joins (speed.py).
    """

    def __init__(
        self,
        sources: Sequence[ContextSource],
        cache: ContextCache,
        codec: ContextCodec,
        clock: Clock,
        uow: UnitOfWork,
    ) -> None:
        self._sources = list(sources)
        self._cache = cache
        self._codec = codec
        self._clock = clock
        self._uow = uow

    def add_source(self, source: ContextSource) -> None:
        self._sources.append(source)

    def compile(self, actor: Actor, budget: int = DEFAULT_BUDGET) -> CompiledContext:
        """The actor's context within ``budget`` characters (cached while no source changed).

        Raises:
            InvalidInput: a budget outside 100..32000.
        """
        if isinstance(budget, bool) or not isinstance(budget, int) or not 100 <= budget <= MAX_BUDGET:
            raise InvalidInput(f"budget must be an integer from 100 to {MAX_BUDGET}, got {budget!r}", field="budget")
        # One transaction as the user around every source's reads (speed.py); a source that
        # changes between its mark and its facts only makes the next compile miss.
        with self._uow.transaction(actor=actor.user_id):
            marks = {source.name: source.mark(actor) for source in self._sources}
            key = _key(actor.user_id, budget, marks)
            cached = self._cache.get(key)
            if cached is not None:
                return self._codec.loads(cached)
            facts = [fact for source in self._sources for fact in source.facts(actor)]
        order = sorted(range(len(facts)), key=lambda index: (-facts[index].relevance, index))
        kept: list[Fact] = []
        size = 0
        for index in order:
            fact = facts[index]
            if size + len(fact.text) > budget:
                continue  # a smaller, less relevant fact may still fit
            kept.append(fact)
            size += len(fact.text)
        context = CompiledContext(
            user_id=actor.user_id,
            facts=tuple(kept),
            size=size,
            budget=budget,
            dropped=len(facts) - len(kept),
            marks=marks,
            compiled_at=self._clock.now(),
        )
        self._cache.put(key, self._codec.dumps(_as_cached(context)))
        return context


def _as_cached(context: CompiledContext) -> CompiledContext:
    from attrs import evolve

    return evolve(context, cached=True)


def _key(user_id: str, budget: int, marks: dict[str, str]) -> str:
    raw = json.dumps([user_id, budget, marks], sort_keys=True, separators=(",", ":"))
    return "assistant:context:" + hashlib.blake2b(raw.encode(), digest_size=16).hexdigest()


def _digest(value: Any) -> str:
    return hashlib.blake2b(repr(value).encode(), digest_size=8).hexdigest()


# -- the sources over the existing ports -----------------------------------------------------


class EarningsSource:
    name = "earnings"

    def __init__(self, earnings: EarningsService) -> None:
        self._earnings = earnings

    def mark(self, actor: Actor) -> str:
        # The ledger is append-only: the event count per currency moves with every change.
        return _digest(
            [(s.currency, s.events, s.captured, s.refunded) for s in self._earnings.summary(actor, actor.user_id)]
        )

    def facts(self, actor: Actor) -> Sequence[Fact]:
        found = []
        summaries = self._earnings.summary(actor, actor.user_id)
        for summary in summaries:
            found.append(
                Fact(
                    source=self.name,
                    kind=FactKind.EARNINGS,
                    text=(
                        f"Earnings in {summary.currency} (minor units): total {summary.total}, "
                        f"captured {summary.captured}, pending {summary.pending}, "
                        f"refunded {summary.refunded}, net {summary.net}."
                    ),
                    relevance=80 if summary.pending else 60,
                    data={"currency": summary.currency, "pending": summary.pending, "net": summary.net},
                )
            )
        tier = self._earnings.tier_of(actor.user_id, summaries)
        nxt = f"; {tier.remaining} to {tier.next.name}" if tier.next else " (the top tier)"
        found.append(
            Fact(
                source=self.name,
                kind=FactKind.TIER,
                text=f"Tier {tier.current.name}{nxt}.",
                relevance=55,
                data={"tier": tier.current.name, "remaining": tier.remaining},
            )
        )
        return found


class NotificationsSource:
    name = "notifications"

    def __init__(self, notifications: NotificationService) -> None:
        self._notifications = notifications

    def mark(self, actor: Actor) -> str:
        counts = self._notifications.counts(actor)
        return _digest(sorted((lane.value, n) for lane, n in counts.lanes.items()))

    def facts(self, actor: Actor) -> Sequence[Fact]:
        counts = self._notifications.counts(actor)
        lanes = ", ".join(f"{lane.value} {n}" for lane, n in counts.lanes.items() if n)
        return [
            Fact(
                source=self.name,
                kind=FactKind.UNREAD,
                text=f"Unread notifications: {counts.total}" + (f" ({lanes})." if lanes else "."),
                relevance=70 if counts.total else 20,
                data={"total": counts.total, "lanes": {lane.value: n for lane, n in counts.lanes.items()}},
            )
        ]


class CartSource:
    name = "cart"

    def __init__(self, feed: FeedService) -> None:
        self._feed = feed

    def mark(self, actor: Actor) -> str:
        return _digest([(entry.item.item_id, entry.added_at) for entry in self._feed.cart(actor)])

    def facts(self, actor: Actor) -> Sequence[Fact]:
        return [
            Fact(
                source=self.name,
                kind=FactKind.CART_ITEM,
                text=(
                    f"In the cart since {entry.added_at:%Y-%m-%d}: {entry.item.title!r} "
                    f"({entry.item.price_cents} {entry.item.currency} minor units)."
                ),
                relevance=max(30, 50 - position * 5),
                data={"item_id": entry.item.item_id, "price_cents": entry.item.price_cents},
            )
            for position, entry in enumerate(self._feed.cart(actor))
        ]


class DraftsSource:
    """The user's newest drafts, scheduled ones first (the next thing they will publish)."""

    name = "drafts"

    def __init__(self, composer: ComposerService, limit: int = 5) -> None:
        self._composer = composer
        self._limit = limit

    def mark(self, actor: Actor) -> str:
        # Every change to a draft moves its version; a new or deleted draft changes the page.
        return _digest([(d.draft_id, d.version) for d in self._composer.list_mine(actor, None, self._limit).drafts])

    def facts(self, actor: Actor) -> Sequence[Fact]:
        found = []
        for position, draft in enumerate(self._composer.list_mine(actor, None, self._limit).drafts):
            title = draft.content.title or "(untitled)"
            when = draft.schedule
            text = (
                f"Draft {title!r} ({draft.draft_id}) is scheduled for "
                f"{when.local_time:%Y-%m-%d %H:%M} {when.time_zone}."
                if when is not None
                else f"Draft {title!r} ({draft.draft_id}), last edited {draft.updated_at:%Y-%m-%d}, is not scheduled."
            )
            found.append(
                Fact(
                    source=self.name,
                    kind=FactKind.DRAFT,
                    text=text,
                    relevance=(50 if when is not None else 45) - position * 3,
                    data={"draft_id": draft.draft_id, "version": draft.version, "scheduled": when is not None},
                )
            )
        return found


class RegistrationsSource:
    """The user's newest event registrations (their orders), with the status a reader sees now.

    The mark is the page's ids with each one's status *as read now*, refunded amount and last
    change: a new registration, a confirmation, a refund or a cancellation moves it, and so
    does a hold lapsing (its status reads ``expired`` the moment it lapses, before any job
    writes it). A hold still open is the most relevant: it is lost unless paid.
    """

    name = "registrations"

    def __init__(self, events: EventService, limit: int = 5) -> None:
        self._events = events
        self._limit = limit

    def mark(self, actor: Actor) -> str:
        page = self._events.my_registrations(actor, None, self._limit).registrations
        return _digest(
            [(r.registration_id, self._events.status_of(r).value, r.refunded, r.updated_at.isoformat()) for r in page]
        )

    def facts(self, actor: Actor) -> Sequence[Fact]:
        found = []
        for position, registration in enumerate(self._events.my_registrations(actor, None, self._limit).registrations):
            status = self._events.status_of(registration)
            price = registration.price
            text = (
                f"Registration {registration.registration_id} for event {registration.event_id!r} "
                f"({registration.type_id}): {registration.quantity} ticket(s), {status.value}, "
                f"total {price.total} {price.currency} minor units"
            )
            if status is RegistrationStatus.RESERVED and registration.expires_at is not None:
                text += f", held until {registration.expires_at:%Y-%m-%d %H:%M} UTC unless paid"
                relevance = 65
            elif status is RegistrationStatus.CONFIRMED:
                relevance = 40
            else:
                relevance = 25
            if registration.refunded:
                text += f", {registration.refunded} refunded"
            found.append(
                Fact(
                    source=self.name,
                    kind=FactKind.REGISTRATION,
                    text=text + ".",
                    relevance=relevance - position * 2,
                    data={
                        "registration_id": registration.registration_id,
                        "event_id": registration.event_id,
                        "status": status.value,
                        "total": price.total,
                        "refunded": registration.refunded,
                    },
                )
            )
        return found


class MemorySource:
    """The user's most recent memories (recall by the message happens in the chat itself)."""

    name = "memories"

    def __init__(self, memory: MemoryService, limit: int = 10) -> None:
        self._memory = memory
        self._limit = limit

    def mark(self, actor: Actor) -> str:
        return self._memory.mark(actor)

    def facts(self, actor: Actor) -> Sequence[Fact]:
        page = self._memory.memories(actor, limit=self._limit)
        return [
            Fact(
                source=self.name,
                kind=FactKind.MEMORY,
                text=f"Remembered: {memory.text}",
                relevance=max(10, 45 - position * 3),
                data={"memory_id": memory.id},
            )
            for position, memory in enumerate(page.memories)
        ]
