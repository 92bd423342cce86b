"""The project's own operations as chat tools (see :mod:`townsquare.core.assistant.tools`).

Each tool calls one service method with the conversation's actor and the user's own id
where the method takes one; none accepts another user's id, so what a tool may do is what
the same user's HTTP call may do.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from attrs import frozen

from townsquare.core.assistant.actions import ActionService
from townsquare.core.assistant.memory import MemoryService
from townsquare.core.assistant.tools import ArgumentParser, NoArguments, Tool, ToolContext, ToolRegistry
from townsquare.core.composer.models import TITLE_MAX_GRAPHEMES, Draft, make_content
from townsquare.core.composer.service import ComposerService
from townsquare.core.earnings.models import TimelineFilter
from townsquare.core.earnings.service import EarningsService
from townsquare.core.errors import InvalidInput
from townsquare.core.events import EventService
from townsquare.core.events.waitlist import WaitlistService
from townsquare.core.feed.models import make_draft
from townsquare.core.feed.service import FeedService
from townsquare.core.insights import Assumptions, InsightsService
from townsquare.core.notifications.service import NotificationService
from townsquare.core.reports import ReportService
from townsquare.core.reports.models import ProducerStats

ALWAYS_OFFERED = ("notifications_counts", "earnings_summary", "feed_home", "assistant_next_actions")


@frozen
class FeedHomeArgs:
    mode: str = "for_you"
    limit: int = 10


@frozen
class CreatorArgs:
    creator_id: str


@frozen
class ItemArgs:
    item_id: str


@frozen
class PublishPostArgs:
    title: str
    body: str = ""


@frozen
class InboxArgs:
    lane: str | None = None
    limit: int = 10


@frozen
class MarkReadArgs:
    ids: list[str]


@frozen
class LaneArgs:
    lane: str | None = None


@frozen
class TimelineArgs:
    limit: int = 10


@frozen
class RememberArgs:
    text: str


@frozen
class RecallArgs:
    query: str
    k: int = 5


@frozen
class MemoryIdArgs:
    memory_id: str


@frozen
class ActionsArgs:
    limit: int = 3


@frozen
class DraftTextArgs:
    text: str


@frozen
class DraftsArgs:
    limit: int = 10


@frozen
class DraftIdArgs:
    draft_id: str


@frozen
class ScheduleArgs:
    draft_id: str
    local_time: str | None = None
    time_zone: str | None = None


@frozen
class EventIdArgs:
    event_id: str


@frozen
class RaiseQuotaArgs:
    event_id: str
    type_id: str
    quota: int


@frozen
class EventStatsArgs:
    event_id: str
    first_day: date | None = None
    last_day: date | None = None
    time_zone: str | None = None


@frozen
class StatsArgs:
    first_day: date | None = None
    last_day: date | None = None
    time_zone: str | None = None


@frozen
class WhatIfArgs:
    capture_pending_bp: int = 0
    win_back_voided_bp: int = 0
    avoid_refunds_bp: int = 0
    convert_carts_bp: int = 0
    price_change_bp: int = 0


DEFAULT_SCHEDULE_HOUR = 9
"""A schedule asked for without a time is tomorrow at 09:00 in the author's zone."""


def _draft_out(draft: Draft) -> dict[str, Any]:
    schedule = draft.schedule
    return {
        "draft_id": draft.draft_id,
        "version": draft.version,
        "title": draft.content.title,
        "scheduled_for": None if schedule is None else schedule.publish_at,
        "time_zone": None if schedule is None else schedule.time_zone,
    }


def _stats_out(stats: ProducerStats) -> dict[str, Any]:
    """The stats' totals for the model (the daily series stays out: it is for charts, and long)."""
    return {
        "event_id": stats.event_id,
        "first_day": stats.range.first_day,
        "last_day": stats.range.last_day,
        "time_zone": stats.range.time_zone,
        "registrations": stats.registrations,
        "tickets": stats.tickets,
        "money": [
            {
                "currency": m.currency,
                "gross": m.gross,
                "discounts": m.discounts,
                "captured": m.captured,
                "pending": m.pending,
                "refunded": m.refunded,
                "net": m.net,
            }
            for m in stats.money
        ],
        "capacity": [
            {"type_id": c.type_id, "name": c.name, "quota": c.quota, "held": c.held, "left": c.left}
            for c in stats.capacity
        ],
        "waitlist_demand": stats.waitlist_demand,
    }


def split_draft_text(text: str) -> tuple[str, str]:
    """A draft's title and body from one message: the first line is the title, the rest the body.

    A first line too long for a title becomes the body, under a title of its first words.
    """
    first, _, rest = text.strip().partition("\n")
    first = first.strip()
    if len(first) <= TITLE_MAX_GRAPHEMES:
        return first, rest.strip()
    title = first[: TITLE_MAX_GRAPHEMES - 1].rsplit(" ", 1)[0] + "…"
    return title, text.strip()


def schedule_time(now: datetime, local_time: str | None, time_zone: str) -> datetime:
    """The naive local time to schedule at: the one given (ISO 8601, no offset), or tomorrow at 09:00 there.

    Raises:
        InvalidInput: a time that is not ISO 8601, carries an offset, or an unknown zone.
    """
    try:
        zone = ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"unknown time zone {time_zone!r}", field="time_zone") from None
    if local_time is None:
        tomorrow = (now.astimezone(zone) + timedelta(days=1)).date()
        return datetime(tomorrow.year, tomorrow.month, tomorrow.day, DEFAULT_SCHEDULE_HOUR)
    try:
        parsed = datetime.fromisoformat(local_time)
    except ValueError:
        raise InvalidInput(
            "local_time must be an ISO 8601 local time like 2026-12-24T09:00", field="local_time"
        ) from None
    if parsed.tzinfo is not None:
        raise InvalidInput(
            "local_time is a wall-clock time: give the zone as time_zone, not an offset", field="local_time"
        )
    return parsed


def _tool(
    name: str, description: str, params: type[Any], run: Any, keywords: str, *, writes: bool = False
) -> Tool[Any]:
    return Tool(name, description, params, run, frozenset(keywords.split()), writes)


def project_tools(
    parser: ArgumentParser,
    *,
    feed: FeedService,
    notifications: NotificationService,
    earnings: EarningsService,
    insights: InsightsService,
    composer: ComposerService,
    events: EventService,
    waitlist: WaitlistService,
    reports: ReportService,
    memory: MemoryService,
    actions: ActionService,
    now: Any,
) -> ToolRegistry:
    """The registry of every tool over the project's ports.

    ``now`` is the clock's ``now`` (a schedule without a time is relative to it).
    """
    registry = ToolRegistry(parser, always=ALWAYS_OFFERED)

    def me(context: ToolContext) -> str:
        return context.actor.user_id

    def feed_home(c: ToolContext, a: FeedHomeArgs) -> Any:
        page = feed.home(c.actor, a.mode, None, a.limit)
        return [
            {"item_id": i.item_id, "creator_id": i.creator_id, "kind": i.kind, "title": i.title} for i in page.items
        ]

    def follow(c: ToolContext, a: CreatorArgs) -> Any:
        feed.follow(c.actor, a.creator_id)
        return {"following": a.creator_id}

    def unfollow(c: ToolContext, a: CreatorArgs) -> Any:
        feed.unfollow(c.actor, a.creator_id)
        return {"unfollowed": a.creator_id}

    def hide(c: ToolContext, a: ItemArgs) -> Any:
        feed.hide(c.actor, a.item_id)
        return {"hidden": a.item_id}

    def publish(c: ToolContext, a: PublishPostArgs) -> Any:
        # The call's own key makes the item id: a retried call publishes once.
        item = feed.publish(c.actor, make_draft(f"post-{c.key('publish')}", "post", a.title, body=a.body))
        return {"item_id": item.item_id, "title": item.title, "published_at": item.published_at}

    def cart(c: ToolContext, _a: NoArguments) -> Any:
        return [
            {
                "item_id": e.item.item_id,
                "title": e.item.title,
                "price_cents": e.item.price_cents,
                "added_at": e.added_at,
            }
            for e in feed.cart(c.actor)
        ]

    def cart_add(c: ToolContext, a: ItemArgs) -> Any:
        feed.add_to_cart(c.actor, a.item_id)
        return {"added": a.item_id}

    def cart_remove(c: ToolContext, a: ItemArgs) -> Any:
        feed.remove_from_cart(c.actor, a.item_id)
        return {"removed": a.item_id}

    def counts(c: ToolContext, _a: NoArguments) -> Any:
        found = notifications.counts(c.actor)
        return {"total": found.total, "lanes": found.lanes}

    def inbox(c: ToolContext, a: InboxArgs) -> Any:
        page = notifications.inbox(c.actor, a.lane, None, a.limit)
        return [
            {"id": n.id, "lane": n.lane, "title": n.title, "read": n.read_at is not None, "at": n.created_at}
            for n in page.items
        ]

    def mark_read(c: ToolContext, a: MarkReadArgs) -> Any:
        return {"marked_read": notifications.mark_read(c.actor, a.ids)}

    def mark_all_read(c: ToolContext, a: LaneArgs) -> Any:
        return {"marked_read": notifications.mark_all_read(c.actor, a.lane)}

    def preferences(c: ToolContext, _a: NoArguments) -> Any:
        prefs = notifications.preferences(c.actor)
        return {"digest": prefs.digest, "timezone": prefs.timezone}

    def digest_preview(c: ToolContext, _a: NoArguments) -> Any:
        return notifications.digest_preview(c.actor)

    def summary(c: ToolContext, _a: NoArguments) -> Any:
        return earnings.summary(c.actor, me(c))

    def tier(c: ToolContext, _a: NoArguments) -> Any:
        return earnings.tier(c.actor, me(c))

    def timeline(c: ToolContext, a: TimelineArgs) -> Any:
        page = earnings.timeline(c.actor, me(c), TimelineFilter(), cursor=None, limit=a.limit)
        return [
            {
                "id": e.id,
                "type": e.type,
                "kind": e.kind,
                "amount": e.amount,
                "currency": e.currency,
                "at": e.recorded_at,
            }
            for e in page.events
        ]

    def remember(c: ToolContext, a: RememberArgs) -> Any:
        done = memory.remember(c.actor, a.text)
        return {"memory_id": done.memory.id, "text": done.memory.text, "created": done.created}

    def recall(c: ToolContext, a: RecallArgs) -> Any:
        return [
            {"memory_id": hit.memory.id, "text": hit.memory.text, "score": round(hit.score, 4)}
            for hit in memory.recall(c.actor, a.query, a.k)
        ]

    def forget(c: ToolContext, a: MemoryIdArgs) -> Any:
        memory.forget(c.actor, a.memory_id)
        return {"forgotten": a.memory_id}

    def next_actions(c: ToolContext, a: ActionsArgs) -> Any:
        return [
            {"key": s.candidate.key, "title": s.candidate.title, "reason": s.candidate.reason, "score": s.score}
            for s in actions.suggest(c.actor, a.limit)
        ]

    def draft(c: ToolContext, a: DraftTextArgs) -> Any:
        # The call's own key names the draft: a retried call creates it once.
        title, body = split_draft_text(a.text)
        made = composer.create(c.actor, make_content(title, body), draft_id=f"assistant-{c.key('draft')}")
        return _draft_out(made)

    def drafts(c: ToolContext, a: DraftsArgs) -> Any:
        return [_draft_out(each) for each in composer.list_mine(c.actor, None, a.limit).drafts]

    def schedule(c: ToolContext, a: ScheduleArgs) -> Any:
        current = composer.get(c.actor, a.draft_id)
        zone = a.time_zone or notifications.preferences(c.actor).timezone or "UTC"
        at = schedule_time(now(), a.local_time, zone)
        return _draft_out(composer.schedule(c.actor, a.draft_id, current.version, at, zone))

    def cancel_schedule(c: ToolContext, a: DraftIdArgs) -> Any:
        current = composer.get(c.actor, a.draft_id)
        return _draft_out(composer.cancel_schedule(c.actor, a.draft_id, current.version))

    def publish_draft(c: ToolContext, a: DraftIdArgs) -> Any:
        current = composer.get(c.actor, a.draft_id)
        item = composer.publish(c.actor, a.draft_id, current.version)
        return {"item_id": item.item_id, "title": item.title, "published_at": item.published_at}

    def opportunities(c: ToolContext, _a: NoArguments) -> Any:
        return [
            {"rank": o.rank, "kind": o.kind, "currency": o.currency, "amount": o.amount, "insight": o.insight}
            for o in insights.opportunities(c.actor, me(c))
        ]

    def what_if(c: ToolContext, a: WhatIfArgs) -> Any:
        assumptions = Assumptions(
            capture_pending_bp=a.capture_pending_bp,
            win_back_voided_bp=a.win_back_voided_bp,
            avoid_refunds_bp=a.avoid_refunds_bp,
            convert_carts_bp=a.convert_carts_bp,
            price_change_bp=a.price_change_bp,
        )
        return [
            {"currency": p.currency, "baseline_net": p.baseline.net, "projected_net": p.projected.net, "delta": p.delta}
            for p in insights.what_if(c.actor, me(c), assumptions)
        ]

    def registrations(c: ToolContext, a: TimelineArgs) -> Any:
        return [
            {
                "registration_id": r.registration_id,
                "event_id": r.event_id,
                "type_id": r.type_id,
                "quantity": r.quantity,
                "status": events.status_of(r),
                "total": r.price.total,
                "currency": r.price.currency,
                "hold_expires_at": r.expires_at,
            }
            for r in events.my_registrations(c.actor, None, a.limit).registrations
        ]

    def my_events(c: ToolContext, a: TimelineArgs) -> Any:
        return [
            {
                "event_id": e.event_id,
                "title": e.details.title,
                "status": e.status,
                "starts_at": e.details.starts_at,
                "time_zone": e.details.time_zone,
            }
            for e in events.list_mine(c.actor, None, a.limit).events
        ]

    def availability(c: ToolContext, a: EventIdArgs) -> Any:
        return {"event_id": a.event_id, "tickets_left_by_type": events.availability(c.actor, a.event_id)}

    def my_places(c: ToolContext, a: TimelineArgs) -> Any:
        return [
            {
                "entry_id": p.entry.entry_id,
                "event_id": p.entry.event_id,
                "type_id": p.entry.type_id,
                "status": waitlist.status_of(p.entry),
                "place": p.position,
                "offer_expires_at": p.entry.offer_expires_at,
            }
            for p in waitlist.my_entries(c.actor, limit=a.limit).places
        ]

    def demand(c: ToolContext, _a: NoArguments) -> Any:
        return [
            {
                "event_id": d.event_id,
                "title": d.title,
                "type_id": d.type_id,
                "name": d.name,
                "waiting": d.waiting,
                "quota": d.quota,
                "held": d.held,
                "sold_out": d.sold_out,
                "capacity": d.capacity,
                "capacity_short": d.capacity_short,
                "value_at_stake": d.value,
                "currency": d.currency,
            }
            for d in waitlist.demand(c.actor)
        ]

    def raise_quota(c: ToolContext, a: RaiseQuotaArgs) -> Any:
        # The same call as PATCH .../ticket-types/{type_id}: only the producer (or an admin)
        # may, never below the seats held; a raise serves the line (promotion is queued).
        ticket = events.update_ticket_type(c.actor, a.event_id, a.type_id, quota=a.quota)
        return {"event_id": ticket.event_id, "type_id": ticket.type_id, "quota": ticket.quota}

    def event_stats(c: ToolContext, a: EventStatsArgs) -> Any:
        stats = reports.event_stats(
            c.actor, a.event_id, first_day=a.first_day, last_day=a.last_day, time_zone=a.time_zone
        )
        return _stats_out(stats)

    def producer_stats(c: ToolContext, a: StatsArgs) -> Any:
        # No producer_id argument: the tool reads the user's own figures only.
        stats = reports.producer_stats(c.actor, first_day=a.first_day, last_day=a.last_day, time_zone=a.time_zone)
        return _stats_out(stats)

    for tool in (
        _tool(
            "events_waitlist_mine",
            "Your places in waitlists and your offers.",
            TimelineArgs,
            my_places,
            "waitlist line queue place offer",
        ),
        _tool(
            "events_waitlist_demand",
            "Your sold-out ticket types with people waiting, and the value at stake.",
            NoArguments,
            demand,
            "waitlist waiting demand sold quota",
        ),
        _tool(
            "events_raise_quota",
            "Raise (or set) a ticket type's quota of an event you produce.",
            RaiseQuotaArgs,
            raise_quota,
            "quota raise",
            writes=True,
        ),
        _tool(
            "reports_event_stats",
            "Stats of an event you produce: registrations, capacity, money, waitlist demand.",
            EventStatsArgs,
            event_stats,
            "stats statistic report figures sales",
        ),
        _tool(
            "reports_stats",
            "Stats over all your events for a range of days (default the last 30).",
            StatsArgs,
            producer_stats,
            "stats statistic report figures sales",
        ),
        _tool(
            "events_registrations",
            "Your event registrations and their status.",
            TimelineArgs,
            registrations,
            "registration ticket",
        ),
        _tool("events_mine", "The events you produce.", TimelineArgs, my_events, "event events produce"),
        _tool(
            "events_availability",
            "Tickets left per ticket type of an event.",
            EventIdArgs,
            availability,
            "ticket left availab seat sold",
        ),
        _tool(
            "composer_draft",
            "Start a draft post (first line: title).",
            DraftTextArgs,
            draft,
            "draft write",
            writes=True,
        ),
        _tool("composer_drafts", "Your drafts, newest first.", DraftsArgs, drafts, "draft drafts"),
        _tool(
            "composer_schedule",
            "Schedule a draft at a local time (default tomorrow 09:00 in your zone).",
            ScheduleArgs,
            schedule,
            "schedule later draft",
            writes=True,
        ),
        _tool(
            "composer_cancel_schedule",
            "Cancel a draft's schedule.",
            DraftIdArgs,
            cancel_schedule,
            "unschedule cancel",
            writes=True,
        ),
        _tool("composer_publish", "Publish a draft now.", DraftIdArgs, publish_draft, "publish draft", writes=True),
        _tool(
            "earnings_opportunities",
            "Money you missed (pending, voided, refunded, carts), ranked.",
            NoArguments,
            opportunities,
            "missed opportunit lost",
        ),
        _tool("earnings_what_if", "Your net under changed assumptions.", WhatIfArgs, what_if, "what if scenario"),
        _tool("feed_home", "Your home feed (mode for_you or following).", FeedHomeArgs, feed_home, "feed home posts"),
        _tool("feed_follow", "Follow a creator.", CreatorArgs, follow, "follow", writes=True),
        _tool("feed_unfollow", "Stop following a creator.", CreatorArgs, unfollow, "unfollow", writes=True),
        _tool("feed_hide_item", "Hide an item from your feeds.", ItemArgs, hide, "hide", writes=True),
        _tool("feed_publish_post", "Publish a post now.", PublishPostArgs, publish, "publish post", writes=True),
        _tool("cart_list", "The products in your cart.", NoArguments, cart, "cart basket order"),
        _tool("cart_add", "Put a product in your cart.", ItemArgs, cart_add, "cart add buy", writes=True),
        _tool("cart_remove", "Take a product out of your cart.", ItemArgs, cart_remove, "cart remove", writes=True),
        _tool("notifications_counts", "Unread notifications per lane.", NoArguments, counts, "unread count notif"),
        _tool("notifications_inbox", "Your latest notifications.", InboxArgs, inbox, "inbox notif"),
        _tool(
            "notifications_mark_read",
            "Mark notifications read by id.",
            MarkReadArgs,
            mark_read,
            "mark read",
            writes=True,
        ),
        _tool(
            "notifications_mark_all_read",
            "Mark all notifications read (optionally one lane).",
            LaneArgs,
            mark_all_read,
            "mark read all",
            writes=True,
        ),
        _tool(
            "notifications_preferences",
            "Your notification settings.",
            NoArguments,
            preferences,
            "prefer setting digest",
        ),
        _tool(
            "notifications_digest_preview", "What your next digest would hold.", NoArguments, digest_preview, "digest"
        ),
        _tool("earnings_summary", "Your earnings per currency.", NoArguments, summary, "earn money revenue summary"),
        _tool("earnings_tier", "Your tier and progress to the next.", NoArguments, tier, "tier level progress"),
        _tool("earnings_timeline", "Your latest ledger events.", TimelineArgs, timeline, "ledger timeline transact"),
        _tool("memory_remember", "Remember a fact about you.", RememberArgs, remember, "remember note", writes=True),
        _tool("memory_recall", "Recall what I remember about something.", RecallArgs, recall, "recall know remember"),
        _tool("memory_forget", "Forget a memory by id.", MemoryIdArgs, forget, "forget", writes=True),
        _tool("assistant_next_actions", "What to do next, with reasons.", ActionsArgs, next_actions, "suggest next"),
    ):
        registry.add(tool)
    return registry
