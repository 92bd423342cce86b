"""CSV exports: the rows of a registrations export and a financial (ledger lines) export, and the
cell escaping that keeps a spreadsheet from running a cell as a formula.

Text only, written with the standard ``csv`` module one page at a time, so an export of any size
holds one page in memory. UTF-8 is the host's encoding of the text; amounts are integer minor
units, instants ISO 8601 in UTC.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import NamedTuple

from townsquare.core.reports.models import LedgerLine, local_day

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet may read as the start of a formula (OWASP's list for CSV injection)."""

REGISTRATION_HEADER = (
    "registration_id",
    "event_id",
    "type_id",
    "attendee_id",
    "status",
    "quantity",
    "currency",
    "unit_price",
    "subtotal",
    "discount",
    "total",
    "refunded",
    "discount_code",
    "created_at",
)
FINANCIAL_HEADER = (
    "day",
    "registration_id",
    "event_id",
    "ledger_id",
    "recorded_at",
    "type",
    "amount",
    "currency",
    "reason",
)

Cell = str | int | None


def escape_cell(value: Cell) -> str:
    """A cell as text a spreadsheet shows as it is: text starting like a formula gets a leading ``'``.

    Numbers are written as they are (amounts are never negative); None is empty.
    """
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    if value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_text(rows: Iterable[Sequence[Cell]]) -> str:
    """Rows as CSV text (RFC 4180 quoting, ``\\r\\n`` line ends), every cell escaped."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerows([escape_cell(cell) for cell in row] for row in rows)
    return buffer.getvalue()


def _instant(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


class RegistrationExportRow(NamedTuple):
    """A registration as an export reads it: plain values, no model (what a store's export rows hold).

    ``status`` is the status seen when the export began (a lapsed hold is ``expired``),
    ``created_at`` the instant as :func:`export_instant` writes it (the store writes it: Postgres
    formats 100,000 of them faster than Python); the rest are the registration's columns, in the
    order of :data:`REGISTRATION_HEADER`.
    """

    registration_id: str
    event_id: str
    type_id: str
    attendee_id: str
    status: str
    quantity: int
    currency: str
    unit_price: int
    subtotal: int
    discount: int
    total: int
    refunded: int
    discount_code: str | None
    created_at: str


def export_position(row: RegistrationExportRow) -> tuple[datetime, str]:
    """A row's keyset position (``created_at``, ``registration_id``), where the next page starts.

    A function, not a property: a store may give rows of its own driver with the same fields.
    """
    return datetime.fromisoformat(row.created_at), row.registration_id


def export_instant(value: datetime) -> str:
    """An instant as the exports write it: ISO 8601 in UTC with ``Z`` (microseconds only when not 0)."""
    return _instant(value.astimezone(UTC))


def _escaped(row: RegistrationExportRow) -> tuple[Cell, ...]:
    return tuple(escape_cell(cell) if isinstance(cell, str) else cell for cell in row)


def registrations_csv(rows: Iterable[RegistrationExportRow]) -> str:
    """Export rows as CSV rows of :data:`REGISTRATION_HEADER`: the bytes :func:`csv_text` gives.

    Only the cells a client chose are escaped (ids, type, attendee, code): the others are
    numbers, a status, an ISO 4217 code and an ISO instant, which never start like a formula,
    and the writer writes numbers and None as :func:`escape_cell` does (the tests compare).
    """
    buffer = io.StringIO()
    starts = FORMULA_STARTS
    # A row is written as it is unless one of its chosen cells needs the escape (rare).
    csv.writer(buffer).writerows(
        _escaped(row)
        if row.registration_id.startswith(starts)
        or row.event_id.startswith(starts)
        or row.type_id.startswith(starts)
        or row.attendee_id.startswith(starts)
        or (row.discount_code is not None and row.discount_code.startswith(starts))
        else row
        for row in rows
    )
    return buffer.getvalue()


def financial_row(line: LedgerLine, time_zone: str) -> tuple[Cell, ...]:
    """One ledger line as a row of :data:`FINANCIAL_HEADER`; ``day`` is the registration's day in the zone."""
    return (
        local_day(line.registration_created_at, time_zone).isoformat(),
        line.registration_id,
        line.event_id,
        line.ledger_id,
        _instant(line.recorded_at),
        line.type.value,
        line.amount,
        line.currency,
        line.reason,
    )
