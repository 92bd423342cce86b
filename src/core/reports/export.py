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
from datetime import datetime

from townsquare.core.events.models import Registration
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


def registration_row(registration: Registration, now: datetime) -> tuple[Cell, ...]:
    """One registration as a row of :data:`REGISTRATION_HEADER` (its status as seen at ``now``)."""
    price = registration.price
    return (
        registration.registration_id,
        registration.event_id,
        registration.type_id,
        registration.attendee_id,
        registration.status_at(now).value,
        registration.quantity,
        price.currency,
        price.unit_price,
        price.subtotal,
        price.discount,
        price.total,
        registration.refunded,
        registration.discount_code,
        _instant(registration.created_at),
    )


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
