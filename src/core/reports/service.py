"""The reports service: a producer's stats, reconciliation lists, bulk refunds and cancellations.

Reads run as the actor (row-level security shows a producer their registrations and their
ledger); who may see what is checked here first. Bulk actions are made and worked on as the
system after the check, through the events service's own refund and cancel.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from townsquare.core.clock import Clock
from townsquare.core.composer.timing import zone
from townsquare.core.cursor import CursorCodec
from townsquare.core.earnings.models import check_idempotency_key, check_reason
from townsquare.core.errors import Conflict, DomainError, Forbidden, InvalidCursor, InvalidInput, NotFound
from townsquare.core.events.discounts import normalize_code
from townsquare.core.events.models import Event, Registration, RegistrationPage, RegistrationStatus, check_id
from townsquare.core.events.ports import EventStore
from townsquare.core.events.service import EventService
from townsquare.core.identity import Actor, check_user_id
from townsquare.core.jobs import JobService
from townsquare.core.reports.bulk import (
    MAX_ITEMS,
    BulkAction,
    BulkKind,
    BulkPreview,
    BulkProgress,
    BulkReport,
    parts,
    preview,
)
from townsquare.core.reports.export import (
    FINANCIAL_HEADER,
    REGISTRATION_HEADER,
    Cell,
    csv_text,
    export_position,
    financial_row,
    registrations_csv,
)
from townsquare.core.reports.models import (
    MAX_DAYS,
    CapacityUse,
    DayRange,
    ProducerStats,
    RegistrationFilter,
    fold,
    local_day,
    make_range,
)
from townsquare.core.reports.ports import BulkActionStore, ReportRenderer, ReportStore, WaitlistDemand
from townsquare.core.uow import UnitOfWork

DEFAULT_LIMIT = 50
MAX_LIMIT = 100
DEFAULT_DAYS = 30
"""The days a producer's stats cover when no range is given (ending today)."""
BULK_ACTION = "reports.bulk_action"
"""The job that works through a bulk action's items (one per action)."""
FAILURES_SHOWN = 100
EXPORT_PAGE = 1_000
"""Registrations read per page (one transaction each) by an export."""
_ACTION_NAMESPACE = uuid.UUID("5d0c2f9a-7b1e-5e43-8a6d-2f4c9b1e7a30")


class _ItemFailed(Exception):
    """Rolls back one item's transaction; the failure is recorded in a transaction of its own."""

    def __init__(self, error: DomainError) -> None:
        super().__init__(error.detail)
        self.error = error


class ReportService:
    """Producer stats, reconciliation, bulk actions over the events and earnings stores.

    Who may do what: a producer sees and acts on the registrations of their own events; an
    admin sees everyone's (the admin variants) and may act for any one producer.

    Args:
        reports: the read-only report queries.
        bulk: bulk actions and their items.
        event_store: events and their ticket types (read only, for the event's owner and seats).
        events: the events service, whose refund and cancel each bulk item calls.
        jobs: queues a bulk action's job in the transaction that makes it.
        uow: opens the transaction of each operation.
        clock: "now" for statuses and default ranges.
        cursors: signs list cursors.
        preferred_zone: a user's time zone (their preferences), when a request names none.
        waitlist: people waiting per ticket type, once the waitlist exists.
        renderer: renders the financial report as a PDF.
    """

    def __init__(
        self,
        *,
        reports: ReportStore,
        bulk: BulkActionStore,
        event_store: EventStore,
        events: EventService,
        jobs: JobService,
        uow: UnitOfWork,
        clock: Clock,
        cursors: CursorCodec,
        preferred_zone: Callable[[str], str] | None = None,
        waitlist: WaitlistDemand | None = None,
        renderer: ReportRenderer | None = None,
    ) -> None:
        self._reports = reports
        self._bulk = bulk
        self._event_store = event_store
        self._events = events
        self._jobs = jobs
        self._uow = uow
        self._clock = clock
        self._cursors = cursors
        self._preferred_zone = preferred_zone
        self._waitlist = waitlist
        self._renderer = renderer

    # -- stats ---------------------------------------------------------------------------

    def event_stats(
        self,
        actor: Actor,
        event_id: str,
        *,
        first_day: date | None = None,
        last_day: date | None = None,
        time_zone: str | None = None,
    ) -> ProducerStats:
        """One event's stats over a range of days (default: its first day to today, at most 366).

        The days are taken in ``time_zone``, by default the event's own.

        Raises:
            NotFound: no such event of the actor's (another producer's event is not found).
            InvalidInput: an unknown zone, a range ending before it starts or over 366 days.
        """
        event = self._own_event(actor, event_id)
        zone_name = time_zone if time_zone is not None else event.details.time_zone
        days = self._range(zone_name, first_day, last_day, earliest=event.created_at)
        now = self._clock.now()
        where = RegistrationFilter(producer_id=event.producer_id, event_id=event_id, since=days.start, until=days.end)
        with self._uow.transaction(actor=actor.acting_as()):
            rows = self._reports.figures(where, days.boundaries, now)
            types = self._event_store.ticket_types(event_id)
            held = self._event_store.held_seats(event_id, now)
            waiting = None if self._waitlist is None else self._waitlist.waiting_counts(event_id)
        by_status, tickets, money, series = fold(days, rows)
        capacity = tuple(
            CapacityUse(type_id=each.type_id, name=each.name, quota=each.quota, held=held.get(each.type_id, 0))
            for each in types
        )
        return ProducerStats(
            producer_id=event.producer_id,
            event_id=event_id,
            range=days,
            registrations=by_status,
            tickets=tickets,
            money=money,
            days=series,
            capacity=capacity,
            waitlist_demand=None if waiting is None else {each.type_id: waiting.get(each.type_id, 0) for each in types},
        )

    def producer_stats(
        self,
        actor: Actor,
        *,
        first_day: date | None = None,
        last_day: date | None = None,
        time_zone: str | None = None,
        producer_id: str | None = None,
    ) -> ProducerStats:
        """Stats over every event of a producer (default: the actor) for a range of days.

        The range defaults to the last 30 days ending today; the zone to the producer's
        preferred one (their notification preferences), else UTC.

        Raises:
            Forbidden: another producer's stats, and the actor is not an admin (``producer_id``).
            InvalidInput: an unknown zone, a range ending before it starts or over 366 days.
        """
        producer = self._producer(actor, producer_id)
        zone_name = time_zone if time_zone is not None else self._zone_of(producer)
        days = self._range(zone_name, first_day, last_day, earliest=None)
        where = RegistrationFilter(producer_id=producer, since=days.start, until=days.end)
        with self._uow.transaction(actor=actor.acting_as()):
            rows = self._reports.figures(where, days.boundaries, self._clock.now())
        by_status, tickets, money, series = fold(days, rows)
        return ProducerStats(
            producer_id=producer,
            event_id=None,
            range=days,
            registrations=by_status,
            tickets=tickets,
            money=money,
            days=series,
        )

    # -- reconciliation ------------------------------------------------------------------

    def registration_filter(
        self,
        actor: Actor,
        *,
        producer_id: str | None = None,
        event_id: str | None = None,
        status: str | None = None,
        type_id: str | None = None,
        code: str | None = None,
        first_day: date | None = None,
        last_day: date | None = None,
        time_zone: str | None = None,
        every_producer: bool = False,
    ) -> RegistrationFilter:
        """Check a client's filter and bind it to whose registrations the actor may see.

        ``every_producer`` (admins only) leaves the producer open when none is named. A date
        range needs both ends; its days are taken in ``time_zone`` (default: the actor's
        preferred zone).

        Raises:
            Forbidden: another producer's, or every producer's, and the actor is not an admin.
            NotFound: ``event_id`` is not an event of the producer's.
            InvalidInput: naming the field at fault.
        """
        if every_producer:
            actor.require_admin()
            producer = None if producer_id is None else check_user_id(producer_id, "producer_id")
        else:
            producer = self._producer(actor, producer_id)
        since = until = None
        if first_day is not None or last_day is not None:
            if first_day is None or last_day is None:
                missing = "from" if first_day is None else "to"
                raise InvalidInput("a date range needs both 'from' and 'to'", field=missing)
            days = make_range(
                time_zone=time_zone if time_zone is not None else self._zone_of(actor.user_id),
                first_day=first_day,
                last_day=last_day,
            )
            since, until = days.start, days.end
        elif time_zone is not None:
            zone(time_zone)
        if event_id is not None:
            event = self._own_event(actor, check_id(event_id, "event_id"))
            if producer is not None and event.producer_id != producer:
                raise NotFound(f"no event {event_id!r} of producer {producer!r}", field="event_id")
        return RegistrationFilter(
            producer_id=producer,
            event_id=event_id,
            status=None if status is None else _status(status),
            type_id=None if type_id is None else check_id(type_id, "type_id"),
            code=None if code is None else normalize_code(code),
            since=since,
            until=until,
        )

    def registrations(
        self, actor: Actor, where: RegistrationFilter, *, cursor: str | None = None, limit: int = DEFAULT_LIMIT
    ) -> RegistrationPage:
        """The registrations passing ``where`` (from :meth:`registration_filter`), newest first, a page at a time.

        Raises:
            Forbidden: ``where`` covers registrations the actor may not see.
            InvalidInput: a limit out of 1..100.
            InvalidCursor: a malformed, tampered, expired or foreign cursor (or one of other filters).
        """
        self._check_may_see(actor, where)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise InvalidInput(f"limit must be an integer from 1 to {MAX_LIMIT}", field="limit")
        scope = f"reports:registrations:{actor.user_id}:{where.fingerprint}"
        after = None if cursor is None else _position(self._cursors.decode(scope, cursor))
        with self._uow.transaction(actor=actor.acting_as()):
            rows = self._reports.registrations(where, self._clock.now(), after=after, limit=limit + 1)
        if len(rows) <= limit:
            return RegistrationPage(tuple(rows), None)
        last = rows[limit - 1]
        next_cursor = self._cursors.encode(scope, {"c": last.created_at.isoformat(), "i": last.registration_id})
        return RegistrationPage(tuple(rows[:limit]), next_cursor)

    # -- exports -------------------------------------------------------------------------

    def export_registrations(self, actor: Actor, where: RegistrationFilter) -> Iterator[str]:
        """The registrations passing ``where`` as CSV text, a page at a time (constant memory).

        Checked before the first chunk; each page of :data:`EXPORT_PAGE` registrations is read
        in a transaction of its own by keyset (newest first), so registrations made after the
        export began are not in it and none appears twice. Statuses are as seen when it began.

        Raises:
            Forbidden: ``where`` covers registrations the actor may not see.
        """
        self._check_may_see(actor, where)
        now = self._clock.now()
        return self._registrations_csv(actor, where, now)

    def export_financials(
        self,
        actor: Actor,
        *,
        first_day: date | None = None,
        last_day: date | None = None,
        time_zone: str | None = None,
        event_id: str | None = None,
        producer_id: str | None = None,
    ) -> Iterator[str]:
        """Every ledger line of the registrations a report covers, as CSV text a page at a time.

        The same scope as :meth:`financial_report` (and the stats): the registrations made in
        the range of days; ``day`` is each registration's day in the zone, so the lines of a day
        add up to that day of the report, and all of them to its totals.

        Raises:
            NotFound, Forbidden, InvalidInput: as for the stats.
        """
        stats = self._report(
            actor,
            first_day=first_day,
            last_day=last_day,
            time_zone=time_zone,
            event_id=event_id,
            producer_id=producer_id,
        )
        where = RegistrationFilter(
            producer_id=stats.producer_id, event_id=event_id, since=stats.range.start, until=stats.range.end
        )
        zone_name = stats.range.time_zone

        def rows(page: list[Registration]) -> Iterator[tuple[Cell, ...]]:
            with self._uow.transaction(actor=actor.acting_as()):
                lines = self._reports.ledger_lines(page)
            return (financial_row(line, zone_name) for line in lines)

        return self._csv(actor, where, self._clock.now(), FINANCIAL_HEADER, rows)

    def financial_report(
        self,
        actor: Actor,
        *,
        first_day: date | None = None,
        last_day: date | None = None,
        time_zone: str | None = None,
        event_id: str | None = None,
        producer_id: str | None = None,
    ) -> bytes:
        """The financial report as a PDF: the stats' totals and a revenue-by-day chart.

        Its totals are the sums of :meth:`export_financials`' lines of the same arguments; the
        same figures give the same bytes.

        Raises:
            NotFound, Forbidden, InvalidInput: as for the stats.
        """
        if self._renderer is None:
            raise RuntimeError("no report renderer is wired")
        stats = self._report(
            actor,
            first_day=first_day,
            last_day=last_day,
            time_zone=time_zone,
            event_id=event_id,
            producer_id=producer_id,
        )
        what = f"event {stats.event_id}" if stats.event_id is not None else "all events"
        return self._renderer.financial_report(stats, title=f"Financial report: {stats.producer_id}, {what}")

    def _report(
        self,
        actor: Actor,
        *,
        first_day: date | None,
        last_day: date | None,
        time_zone: str | None,
        event_id: str | None,
        producer_id: str | None,
    ) -> ProducerStats:
        if event_id is not None:
            return self.event_stats(actor, event_id, first_day=first_day, last_day=last_day, time_zone=time_zone)
        return self.producer_stats(
            actor, first_day=first_day, last_day=last_day, time_zone=time_zone, producer_id=producer_id
        )

    def _csv(
        self,
        actor: Actor,
        where: RegistrationFilter,
        now: datetime,
        header: Sequence[str],
        rows: Callable[[list[Registration]], Iterable[Sequence[Cell]]],
    ) -> Iterator[str]:
        """CSV text streamed: ``header``, then the ``rows`` of each page of the registrations passing ``where``.

        Each page of :data:`EXPORT_PAGE` registrations is read in a transaction of its own by
        keyset (newest first, statuses as of ``now``), so memory stays constant, registrations
        made after the export began are not in it and none appears twice.
        """
        yield csv_text([header])
        after: tuple[datetime, str] | None = None
        while True:
            with self._uow.transaction(actor=actor.acting_as()):
                page = self._reports.registrations(where, now, after=after, limit=EXPORT_PAGE)
            if page:
                yield csv_text(rows(page))
            if len(page) < EXPORT_PAGE:
                return
            after = (page[-1].created_at, page[-1].registration_id)

    def _registrations_csv(self, actor: Actor, where: RegistrationFilter, now: datetime) -> Iterator[str]:
        """:meth:`_csv` of the registrations' own rows, read as plain export rows (no model per row)."""
        yield csv_text([REGISTRATION_HEADER])
        after: tuple[datetime, str] | None = None
        while True:
            with self._uow.transaction(actor=actor.acting_as()):
                page = self._reports.export_rows(where, now, after=after, limit=EXPORT_PAGE)
            if page:
                yield registrations_csv(page)
            if len(page) < EXPORT_PAGE:
                return
            after = export_position(page[-1])

    # -- bulk actions --------------------------------------------------------------------

    def preview_bulk(self, actor: Actor, kind: str, where: RegistrationFilter) -> BulkPreview:
        """A dry run: how many registrations a bulk action would take now and the exact sum it would refund.

        Raises:
            InvalidInput: an unknown kind (``kind``), or no filter beyond the producer (``filter``).
            Forbidden: ``where`` covers registrations the actor may not act on.
        """
        checked = self._check_bulk(actor, kind, where)
        with self._uow.transaction(actor=actor.acting_as()):
            candidates = self._reports.candidates(where, self._clock.now())
        return preview(checked, candidates)

    def start_bulk(
        self, actor: Actor, kind: str, where: RegistrationFilter, *, reason: str, idempotency_key: str
    ) -> BulkReport:
        """Make a bulk action and queue its job, in one transaction; making it again with the key returns it.

        The action takes the registrations its dry run would take now; the job refunds or
        cancels each once (see :mod:`townsquare.core.reports.bulk`).

        Raises:
            InvalidInput: an unknown kind, no filter, a bad reason or key, over 100,000 registrations.
            Forbidden: ``where`` covers registrations the actor may not act on.
            Conflict: the key already made another bulk action.
        """
        checked = self._check_bulk(actor, kind, where)
        checked_reason = check_reason(reason)
        key = check_idempotency_key(idempotency_key)
        assert where.producer_id is not None
        action_id = str(uuid.uuid5(_ACTION_NAMESPACE, f"{where.producer_id}\n{key}"))
        with self._uow.transaction():
            existing = self._bulk.get_action(action_id)
            if existing is not None:
                if (existing.kind, existing.where, existing.reason) != (checked, where, checked_reason):
                    raise Conflict(f"idempotency key {key!r} already made another bulk action", field="idempotency_key")
                return BulkReport(action=existing, progress=self._bulk.progress(action_id, failures=FAILURES_SHOWN))
            plan = preview(checked, self._reports.candidates(where, self._clock.now()))
            if plan.count > MAX_ITEMS:
                raise InvalidInput(
                    f"a bulk action takes at most {MAX_ITEMS:,} registrations; this filter matches {plan.count:,}",
                    field="filter",
                )
            # One job per range of items, so a worker's threads work an action in parallel
            # (items are claimed with SKIP LOCKED and refunded under idempotency keys, so even
            # two runners of one range are safe).
            job_ids = [
                self._jobs.enqueue(
                    BULK_ACTION,
                    {"action_id": action_id, "positions": [first, last]},
                    idempotency_key=f"{BULK_ACTION}:{action_id}:{first}-{last}",
                    max_attempts=10,
                )
                for first, last in parts(plan.count)
            ]
            job_id = job_ids[0]  # the first part's (the action records one)
            action = BulkAction(
                action_id=action_id,
                producer_id=where.producer_id,
                kind=checked,
                where=where,
                reason=checked_reason,
                total=plan.count,
                amounts=plan.amounts,
                job_id=job_id,
                created_at=self._clock.now(),
            )
            self._bulk.add_action(action, plan.registration_ids)
            return BulkReport(action=action, progress=BulkProgress(done=0, failed=0, pending=plan.count))

    def bulk_report(self, actor: Actor, action_id: str) -> BulkReport:
        """A bulk action and how far it got (done, failed with reasons, pending).

        Raises:
            NotFound: no such action of the actor's (admins see every one).
        """
        with self._uow.transaction():
            action = self._bulk.get_action(action_id)
            if action is None or not (actor.is_admin or action.producer_id == actor.user_id):
                raise NotFound(f"no bulk action {action_id!r} of yours", field="action_id")
            return BulkReport(action=action, progress=self._bulk.progress(action_id, failures=FAILURES_SHOWN))

    def run_bulk(
        self,
        action_id: str,
        *,
        positions: tuple[int, int] | None = None,
        heartbeat: Callable[[], None] = lambda: None,
    ) -> BulkProgress:
        """A bulk action's job: refund or cancel each pending item of its range, one transaction per item.

        ``positions`` is the job's range of items (None: every item). The action is finished
        by whichever job sees no pending item left once its own range is done: each job checks
        after its last commit, so the last one to commit sees every other's.

        An item is claimed (locked, so a second worker skips it), acted on through the events
        service and marked done in one transaction; a domain error rolls that back and marks
        the item failed with its reason, and the next item goes on. Each refund's idempotency
        key comes from the action, so a rerun (or an item redone after a crash) refunds nothing
        twice. Returns the progress when no item is left.
        """
        with self._uow.transaction():
            action = self._bulk.get_action(action_id)
        if action is None:
            raise NotFound(f"no bulk action {action_id!r}", field="action_id")
        producer = Actor(action.producer_id)
        while True:
            heartbeat()
            claimed: str | None = None
            try:
                with self._uow.transaction():
                    claimed = self._bulk.claim_item(action_id, positions)
                    if claimed is None:
                        break
                    try:
                        self._act(action, producer, claimed)
                    except DomainError as exc:
                        raise _ItemFailed(exc) from exc
                    self._bulk.finish_item(action_id, claimed, error=None, at=self._clock.now())
            except _ItemFailed as failed:
                assert claimed is not None
                with self._uow.transaction():
                    self._bulk.finish_item(action_id, claimed, error=failed.error.detail, at=self._clock.now())
        with self._uow.transaction():
            progress = self._bulk.progress(action_id, failures=FAILURES_SHOWN)
            if progress.pending == 0:
                self._bulk.finish_action(action_id, self._clock.now())
            return progress

    def _act(self, action: BulkAction, producer: Actor, registration_id: str) -> None:
        if action.kind is BulkKind.REFUND:
            self._events.refund(producer, registration_id, reason=action.reason, idempotency_key=action.refund_key)
        else:
            self._events.cancel(producer, registration_id)

    def _check_bulk(self, actor: Actor, kind: str, where: RegistrationFilter) -> BulkKind:
        try:
            checked = BulkKind(kind)
        except ValueError:
            known = ", ".join(each.value for each in BulkKind)
            raise InvalidInput(f"unknown bulk action {kind!r}; use one of {known}", field="kind") from None
        if where.producer_id is None:
            raise InvalidInput(
                "a bulk action acts on one producer's registrations: name producer_id", field="producer_id"
            )
        self._check_may_see(actor, where)
        if not where.narrowed:
            raise InvalidInput(
                "a bulk action needs a filter (event_id, status, type_id, code or a date range); "
                "one over every registration is refused",
                field="filter",
            )
        return checked

    # -- helpers -------------------------------------------------------------------------

    def _own_event(self, actor: Actor, event_id: str) -> Event:
        with self._uow.transaction(actor=actor.acting_as()):
            event = self._event_store.get_event(event_id)
        if event is None or not (actor.is_admin or event.producer_id == actor.user_id):
            raise NotFound(f"no event {event_id!r} of yours", field="event_id")
        return event

    def _producer(self, actor: Actor, producer_id: str | None) -> str:
        if producer_id is None or producer_id == actor.user_id:
            return actor.user_id
        checked = check_user_id(producer_id, "producer_id")
        if not actor.is_admin:
            raise Forbidden("you may only see your own events' figures (admins may see anyone's)", field="producer_id")
        return checked

    def _check_may_see(self, actor: Actor, where: RegistrationFilter) -> None:
        if not actor.is_admin and where.producer_id != actor.user_id:
            raise Forbidden("you may only see your own events' registrations", field="producer_id")

    def _zone_of(self, user_id: str) -> str:
        return self._preferred_zone(user_id) if self._preferred_zone is not None else "UTC"

    def _range(
        self, zone_name: str, first_day: date | None, last_day: date | None, *, earliest: datetime | None
    ) -> DayRange:
        zone(zone_name)  # checked before it is used to find today
        today = local_day(self._clock.now(), zone_name)
        last = last_day if last_day is not None else today
        if first_day is not None:
            first = first_day
        elif earliest is not None:
            first = max(local_day(earliest, zone_name), last - timedelta(days=MAX_DAYS - 1))
            first = min(first, last)
        else:
            first = last - timedelta(days=DEFAULT_DAYS - 1)
        return make_range(time_zone=zone_name, first_day=first, last_day=last)


def _status(value: str) -> RegistrationStatus:
    try:
        return RegistrationStatus(value)
    except ValueError:
        known = ", ".join(each.value for each in RegistrationStatus)
        raise InvalidInput(f"unknown status {value!r}; use one of {known}", field="status") from None


def _position(position: dict[str, Any]) -> tuple[datetime, str]:
    try:
        created, item_id = position["c"], position["i"]
        if not isinstance(created, str) or not isinstance(item_id, str):
            raise TypeError
        return datetime.fromisoformat(created), item_id
    except (KeyError, TypeError, ValueError):
        raise InvalidCursor("cursor body is malformed", field="cursor") from None


__all__ = ["BULK_ACTION", "DEFAULT_LIMIT", "MAX_LIMIT", "ReportService"]
