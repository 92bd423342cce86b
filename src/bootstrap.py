"""The composition root: builds every adapter for the configured PORTS_MODE and wires the services.

Both hosts, the CLI and the tests call :func:`bootstrap`; nothing else constructs adapters.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, NamedTuple

from attrs import define, field

from townsquare.core.assistant import ActionService, ChatService, ContextCompiler, MemoryService
from townsquare.core.clock import Clock, ManualClock, SystemClock
from townsquare.core.composer import ComposerService, EntitySearchService, MediaService
from townsquare.core.composer.jobs import register_composer_jobs
from townsquare.core.cursor import CursorCodec
from townsquare.core.earnings.jobs import register_earnings_jobs
from townsquare.core.earnings.service import EarningsService
from townsquare.core.events import EventService
from townsquare.core.events.jobs import register_events_jobs
from townsquare.core.events.waitlist import WaitlistService
from townsquare.core.feed import FeedService
from townsquare.core.identity import Actor
from townsquare.core.ids import IdSource, RandomIds, SeededIds
from townsquare.core.insights import InsightsService
from townsquare.core.jobs import JobHandlers, JobService, LeasePolicy, register_builtin_jobs
from townsquare.core.notifications import NotificationService
from townsquare.core.notifications.jobs import register_notifications_jobs
from townsquare.core.reports import ReportService
from townsquare.core.reports.jobs import register_reports_jobs
from townsquare.core.uow import UnitOfWork
from townsquare.settings import Settings

if TYPE_CHECKING:
    from townsquare.adapters.memory.database import MemoryDatabase
    from townsquare.adapters.memory.earnings import MemoryEarningsLedger
    from townsquare.adapters.memory.feed import MemoryFeedStore
    from townsquare.adapters.postgres.database import PgDatabase
    from townsquare.core.assistant.ports import ChatModel, Embedder
    from townsquare.core.composer.ports import MediaStore
    from townsquare.core.earnings.ports import EarningsLedger
    from townsquare.core.events.ports import EventStore, WaitlistStore
    from townsquare.core.notifications.ports import MailSender
    from townsquare.core.reports.ports import BulkActionStore, ReportRenderer, ReportStore

ReadinessCheck = Callable[[], None]


@define
class AssistantServices:
    """The assistant's services (docs/assistant.md).

    Attributes:
        memory: remember, recall, update, forget, history.
        context: the compiled, cached context of a user.
        actions: next-best actions and their feedback.
        chat: conversations and streamed turns with tools.
    """

    memory: MemoryService
    context: ContextCompiler
    actions: ActionService
    chat: ChatService


@define
class Services:
    """The wired application: what hosts and library users call.

    Attributes:
        settings: the settings it was built from.
        clock: the time source every rule uses.
        uow: opens transactions around store calls.
        cursors: signs and verifies page cursors.
        feed: the fused home feed and its inputs (items, follows, hidden items, carts).
        earnings: the earnings ledger: events, summaries, timeline, tiers, recompute.
        insights: missed opportunities and what-if projections over the ledger and carts.
        jobs: the durable job queue (enqueue joins the caller's transaction).
        job_handlers: the job handler registry and periodic schedules.
        notifications: sending under preferences, the inbox lanes, digests and the mail outbox.
        composer: drafts, previews, publishing into the feed now or on a schedule.
        entity_search: the composer's picker: creators, products and events, ranked.
        media: uploads for drafts (images checked by content, stripped of metadata).
        events: producers' events, ticket types, registrations (holds, tickets, refunds).
        waitlist: the lines for sold-out ticket types, their offers and approvals.
        reports: producers' stats, reconciliation lists, bulk refunds and cancellations, exports.
        readiness: named checks that raise when a dependency is unreachable.
    """

    settings: Settings
    clock: Clock
    uow: UnitOfWork
    cursors: CursorCodec
    feed: FeedService
    jobs: JobService
    job_handlers: JobHandlers
    earnings: EarningsService
    insights: InsightsService
    notifications: NotificationService
    composer: ComposerService
    entity_search: EntitySearchService
    media: MediaService
    events: EventService
    waitlist: WaitlistService
    reports: ReportService
    readiness: dict[str, ReadinessCheck] = field(factory=dict)
    _reset: Callable[[], None] | None = None
    _closers: list[Callable[[], None]] = field(factory=list)
    _assistant: AssistantServices | None = None

    @property
    def assistant(self) -> AssistantServices:
        """The assistant (wired by :func:`bootstrap`)."""
        if self._assistant is None:
            raise RuntimeError("the assistant is wired by bootstrap()")
        return self._assistant

    @property
    def manual_clock(self) -> ManualClock | None:
        """The clock, when it is one tests (and mock mode's routes) may move."""
        return self.clock if isinstance(self.clock, ManualClock) else None

    @property
    def can_reset(self) -> bool:
        return self._reset is not None

    def reset(self) -> None:
        """Empty every store (memory mode only).

        Raises:
            RuntimeError: in Postgres mode, where wiping data is never an API operation.
        """
        if self._reset is None:
            raise RuntimeError("reset is only available in memory mode")
        self._reset()

    def close(self) -> None:
        """Release pools and connections, newest first."""
        while self._closers:
            self._closers.pop()()


def bootstrap(settings: Settings, *, clock: Clock | None = None) -> Services:
    """Build the services for ``settings.ports_mode``.

    Args:
        settings: the settings, read once by the caller.
        clock: overrides the clock (tests pass a :class:`ManualClock`).
    """
    if clock is None:
        clock = ManualClock(settings.frozen_clock) if settings.frozen_clock else SystemClock()
    cursors = CursorCodec(settings.cursor_key, clock)
    services = (
        _bootstrap_memory(settings, clock, cursors)
        if settings.is_memory
        else _bootstrap_postgres(settings, clock, cursors)
    )
    if settings.broker_url:
        from townsquare.adapters.broker import broker_ping

        url = settings.broker_url
        services.readiness["broker"] = lambda: broker_ping(url)
    register_builtin_jobs(services.job_handlers, services.jobs)
    register_notifications_jobs(services.job_handlers, services.notifications)
    register_earnings_jobs(services.job_handlers, services.earnings)
    _wire_assistant(settings, services)
    register_composer_jobs(services.job_handlers, services.composer, services.media)
    register_events_jobs(services.job_handlers, services.events, services.waitlist)
    register_reports_jobs(services.job_handlers, services.reports)
    return services


def _wire_assistant(settings: Settings, services: Services) -> None:
    """Build the assistant over the other services (its tools and sources are their operations)."""
    from townsquare.adapters.assistant import (
        CattrsArgumentParser,
        CattrsContextCodec,
        ProcessContextCache,
        RedisContextCache,
    )
    from townsquare.core.assistant.actions import (
        CartCandidates,
        DraftCandidates,
        EarningsCandidates,
        NotificationCandidates,
        WaitlistCandidates,
    )
    from townsquare.core.assistant.catalog import project_tools
    from townsquare.core.assistant.context import (
        CartSource,
        DraftsSource,
        EarningsSource,
        MemorySource,
        NotificationsSource,
        RegistrationsSource,
    )
    from townsquare.core.assistant.jobs import register_assistant_jobs
    from townsquare.core.assistant.ports import ActionFeedbackStore, ContextCache, ConversationStore, MemoryStore

    memories: MemoryStore
    memory_db: MemoryDatabase | None = None
    ids: IdSource
    conversations: ConversationStore
    feedback: ActionFeedbackStore
    if settings.is_memory:
        from townsquare.adapters.memory.assistant import (
            MemoryActionFeedbackStore,
            MemoryConversationStore,
            MemoryUserMemoryStore,
        )
        from townsquare.adapters.memory.database import MemoryDatabase

        assert isinstance(services.uow, MemoryDatabase)
        memory_db = services.uow
        # Mock mode repeats exactly: the assistant's ids come from a sequence of its own (so
        # they do not shift the other areas'), started again by reset.
        seeded = SeededIds(seed=19)
        services.uow.on_reset(seeded.reset)
        ids = seeded
        memories = MemoryUserMemoryStore(services.uow)
        conversations = MemoryConversationStore(services.uow)
        feedback = MemoryActionFeedbackStore(services.uow)
    else:
        from townsquare.adapters.postgres.assistant import (
            PgActionFeedbackStore,
            PgConversationStore,
            PgUserMemoryStore,
        )
        from townsquare.adapters.postgres.database import PgDatabase

        assert isinstance(services.uow, PgDatabase)
        ids = RandomIds()
        memories = PgUserMemoryStore(services.uow)
        conversations = PgConversationStore(services.uow)
        feedback = PgActionFeedbackStore(services.uow)
    embedder, chat_model, close_models = _assistant_models(settings)
    services._closers.append(close_models)
    cache: ContextCache
    if settings.redis_url:
        redis_cache = RedisContextCache(settings.redis_url)
        services._closers.append(redis_cache.close)
        cache = redis_cache
    else:
        cache = ProcessContextCache()
    uow, clock, cursors = services.uow, services.clock, services.cursors
    memory = MemoryService(memories, embedder, uow, clock, cursors, ids=ids)
    context = ContextCompiler(
        [
            EarningsSource(services.earnings),
            NotificationsSource(services.notifications),
            CartSource(services.feed),
            DraftsSource(services.composer),
            RegistrationsSource(services.events),
            MemorySource(memory),
        ],
        cache,
        CattrsContextCodec(),
        clock,
        uow,
    )
    actions = ActionService(
        [
            EarningsCandidates(services.earnings),
            CartCandidates(services.feed),
            DraftCandidates(services.composer),
            NotificationCandidates(services.notifications),
            WaitlistCandidates(services.waitlist),
        ],
        feedback,
        uow,
        clock,
    )
    tools = project_tools(
        CattrsArgumentParser(),
        feed=services.feed,
        notifications=services.notifications,
        earnings=services.earnings,
        insights=services.insights,
        composer=services.composer,
        events=services.events,
        waitlist=services.waitlist,
        reports=services.reports,
        memory=memory,
        actions=actions,
        now=services.clock.now,
    )
    chat = ChatService(
        conversations,
        chat_model,
        tools,
        memory=memory,
        context=context,
        uow=uow,
        clock=clock,
        cursors=cursors,
        turns_per_minute=settings.assistant_turns_per_minute,
        ids=ids,
    )
    if memory_db is not None:
        # Reset starts memory versions again from 0: what was cached by version must go too.
        memory_db.on_reset(memory.forget_cached)
        if isinstance(cache, ProcessContextCache):
            memory_db.on_reset(cache.clear)
    services._assistant = AssistantServices(memory=memory, context=context, actions=actions, chat=chat)
    register_assistant_jobs(services.job_handlers, memory)


def _assistant_models(settings: Settings) -> tuple[Embedder, ChatModel, Callable[[], None]]:
    """The OpenAI-compatible models when ASSISTANT_MODEL_URL is set, else the deterministic local ones."""
    if not settings.assistant_model_url:
        from townsquare.adapters.models.local import HashedNgramEmbedder, ScriptedChatModel

        return HashedNgramEmbedder(), ScriptedChatModel(), lambda: None
    from townsquare.adapters.models.openai import OpenAIChatModel, OpenAIEmbedder, make_client

    client = make_client(
        settings.assistant_model_url,
        settings.assistant_model_key,
        connect_timeout=min(5.0, settings.assistant_model_timeout),
        read_timeout=settings.assistant_model_timeout,
    )
    return (
        OpenAIEmbedder(client, settings.assistant_embedding_model),
        OpenAIChatModel(client, settings.assistant_chat_model),
        client.close,
    )


def _bootstrap_memory(settings: Settings, clock: Clock, cursors: CursorCodec) -> Services:
    from townsquare.adapters.memory.database import MemoryDatabase
    from townsquare.adapters.memory.earnings import MemoryEarningsLedger
    from townsquare.adapters.memory.feed import MemoryFeedStore
    from townsquare.adapters.memory.job_wakeups import MemoryJobWakeups
    from townsquare.adapters.memory.jobs import MemoryJobStore

    db = MemoryDatabase()
    ids = _mock_mode_repeatable(db, clock)
    job_handlers = JobHandlers()
    jobs = JobService(
        uow=db,
        store=MemoryJobStore(db),
        wakeups=MemoryJobWakeups(),
        clock=clock,
        handlers=job_handlers,
        cursors=cursors,
        lease=_lease(settings),
        trace_parent=_trace_parent(settings),
    )
    feed_store = MemoryFeedStore(db)
    feed = FeedService(feed_store, db, clock, cursors)
    ledger = MemoryEarningsLedger(db)
    earnings = EarningsService(ledger, db, clock, cursors)
    media = _memory_media(settings, db, clock, jobs)
    notifications = _memory_notifications(settings, db, clock, cursors, jobs, ids=ids)
    events, waitlist, reports = _memory_events(
        db, clock, cursors, ledger=ledger, feed=feed, jobs=jobs, notifications=notifications, ids=ids
    )
    return Services(
        settings=settings,
        clock=clock,
        uow=db,
        cursors=cursors,
        feed=feed,
        jobs=jobs,
        job_handlers=job_handlers,
        earnings=earnings,
        insights=InsightsService(earnings, feed_store, db, clock),
        notifications=notifications,
        composer=_memory_composer(db, clock, cursors, feed, jobs, ids=ids, media=media),
        media=media,
        entity_search=_memory_entity_search(db, feed_store),
        events=events,
        waitlist=waitlist,
        reports=reports,
        reset=db.reset,
    )


def _mock_mode_repeatable(db: MemoryDatabase, clock: Clock) -> SeededIds:
    """Ids from a seeded sequence, and a reset that also puts a manual clock back to its start.

    With both, the same requests after a reset give the same ids and bodies on every run.
    """
    ids = SeededIds()
    db.on_reset(ids.reset)
    if isinstance(clock, ManualClock):
        db.on_reset(clock.reset)
    return ids


def _bootstrap_postgres(settings: Settings, clock: Clock, cursors: CursorCodec) -> Services:
    from townsquare.adapters.postgres.database import PgDatabase
    from townsquare.adapters.postgres.earnings import PgEarningsLedger
    from townsquare.adapters.postgres.engine import create_database_engine
    from townsquare.adapters.postgres.feed import PgFeedStore
    from townsquare.adapters.postgres.job_wakeups import PgJobWakeups
    from townsquare.adapters.postgres.jobs import PgJobStore

    db = PgDatabase(create_database_engine(settings.database_url, pool_size=settings.database_pool_size))
    job_handlers = JobHandlers()
    wakeups = PgJobWakeups(db)
    jobs = JobService(
        uow=db,
        store=PgJobStore(db),
        wakeups=wakeups,
        clock=clock,
        handlers=job_handlers,
        cursors=cursors,
        lease=_lease(settings),
        trace_parent=_trace_parent(settings),
    )
    notifications, close_notifications = _postgres_notifications(settings, db, clock, cursors, jobs)
    feed_store = PgFeedStore(db)
    feed = FeedService(feed_store, db, clock, cursors)
    ledger = PgEarningsLedger(db)
    earnings = EarningsService(ledger, db, clock, cursors)
    media = _postgres_media(settings, db, clock, jobs)
    events, waitlist, reports = _postgres_events(
        db, clock, cursors, ledger=ledger, feed=feed, jobs=jobs, notifications=notifications
    )
    return Services(
        settings=settings,
        clock=clock,
        uow=db,
        cursors=cursors,
        feed=feed,
        jobs=jobs,
        job_handlers=job_handlers,
        earnings=earnings,
        insights=InsightsService(earnings, feed_store, db, clock),
        notifications=notifications,
        composer=_postgres_composer(db, clock, cursors, feed, jobs, media=media),
        media=media,
        entity_search=_postgres_entity_search(db),
        events=events,
        waitlist=waitlist,
        reports=reports,
        readiness={"database": db.ping},
        closers=[db.dispose, wakeups.close, close_notifications],
    )


def _trace_parent(settings: Settings) -> Callable[[], str | None] | None:
    """What stores the enqueuer's trace context with each job: only when traces are on (an
    OTLP endpoint is set); otherwise jobs carry none and enqueue never asks."""
    if not settings.otlp_endpoint:
        return None
    from townsquare.adapters.trace_context import current_trace_parent

    return current_trace_parent


def _lease(settings: Settings) -> LeasePolicy:
    return LeasePolicy(
        duration=timedelta(seconds=settings.job_lease_seconds),
        worker_timeout=timedelta(seconds=settings.job_worker_timeout_seconds),
    )


def _memory_composer(
    db: MemoryDatabase,
    clock: Clock,
    cursors: CursorCodec,
    feed: FeedService,
    jobs: JobService,
    *,
    ids: SeededIds,
    media: MediaService,
) -> ComposerService:
    from townsquare.adapters.memory.composer import MemoryDraftStore

    drafts = MemoryDraftStore(db)
    return ComposerService(
        drafts=drafts, feed=feed, jobs=jobs, uow=db, clock=clock, cursors=cursors, ids=ids, media=media
    )


def _postgres_composer(
    db: PgDatabase, clock: Clock, cursors: CursorCodec, feed: FeedService, jobs: JobService, *, media: MediaService
) -> ComposerService:
    from townsquare.adapters.postgres.composer import PgDraftStore

    drafts = PgDraftStore(db)
    return ComposerService(drafts=drafts, feed=feed, jobs=jobs, uow=db, clock=clock, cursors=cursors, media=media)


def _memory_events(
    db: MemoryDatabase,
    clock: Clock,
    cursors: CursorCodec,
    *,
    ledger: MemoryEarningsLedger,
    feed: FeedService,
    jobs: JobService,
    notifications: NotificationService,
    ids: SeededIds,
) -> tuple[EventService, WaitlistService, ReportService]:
    from townsquare.adapters.memory.events import MemoryEventStore, MemoryWaitlistStore
    from townsquare.adapters.memory.reports import MemoryBulkActionStore, MemoryReportStore

    waitlist = MemoryWaitlistStore(db)
    store = MemoryEventStore(db, waitlist)
    stores = _EventStores(store, waitlist, MemoryReportStore(store, ledger), MemoryBulkActionStore(db))
    return _events(
        stores, db, clock, cursors, ledger=ledger, feed=feed, jobs=jobs, notifications=notifications, ids=ids
    )


def _postgres_events(
    db: PgDatabase,
    clock: Clock,
    cursors: CursorCodec,
    *,
    ledger: EarningsLedger,
    feed: FeedService,
    jobs: JobService,
    notifications: NotificationService,
) -> tuple[EventService, WaitlistService, ReportService]:
    from townsquare.adapters.postgres.events import PgEventStore, PgWaitlistStore
    from townsquare.adapters.postgres.reports import PgBulkActionStore, PgReportStore

    stores = _EventStores(PgEventStore(db), PgWaitlistStore(db), PgReportStore(db), PgBulkActionStore(db))
    return _events(stores, db, clock, cursors, ledger=ledger, feed=feed, jobs=jobs, notifications=notifications)


class _EventStores(NamedTuple):
    """The stores of events, waitlists and reports in one mode (all that differs between the modes)."""

    events: EventStore
    waitlist: WaitlistStore
    reports: ReportStore
    bulk: BulkActionStore


def _events(
    stores: _EventStores,
    uow: UnitOfWork,
    clock: Clock,
    cursors: CursorCodec,
    *,
    ledger: EarningsLedger,
    feed: FeedService,
    jobs: JobService,
    notifications: NotificationService,
    ids: IdSource | None = None,
) -> tuple[EventService, WaitlistService, ReportService]:
    """The events, waitlist and reports services over ``stores``, the same in both modes."""
    events = EventService(
        events=stores.events,
        waitlist=stores.waitlist,
        ledger=ledger,
        feed=feed,
        jobs=jobs,
        uow=uow,
        clock=clock,
        cursors=cursors,
        ids=ids,
    )
    lines = WaitlistService(
        events=stores.events,
        waitlist=stores.waitlist,
        jobs=jobs,
        notifications=notifications,
        uow=uow,
        clock=clock,
        cursors=cursors,
    )
    reports = ReportService(
        reports=stores.reports,
        bulk=stores.bulk,
        event_store=stores.events,
        events=events,
        jobs=jobs,
        uow=uow,
        clock=clock,
        cursors=cursors,
        preferred_zone=_preferred_zone(notifications),
        waitlist=stores.waitlist,
        renderer=_report_renderer(),
    )
    return events, lines, reports


def _report_renderer() -> ReportRenderer:
    from townsquare.adapters.pdf import FpdfReportRenderer

    return FpdfReportRenderer()


def _preferred_zone(notifications: NotificationService) -> Callable[[str], str]:
    """A user's time zone as their notification preferences name it (UTC by default)."""

    def preferred(user_id: str) -> str:
        return notifications.preferences(Actor(user_id)).timezone

    return preferred


def _media_store(settings: Settings, db: MemoryDatabase | None) -> MediaStore:
    if settings.media_path:
        from townsquare.adapters.media.local import LocalMediaStore

        return LocalMediaStore(settings.media_path)
    from townsquare.adapters.memory.composer import MemoryMediaStore
    from townsquare.adapters.memory.database import MemoryDatabase

    if db is None:
        # Postgres mode is production-like: say loudly that uploads live in this process only.
        logging.getLogger("townsquare.composer").warning(
            "MEDIA_PATH is not set: uploaded media is kept in this process's memory, not stored"
        )
    return MemoryMediaStore(db if db is not None else MemoryDatabase())


def _memory_media(settings: Settings, db: MemoryDatabase, clock: Clock, jobs: JobService) -> MediaService:
    from townsquare.adapters.memory.composer import MemoryMediaRecords

    return MediaService(_media_store(settings, db), MemoryMediaRecords(db), jobs, db, clock)


def _postgres_media(settings: Settings, db: PgDatabase, clock: Clock, jobs: JobService) -> MediaService:
    from townsquare.adapters.postgres.composer import PgMediaRecords

    return MediaService(_media_store(settings, None), PgMediaRecords(db), jobs, db, clock)


def _memory_entity_search(db: MemoryDatabase, feed_store: MemoryFeedStore) -> EntitySearchService:
    from townsquare.adapters.memory.composer import MemoryEntityIndex

    return EntitySearchService(MemoryEntityIndex(db, feed_store), db)


def _postgres_entity_search(db: PgDatabase) -> EntitySearchService:
    from townsquare.adapters.postgres.composer import PgEntityIndex

    return EntitySearchService(PgEntityIndex(db), db)


def _mail_sender(settings: Settings) -> MailSender:
    if settings.smtp_url:
        from townsquare.adapters.mail.smtp import SmtpMailSender

        return SmtpMailSender.from_url(settings.smtp_url, sender=settings.mail_from)
    from townsquare.adapters.memory.mail import RecordingMailSender

    return RecordingMailSender()


def _memory_notifications(
    settings: Settings, db: MemoryDatabase, clock: Clock, cursors: CursorCodec, jobs: JobService, *, ids: IdSource
) -> NotificationService:
    from townsquare.adapters.memory.mail import RecordingMailSender
    from townsquare.adapters.memory.notifications import (
        MemoryDigestStore,
        MemoryMailOutbox,
        MemoryNotificationEvents,
        MemoryNotificationStore,
        MemoryPreferenceStore,
    )

    preferences = MemoryPreferenceStore(db)
    outbox = MemoryMailOutbox(db)
    mailer = _mail_sender(settings)
    if isinstance(mailer, RecordingMailSender):
        db.on_reset(mailer.clear)  # mock mode's reset forgets the recorded mail too
    return NotificationService(
        uow=db,
        clock=clock,
        cursors=cursors,
        notifications=MemoryNotificationStore(db, preferences, outbox),
        preferences=preferences,
        digest_runs=MemoryDigestStore(db, preferences, ids),
        outbox=outbox,
        mailer=mailer,
        events=MemoryNotificationEvents(),
        jobs=jobs,
        ids=ids,
    )


def _postgres_notifications(
    settings: Settings, db: PgDatabase, clock: Clock, cursors: CursorCodec, jobs: JobService
) -> tuple[NotificationService, Callable[[], None]]:
    from townsquare.adapters.postgres.notifications import (
        PgDigestStore,
        PgMailOutbox,
        PgNotificationEvents,
        PgNotificationStore,
        PgPreferenceStore,
    )

    if not settings.smtp_url:
        # Postgres mode is production-like: say loudly that outbox mail is only recorded.
        logging.getLogger("townsquare.notifications").warning(
            "SMTP_URL is not set: notification mail is recorded in this process, not delivered"
        )
    events = PgNotificationEvents.for_engine(db, db.engine)
    service = NotificationService(
        uow=db,
        clock=clock,
        cursors=cursors,
        notifications=PgNotificationStore(db),
        preferences=PgPreferenceStore(db),
        digest_runs=PgDigestStore(db),
        outbox=PgMailOutbox(db),
        mailer=_mail_sender(settings),
        events=events,
        jobs=jobs,
    )
    return service, events.close
