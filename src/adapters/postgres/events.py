"""The Postgres events store: named-parameter statements over ``events``, ``event_ticket_types``
``event_registrations`` (migration 0018) and ``event_waitlist`` (migration 0021).

What makes capacity exact is the event row's lock (``SELECT ... FOR UPDATE``): reservations
(in ``app.events_hold`` or a transaction), cancellations and refunds of an event take it first,
and the seats counted after it (one statement, one snapshot, read committed) include every
registration committed before the lock was granted. A confirmation changes no count and takes
only its registration's row: a count for a decision locks the lapsed holds it takes off, so a
confirmation of one of those waits for it and reads the clock after (migration 0036). Seats and a
code's uses are counters the triggers of migration 0032 keep (``event_ticket_types.held``,
``event_discount_codes.uses_held``) less the lapsed holds still marked reserved.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import text

from townsquare.adapters.postgres.database import PgDatabase
from townsquare.core.events.checkout import CheckoutContext, ConfirmLocks, HoldOutcome, HoldTerms
from townsquare.core.events.discounts import DiscountCode
from townsquare.core.events.models import Event, Registration, TicketType, WaitlistEntry, WaitlistStatus

_EVENT_COLUMNS = (
    "event_id, producer_id, title, description, starts_at, ends_at, time_zone, online, venue, "
    "sales_start, sales_end, capacity, currency, status, publications, created_at, updated_at, waitlist_mode, "
    "offer_hours"
)
_EVENT_VALUES = (
    ":event_id, :producer_id, :title, :description, :starts_at, :ends_at, :time_zone, :online, :venue, "
    ":sales_start, :sales_end, :capacity, :currency, :status, :publications, :created_at, :updated_at, "
    ":waitlist_mode, :offer_hours"
)
_ADD_EVENT = text(
    f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES ({_EVENT_VALUES}) ON CONFLICT (event_id) DO NOTHING "
    "RETURNING event_id"
)
_GET_EVENT = text(f"SELECT {_EVENT_COLUMNS} FROM events WHERE event_id = :event_id")
_LOCK_EVENT = text(f"SELECT {_EVENT_COLUMNS} FROM events WHERE event_id = :event_id FOR UPDATE")
_SAVE_EVENT = text(
    """
    UPDATE events SET title = :title, description = :description, starts_at = :starts_at, ends_at = :ends_at,
        time_zone = :time_zone, online = :online, venue = :venue, sales_start = :sales_start,
        sales_end = :sales_end, capacity = :capacity, currency = :currency, status = :status,
        publications = :publications, updated_at = :updated_at, waitlist_mode = :waitlist_mode,
        offer_hours = :offer_hours
    WHERE event_id = :event_id
    """
)
_EVENTS_FIRST = text(
    f"SELECT {_EVENT_COLUMNS} FROM events WHERE producer_id = :producer_id "
    "ORDER BY created_at DESC, event_id DESC LIMIT :limit"
)
_EVENTS_NEXT = text(
    f"SELECT {_EVENT_COLUMNS} FROM events WHERE producer_id = :producer_id "
    "AND (created_at, event_id) < (:created_at, :event_id) ORDER BY created_at DESC, event_id DESC LIMIT :limit"
)
_TYPE_COLUMNS = "event_id, type_id, name, price, quota, created_at"
_ADD_TYPE = text(
    """
    INSERT INTO event_ticket_types (event_id, type_id, producer_id, name, price, quota, created_at)
    SELECT :event_id, :type_id, producer_id, :name, :price, :quota, :created_at FROM events WHERE event_id = :event_id
    ON CONFLICT (event_id, type_id) DO NOTHING
    RETURNING type_id
    """
)
_SAVE_TYPE = text(
    "UPDATE event_ticket_types SET name = :name, price = :price, quota = :quota "
    "WHERE event_id = :event_id AND type_id = :type_id"
)
_TYPES = text(f"SELECT {_TYPE_COLUMNS} FROM event_ticket_types WHERE event_id = :event_id ORDER BY created_at, type_id")
# The counters (migration 0035) less the holds lapsed by now that they still count, in one
# statement (one snapshot). Lapsed holds come from event_registrations_reserved (reserved rows only).
_HELD = text(
    """
    SELECT t.type_id, (t.held - coalesce(l.lapsed, 0))::bigint AS held
    FROM event_ticket_types t
    LEFT JOIN (
        SELECT r.type_id, sum(r.quantity) AS lapsed FROM event_registrations r
        WHERE r.event_id = :event_id AND r.status = 'reserved' AND r.expires_at <= :now
        GROUP BY r.type_id
    ) l ON l.type_id = t.type_id
    WHERE t.event_id = :event_id AND t.held - coalesce(l.lapsed, 0) > 0
    """
)
# A count for a decision: first the lapsed holds it takes off, locked until the commit (key order),
# then the count in a new statement (a hold confirmed meanwhile is counted as held).
_LOCK_LAPSED = text(
    "SELECT 1 FROM event_registrations WHERE event_id = :event_id AND status = 'reserved' AND expires_at <= :now "
    "ORDER BY registration_id FOR SHARE"
)
_REG_COLUMNS = (
    "registration_id, event_id, type_id, attendee_id, producer_id, quantity, currency, unit_price, subtotal, "
    "discount, total, status, expires_at, refunded, reserve_key, confirm_key, earning_id, created_at, updated_at, "
    "discount_code"
)
REGISTRATION_COLUMNS = _REG_COLUMNS
"""The columns :meth:`Registration.from_row` reads (the reports adapter selects them too)."""
_ADD_REG = text(
    f"""
    INSERT INTO event_registrations ({_REG_COLUMNS})
    VALUES (:registration_id, :event_id, :type_id, :attendee_id, :producer_id, :quantity, :currency, :unit_price,
            :subtotal, :discount, :total, :status, :expires_at, :refunded, :reserve_key, :confirm_key, :earning_id,
            :created_at, :updated_at, :discount_code)
    ON CONFLICT (registration_id) DO NOTHING
    RETURNING registration_id
    """
)
# Many new registrations in one statement (waitlist offers): one array per column.
_ADD_REGS = text(
    f"""
    INSERT INTO event_registrations ({_REG_COLUMNS})
    SELECT * FROM unnest(
        CAST(:registration_id AS text[]), CAST(:event_id AS text[]), CAST(:type_id AS text[]),
        CAST(:attendee_id AS text[]), CAST(:producer_id AS text[]), CAST(:quantity AS integer[]),
        CAST(:currency AS text[]), CAST(:unit_price AS bigint[]), CAST(:subtotal AS bigint[]),
        CAST(:discount AS bigint[]), CAST(:total AS bigint[]), CAST(:status AS text[]),
        CAST(:expires_at AS timestamptz[]), CAST(:refunded AS bigint[]), CAST(:reserve_key AS text[]),
        CAST(:confirm_key AS text[]), CAST(:earning_id AS text[]), CAST(:created_at AS timestamptz[]),
        CAST(:updated_at AS timestamptz[]), CAST(:discount_code AS text[])
    )
    """
)
_GET_REG = text(f"SELECT {_REG_COLUMNS} FROM event_registrations WHERE registration_id = :registration_id")
_LOCK_REG = text(f"SELECT {_REG_COLUMNS} FROM event_registrations WHERE registration_id = :registration_id FOR UPDATE")
_SAVE_REG = text(
    """
    UPDATE event_registrations SET status = :status, expires_at = :expires_at, refunded = :refunded,
        confirm_key = :confirm_key, earning_id = :earning_id, updated_at = :updated_at
    WHERE registration_id = :registration_id
    """
)
_REGS_FIRST = text(
    f"SELECT {_REG_COLUMNS} FROM event_registrations WHERE attendee_id = :attendee_id "
    "ORDER BY created_at DESC, registration_id DESC LIMIT :limit"
)
_REGS_NEXT = text(
    f"SELECT {_REG_COLUMNS} FROM event_registrations WHERE attendee_id = :attendee_id "
    "AND (created_at, registration_id) < (:created_at, :registration_id) "
    "ORDER BY created_at DESC, registration_id DESC LIMIT :limit"
)
_TO_SETTLE = text(
    f"SELECT {_REG_COLUMNS} FROM event_registrations WHERE event_id = :event_id "
    "AND status IN ('reserved', 'confirmed') ORDER BY created_at, registration_id LIMIT :limit"
)
_LAPSED = text(
    f"SELECT {_REG_COLUMNS} FROM event_registrations WHERE status = 'reserved' AND expires_at <= :now "
    "ORDER BY expires_at, registration_id LIMIT :limit"
)
_MARK_EXPIRED = text(
    """
    UPDATE event_registrations SET status = 'expired', updated_at = :now
    WHERE registration_id = ANY (:ids) AND status = 'reserved' AND expires_at <= :now
    """
)

_CODE_COLUMNS = (
    "producer_id, code, event_id, kind, value, valid_from, valid_until, max_uses, per_user_limit, min_quantity, "
    "type_ids, created_at"
)
_ADD_CODE = text(
    f"""
    INSERT INTO event_discount_codes ({_CODE_COLUMNS})
    VALUES (:producer_id, :code, :event_id, :kind, :value, :valid_from, :valid_until, :max_uses, :per_user_limit,
            :min_quantity, :type_ids, :created_at)
    ON CONFLICT (producer_id, code) DO NOTHING
    RETURNING code
    """
)
_GET_CODE = text(f"SELECT {_CODE_COLUMNS} FROM event_discount_codes WHERE producer_id = :producer_id AND code = :code")
_LOCK_CODE = text(
    f"SELECT {_CODE_COLUMNS} FROM event_discount_codes WHERE producer_id = :producer_id AND code = :code FOR UPDATE"
)
_CODES_OF = text(f"SELECT {_CODE_COLUMNS} FROM event_discount_codes WHERE producer_id = :producer_id ORDER BY code")
# A limited code's uses: its counter less its lapsed holds still marked reserved. An unlimited
# code has no counter (migration 0035): its uses are counted from its live registrations (only
# a producer's own read asks).
_CODE_USES = text(
    """
    SELECT CASE WHEN c.max_uses IS NOT NULL OR c.per_user_limit IS NOT NULL THEN
               c.uses_held - (
                   SELECT count(*) FROM event_registrations r
                   WHERE r.producer_id = c.producer_id AND r.discount_code = c.code AND r.status = 'reserved'
                     AND r.expires_at <= :now
               )
           ELSE (
               SELECT count(*) FROM event_registrations r
               WHERE r.producer_id = c.producer_id AND r.discount_code = c.code
                 AND r.status IN ('reserved', 'confirmed') AND (r.status = 'confirmed' OR r.expires_at > :now)
           ) END AS uses,
           (
               SELECT count(*) FROM event_registrations r
               WHERE r.producer_id = c.producer_id AND r.discount_code = c.code AND r.attendee_id = :attendee_id
                 AND r.status IN ('reserved', 'confirmed') AND (r.status = 'confirmed' OR r.expires_at > :now)
           ) AS mine
    FROM event_discount_codes c WHERE c.producer_id = :producer_id AND c.code = :code
    """
)
# The sweep locks the events of the holds it marks, in key order, before their counters
# change: the order every other writer of a counter takes (event first).
_LOCK_EVENTS_OF = text(
    """
    SELECT e.event_id FROM events e
    WHERE e.event_id IN (SELECT r.event_id FROM event_registrations r WHERE r.registration_id = ANY (:ids))
    ORDER BY e.event_id FOR UPDATE
    """
)
# The checkout's calls (migration 0032, bodies in 0032_*.sql): atomic on their own.
_CHECKOUT = "SELECT * FROM app.events_checkout(%(role)s, %(actor)s, %(event_id)s, %(code)s, %(registration_id)s)"
_HOLD = (
    "SELECT app.events_hold(%(role)s, %(actor)s, %(registration_id)s, %(event_id)s, %(type_id)s, %(attendee_id)s,"
    " %(producer_id)s, %(quantity)s, %(currency)s, %(unit_price)s, %(subtotal)s, %(discount)s, %(total)s,"
    " %(expires_at)s, %(reserve_key)s, %(discount_code)s, %(now)s, %(status)s, %(sales_start)s, %(sales_end)s,"
    " %(starts_at)s, %(capacity)s, %(quota)s, %(max_uses)s, %(per_user_limit)s) AS outcome"
)
_LOCK_FOR_CONFIRM = (
    "SELECT * FROM app.events_lock_for_confirm(%(role)s, %(actor)s, %(registration_id)s, %(attendee_id)s,"
    " %(confirm_key)s)"
)

_ENTRY_COLUMNS = (
    "entry_id, event_id, type_id, user_id, producer_id, seq, status, joined_at, updated_at, registration_id, "
    "offered_at, offer_expires_at"
)
_ADD_ENTRY = text(
    f"""
    INSERT INTO event_waitlist ({_ENTRY_COLUMNS})
    VALUES (:entry_id, :event_id, :type_id, :user_id, :producer_id, :seq, :status, :joined_at, :updated_at,
            :registration_id, :offered_at, :offer_expires_at)
    ON CONFLICT DO NOTHING
    RETURNING entry_id
    """
)
_LAST_SEQ = text("SELECT coalesce(max(seq), 0) AS seq FROM event_waitlist WHERE event_id = :event_id")
_ACTIVE_ENTRY = text(
    f"SELECT {_ENTRY_COLUMNS} FROM event_waitlist WHERE event_id = :event_id AND type_id = :type_id "
    "AND user_id = :user_id AND status IN ('waiting', 'offered')"
)
_GET_ENTRIES = text(f"SELECT {_ENTRY_COLUMNS} FROM event_waitlist WHERE entry_id = ANY (CAST(:ids AS text[]))")
_ENTRY_OF_OFFER = text(f"SELECT {_ENTRY_COLUMNS} FROM event_waitlist WHERE registration_id = :registration_id")
_SAVE_ENTRIES = text(
    """
    UPDATE event_waitlist w SET status = v.status, registration_id = v.registration_id, offered_at = v.offered_at,
        offer_expires_at = v.offer_expires_at, updated_at = v.updated_at
    FROM unnest(CAST(:entry_id AS text[]), CAST(:status AS text[]), CAST(:registration_id AS text[]),
                CAST(:offered_at AS timestamptz[]), CAST(:offer_expires_at AS timestamptz[]),
                CAST(:updated_at AS timestamptz[]))
        AS v (entry_id, status, registration_id, offered_at, offer_expires_at, updated_at)
    WHERE w.entry_id = v.entry_id
    """
)
_WAITING_COUNTS = text(
    "SELECT type_id, count(*) AS waiting FROM event_waitlist WHERE event_id = :event_id AND status = 'waiting' "
    "GROUP BY type_id"
)
_HAS_WAITING = text(
    "SELECT EXISTS (SELECT 1 FROM event_waitlist WHERE event_id = :event_id AND status = 'waiting') AS waiting"
)
_NEXT_WAITING = text(
    f"SELECT {_ENTRY_COLUMNS} FROM event_waitlist WHERE event_id = :event_id AND status = 'waiting' "
    "AND type_id = ANY (CAST(:type_ids AS text[])) ORDER BY joined_at, seq LIMIT :limit"
)
_WAITING_AHEAD = text(
    "SELECT count(*) AS ahead FROM event_waitlist WHERE event_id = :event_id AND status = 'waiting' "
    "AND type_id = :type_id AND (joined_at, seq) < (:joined_at, :seq)"
)
_ENTRIES_OF = text(
    f"SELECT {_ENTRY_COLUMNS} FROM event_waitlist WHERE user_id = :user_id "
    "ORDER BY joined_at DESC, entry_id DESC LIMIT :limit"
)
_ENTRIES_OF_NEXT = text(
    f"SELECT {_ENTRY_COLUMNS} FROM event_waitlist WHERE user_id = :user_id "
    "AND (joined_at, entry_id) < (:joined_at, :entry_id) ORDER BY joined_at DESC, entry_id DESC LIMIT :limit"
)
_EVENT_ENTRIES_FIRST = text(
    f"SELECT {_ENTRY_COLUMNS} FROM event_waitlist WHERE event_id = :event_id "
    "AND status = ANY (CAST(:statuses AS text[])) ORDER BY joined_at, seq LIMIT :limit"
)
_EVENT_ENTRIES_NEXT = text(
    f"SELECT {_ENTRY_COLUMNS} FROM event_waitlist WHERE event_id = :event_id "
    "AND status = ANY (CAST(:statuses AS text[])) AND (joined_at, seq) > (:joined_at, :seq) "
    "ORDER BY joined_at, seq LIMIT :limit"
)
_LAPSED_OFFERS = text(
    f"SELECT {_ENTRY_COLUMNS} FROM event_waitlist WHERE status = 'offered' AND offer_expires_at <= :now "
    "ORDER BY offer_expires_at, entry_id LIMIT :limit"
)
_EVENTS_WITH_WAITING = text(
    "SELECT DISTINCT event_id FROM event_waitlist WHERE status = 'waiting' ORDER BY event_id LIMIT :limit"
)

_WAITING_OF_PRODUCER = text(
    "SELECT event_id, type_id, count(*) AS waiting FROM event_waitlist "
    "WHERE producer_id = :producer_id AND status = 'waiting' "
    "GROUP BY event_id, type_id ORDER BY event_id, type_id LIMIT :limit"
)

EVENTS_TABLES = ("event_waitlist", "event_registrations", "event_discount_codes", "event_ticket_types", "events")
"""Every table of events (for TRUNCATE in benchmarks)."""


class PgEventStore:
    """Implements :class:`townsquare.core.events.EventStore` on Postgres."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    # -- events --------------------------------------------------------------------------

    def add_event(self, event: Event) -> bool:
        return self._run(_ADD_EVENT, _event_params(event)).one_or_none() is not None

    def get_event(self, event_id: str) -> Event | None:
        row = self._run(_GET_EVENT, {"event_id": event_id}).mappings().one_or_none()
        return None if row is None else Event.from_row(row)

    def lock_event(self, event_id: str) -> Event | None:
        row = self._run(_LOCK_EVENT, {"event_id": event_id}).mappings().one_or_none()
        return None if row is None else Event.from_row(row)

    def save_event(self, event: Event) -> None:
        self._run(_SAVE_EVENT, _event_params(event))

    def events_of(self, producer_id: str, *, after: tuple[datetime, str] | None, limit: int) -> list[Event]:
        if after is None:
            rows = self._run(_EVENTS_FIRST, {"producer_id": producer_id, "limit": limit})
        else:
            params = {"producer_id": producer_id, "created_at": after[0], "event_id": after[1], "limit": limit}
            rows = self._run(_EVENTS_NEXT, params)
        return [Event.from_row(row) for row in rows.mappings()]

    # -- ticket types --------------------------------------------------------------------

    def add_ticket_type(self, ticket: TicketType) -> bool:
        return self._run(_ADD_TYPE, _type_params(ticket)).one_or_none() is not None

    def save_ticket_type(self, ticket: TicketType) -> None:
        self._run(_SAVE_TYPE, _type_params(ticket))

    def ticket_types(self, event_id: str) -> list[TicketType]:
        return [TicketType.from_row(row) for row in self._run(_TYPES, {"event_id": event_id}).mappings()]

    def held_seats(self, event_id: str, now: datetime) -> dict[str, int]:
        rows = self._run(_HELD, {"event_id": event_id, "now": now}).mappings()
        return {row["type_id"]: int(row["held"]) for row in rows}

    def held_seats_for_change(self, event_id: str, now: datetime) -> dict[str, int]:
        self._run(_LOCK_LAPSED, {"event_id": event_id, "now": now})
        return self.held_seats(event_id, now)

    # -- registrations -------------------------------------------------------------------

    def add_registration(self, registration: Registration) -> bool:
        return self._run(_ADD_REG, _registration_params(registration)).one_or_none() is not None

    def add_registrations(self, registrations: Sequence[Registration]) -> None:
        if registrations:
            rows = [_registration_params(each) for each in registrations]
            self._run(_ADD_REGS, {column: [row[column] for row in rows] for column in rows[0]})

    def get_registration(self, registration_id: str) -> Registration | None:
        return self._one_registration(_GET_REG, {"registration_id": registration_id})

    def lock_registration(self, registration_id: str) -> Registration | None:
        return self._one_registration(_LOCK_REG, {"registration_id": registration_id})

    def save_registration(self, registration: Registration) -> None:
        self._run(_SAVE_REG, _registration_params(registration))

    def lock_for_confirm(self, registration_id: str, attendee_id: str, confirm_key: str) -> ConfirmLocks | None:
        params = {"registration_id": registration_id, "attendee_id": attendee_id, "confirm_key": confirm_key}
        rows = self._db.call(_LOCK_FOR_CONFIRM, params)
        if not rows:
            return None
        row = rows[0]._asdict()
        return ConfirmLocks(registration=Registration.from_row(row), prior_registration_id=row["prior_registration_id"])

    def registrations_of(
        self, attendee_id: str, *, after: tuple[datetime, str] | None, limit: int
    ) -> list[Registration]:
        if after is None:
            rows = self._run(_REGS_FIRST, {"attendee_id": attendee_id, "limit": limit})
        else:
            params = {"attendee_id": attendee_id, "created_at": after[0], "registration_id": after[1], "limit": limit}
            rows = self._run(_REGS_NEXT, params)
        return [Registration.from_row(row) for row in rows.mappings()]

    def registrations_to_settle(self, event_id: str, limit: int) -> list[Registration]:
        rows = self._run(_TO_SETTLE, {"event_id": event_id, "limit": limit}).mappings()
        return [Registration.from_row(row) for row in rows]

    def lapsed_holds(self, now: datetime, limit: int) -> list[Registration]:
        return [Registration.from_row(row) for row in self._run(_LAPSED, {"now": now, "limit": limit}).mappings()]

    def mark_expired(self, registration_ids: Sequence[str], now: datetime) -> int:
        if not registration_ids:
            return 0
        self._run(_LOCK_EVENTS_OF, {"ids": list(registration_ids)})
        result = self._run(_MARK_EXPIRED, {"ids": list(registration_ids), "now": now})
        return int(result.rowcount)

    # -- discount codes ------------------------------------------------------------------

    def add_code(self, code: DiscountCode) -> bool:
        return self._run(_ADD_CODE, _code_params(code)).one_or_none() is not None

    def get_code(self, producer_id: str, code: str) -> DiscountCode | None:
        row = self._run(_GET_CODE, {"producer_id": producer_id, "code": code}).mappings().one_or_none()
        return None if row is None else DiscountCode.from_row(row)

    def lock_code(self, producer_id: str, code: str) -> DiscountCode | None:
        row = self._run(_LOCK_CODE, {"producer_id": producer_id, "code": code}).mappings().one_or_none()
        return None if row is None else DiscountCode.from_row(row)

    def code_uses(self, producer_id: str, code: str, attendee_id: str, now: datetime) -> tuple[int, int]:
        params = {"producer_id": producer_id, "code": code, "attendee_id": attendee_id, "now": now}
        row = self._run(_CODE_USES, params).mappings().one()
        return int(row["uses"]), int(row["mine"])

    def codes_of(self, producer_id: str) -> list[DiscountCode]:
        return [DiscountCode.from_row(row) for row in self._run(_CODES_OF, {"producer_id": producer_id}).mappings()]

    # -- the checkout's fast path (database functions, atomic on their own) ---------------

    def checkout_context(self, event_id: str, code: str | None, registration_id: str) -> CheckoutContext | None:
        params = {"event_id": event_id, "code": code, "registration_id": registration_id}
        rows = [row._asdict() for row in self._db.call(_CHECKOUT, params)]
        if not rows:
            return None
        first = rows[0]
        return CheckoutContext(
            event=Event.from_row(_prefixed(first, "e_")),
            types=tuple(TicketType.from_row(_prefixed(row, "t_")) for row in rows if row["t_type_id"] is not None),
            code=None if first["c_code"] is None else DiscountCode.from_row(_prefixed(first, "c_")),
            taken=first["taken"],
            waiting=first["waiting"],
        )

    def place_hold(self, terms: HoldTerms) -> HoldOutcome:
        details = terms.event.details
        code = terms.code
        params = {
            **_registration_params(terms.registration),
            "now": terms.registration.created_at,
            "status": terms.event.status.value,
            "sales_start": details.sales_start,
            "sales_end": details.sales_end,
            "starts_at": details.starts_at,
            "capacity": details.capacity,
            "quota": terms.ticket.quota,
            "max_uses": None if code is None else code.max_uses,
            "per_user_limit": None if code is None else code.per_user_limit,
        }
        return HoldOutcome(self._db.call(_HOLD, params)[0].outcome)

    # -- helpers -------------------------------------------------------------------------

    def _run(self, statement: Any, params: dict[str, Any]) -> Any:
        return self._db.connection().execute(statement, params)

    def _one_registration(self, statement: Any, params: dict[str, Any]) -> Registration | None:
        row = self._run(statement, params).mappings().one_or_none()
        return None if row is None else Registration.from_row(row)


class PgWaitlistStore:
    """Implements :class:`townsquare.core.events.ports.WaitlistStore` on Postgres (``event_waitlist``)."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    def add_entry(self, entry: WaitlistEntry) -> bool:
        return self._run(_ADD_ENTRY, _entry_params(entry)).one_or_none() is not None

    def last_seq(self, event_id: str) -> int:
        return int(self._run(_LAST_SEQ, {"event_id": event_id}).mappings().one()["seq"])

    def active_entry(self, event_id: str, type_id: str, user_id: str) -> WaitlistEntry | None:
        params = {"event_id": event_id, "type_id": type_id, "user_id": user_id}
        row = self._run(_ACTIVE_ENTRY, params).mappings().one_or_none()
        return None if row is None else WaitlistEntry.from_row(row)

    def get_entries(self, entry_ids: Sequence[str]) -> list[WaitlistEntry]:
        return self._entries(_GET_ENTRIES, {"ids": list(entry_ids)})

    def entry_of_offer(self, registration_id: str) -> WaitlistEntry | None:
        row = self._run(_ENTRY_OF_OFFER, {"registration_id": registration_id}).mappings().one_or_none()
        return None if row is None else WaitlistEntry.from_row(row)

    def save_entries(self, entries: Sequence[WaitlistEntry]) -> None:
        if entries:
            rows = [_entry_params(each) for each in entries]
            columns = ("entry_id", "status", "registration_id", "offered_at", "offer_expires_at", "updated_at")
            self._run(_SAVE_ENTRIES, {column: [row[column] for row in rows] for column in columns})

    def waiting_counts(self, event_id: str) -> dict[str, int]:
        rows = self._run(_WAITING_COUNTS, {"event_id": event_id}).mappings()
        return {row["type_id"]: int(row["waiting"]) for row in rows}

    def has_waiting(self, event_id: str) -> bool:
        return bool(self._run(_HAS_WAITING, {"event_id": event_id}).mappings().one()["waiting"])

    def next_waiting(self, event_id: str, type_ids: Sequence[str], limit: int) -> list[WaitlistEntry]:
        return self._entries(_NEXT_WAITING, {"event_id": event_id, "type_ids": list(type_ids), "limit": limit})

    def waiting_ahead(self, entry: WaitlistEntry) -> int:
        params = {"event_id": entry.event_id, "type_id": entry.type_id, "joined_at": entry.joined_at, "seq": entry.seq}
        return int(self._run(_WAITING_AHEAD, params).mappings().one()["ahead"])

    def entries_of(self, user_id: str, *, before: tuple[datetime, str] | None, limit: int) -> list[WaitlistEntry]:
        if before is None:
            return self._entries(_ENTRIES_OF, {"user_id": user_id, "limit": limit})
        params = {"user_id": user_id, "joined_at": before[0], "entry_id": before[1], "limit": limit}
        return self._entries(_ENTRIES_OF_NEXT, params)

    def event_entries(
        self,
        event_id: str,
        *,
        statuses: Sequence[WaitlistStatus],
        after: tuple[datetime, int] | None,
        limit: int,
    ) -> list[WaitlistEntry]:
        params: dict[str, Any] = {"event_id": event_id, "statuses": [each.value for each in statuses], "limit": limit}
        if after is None:
            return self._entries(_EVENT_ENTRIES_FIRST, params)
        return self._entries(_EVENT_ENTRIES_NEXT, {**params, "joined_at": after[0], "seq": after[1]})

    def lapsed_offers(self, now: datetime, limit: int) -> list[WaitlistEntry]:
        return self._entries(_LAPSED_OFFERS, {"now": now, "limit": limit})

    def events_with_waiting(self, limit: int) -> list[str]:
        return [row["event_id"] for row in self._run(_EVENTS_WITH_WAITING, {"limit": limit}).mappings()]

    def waiting_of_producer(self, producer_id: str, limit: int) -> list[tuple[str, str, int]]:
        rows = self._run(_WAITING_OF_PRODUCER, {"producer_id": producer_id, "limit": limit}).mappings()
        return [(row["event_id"], row["type_id"], int(row["waiting"])) for row in rows]

    def _run(self, statement: Any, params: dict[str, Any]) -> Any:
        return self._db.connection().execute(statement, params)

    def _entries(self, statement: Any, params: dict[str, Any]) -> list[WaitlistEntry]:
        return [WaitlistEntry.from_row(row) for row in self._run(statement, params).mappings()]


def _entry_params(entry: WaitlistEntry) -> dict[str, Any]:
    return {
        "entry_id": entry.entry_id,
        "event_id": entry.event_id,
        "type_id": entry.type_id,
        "user_id": entry.user_id,
        "producer_id": entry.producer_id,
        "seq": entry.seq,
        "status": entry.status.value,
        "joined_at": entry.joined_at,
        "updated_at": entry.updated_at,
        "registration_id": entry.registration_id,
        "offered_at": entry.offered_at,
        "offer_expires_at": entry.offer_expires_at,
    }


def _event_params(event: Event) -> dict[str, Any]:
    details = event.details
    return {
        "event_id": event.event_id,
        "producer_id": event.producer_id,
        "title": details.title,
        "description": details.description,
        "starts_at": details.starts_at,
        "ends_at": details.ends_at,
        "time_zone": details.time_zone,
        "online": details.online,
        "venue": details.venue,
        "sales_start": details.sales_start,
        "sales_end": details.sales_end,
        "capacity": details.capacity,
        "currency": details.currency,
        "status": event.status.value,
        "publications": event.publications,
        "created_at": event.created_at,
        "updated_at": event.updated_at,
        "waitlist_mode": details.waitlist_mode.value,
        "offer_hours": details.offer_hours,
    }


def _type_params(ticket: TicketType) -> dict[str, Any]:
    return {
        "event_id": ticket.event_id,
        "type_id": ticket.type_id,
        "name": ticket.name,
        "price": ticket.price,
        "quota": ticket.quota,
        "created_at": ticket.created_at,
    }


def _registration_params(registration: Registration) -> dict[str, Any]:
    price = registration.price
    return {
        "registration_id": registration.registration_id,
        "event_id": registration.event_id,
        "type_id": registration.type_id,
        "attendee_id": registration.attendee_id,
        "producer_id": registration.producer_id,
        "quantity": registration.quantity,
        "currency": price.currency,
        "unit_price": price.unit_price,
        "subtotal": price.subtotal,
        "discount": price.discount,
        "total": price.total,
        "status": registration.status.value,
        "expires_at": registration.expires_at,
        "refunded": registration.refunded,
        "reserve_key": registration.reserve_key,
        "confirm_key": registration.confirm_key,
        "earning_id": registration.earning_id,
        "created_at": registration.created_at,
        "updated_at": registration.updated_at,
        "discount_code": registration.discount_code,
    }


def _code_params(code: DiscountCode) -> dict[str, Any]:
    return {
        "producer_id": code.producer_id,
        "code": code.code,
        "event_id": code.event_id,
        "kind": code.kind.value,
        "value": code.value,
        "valid_from": code.valid_from,
        "valid_until": code.valid_until,
        "max_uses": code.max_uses,
        "per_user_limit": code.per_user_limit,
        "min_quantity": code.min_quantity,
        "type_ids": list(code.type_ids),
        "created_at": code.created_at,
    }


def _prefixed(row: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The columns of ``row`` that start with ``prefix``, named without it (a call's columns are distinct)."""
    return {name[len(prefix) :]: value for name, value in row.items() if name.startswith(prefix)}
