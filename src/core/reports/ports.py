"""The reports ports, in the domain's words.

:class:`ReportStore` only reads (the events' registrations and the earnings ledger's events
of them); :class:`BulkActionStore` keeps bulk actions and their items. Stores sum, list and
lock; which registrations a bulk action takes, what it costs and who may ask live in the core.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from townsquare.core.events.models import Registration
from townsquare.core.reports.bulk import BulkAction, BulkCandidate, BulkProgress
from townsquare.core.reports.export import RegistrationExportRow
from townsquare.core.reports.models import FigureRow, LedgerLine, ProducerStats, RegistrationFilter


class ReportStore(Protocol):
    """Read-only queries over registrations and their ledger events. Calls run in a unit of work."""

    def figures(self, where: RegistrationFilter, boundaries: Sequence[datetime], now: datetime) -> list[FigureRow]:
        """Sums over the registrations passing ``where`` made in ``[boundaries[0], boundaries[-1])``.

        Rows per day (``i`` for ``[boundaries[i], boundaries[i + 1])``), status seen at ``now``
        and currency, with the ledger's earnings, captures, voids and refunds of those
        registrations; the money may come in rows of its own with no status (see
        :class:`FigureRow`). Groups with no registration may be absent or all zero.
        """
        ...

    def registrations(
        self, where: RegistrationFilter, now: datetime, *, after: tuple[datetime, str] | None, limit: int
    ) -> list[Registration]:
        """Up to ``limit`` registrations passing ``where`` (status seen at ``now``), newest first.

        Order: ``created_at`` descending, then ``registration_id`` descending (the keyset);
        ``after`` is the last position of the previous page.
        """
        ...

    def export_rows(
        self, where: RegistrationFilter, now: datetime, *, after: tuple[datetime, str] | None, limit: int
    ) -> list[RegistrationExportRow]:
        """The page :meth:`registrations` would give, as plain export rows (no model per row)."""
        ...

    def candidates(self, where: RegistrationFilter, now: datetime) -> list[BulkCandidate]:
        """Every registration passing ``where``, with the status seen at ``now`` and what remains refundable."""
        ...

    def ledger_lines(self, registrations: Sequence[Registration]) -> list[LedgerLine]:
        """The ledger events of these registrations' earnings.

        Order: the registrations' order, then ``recorded_at`` and the ledger event's id.
        """
        ...


class BulkActionStore(Protocol):
    """Bulk actions with one item per registration they cover. Calls run in ``uow.transaction()``."""

    def add_action(self, action: BulkAction, registration_ids: Sequence[str]) -> bool:
        """Store a new action and its items (all pending); False (storing nothing) when its id is taken."""
        ...

    def get_action(self, action_id: str) -> BulkAction | None:
        """The action with this id."""
        ...

    def claim_item(self, action_id: str, positions: tuple[int, int] | None = None) -> str | None:
        """A pending item's registration id, locked until the transaction ends (others skip it); None: none left.

        ``positions``: only items whose position (1-based, in the order the action took them)
        is in this inclusive range (one job's part); None: any. Two workers running the same
        action never hold the same item.
        """
        ...

    def finish_item(self, action_id: str, registration_id: str, *, error: str | None, at: datetime) -> bool:
        """Mark a pending item done (``error`` None) or failed with ``error``; False when it was not pending."""
        ...

    def finish_action(self, action_id: str, at: datetime) -> None:
        """Record that the action has no pending item left (keeps the first time it was recorded)."""
        ...

    def progress(self, action_id: str, *, failures: int) -> BulkProgress:
        """Counts of the action's items by state, and up to ``failures`` failed items with their reasons."""
        ...


class WaitlistDemand(Protocol):
    """People waiting for seats of an event, per ticket type (the events' waitlist store answers it).

    Stats report ``waitlist_demand`` as None when the reports service has none.
    """

    def waiting_counts(self, event_id: str) -> dict[str, int]:
        """Per ticket type of the event, how many people wait on its waitlist now."""
        ...


class ReportRenderer(Protocol):
    """Renders a financial report as a document (a PDF library's adapter)."""

    def financial_report(self, stats: ProducerStats, *, title: str) -> bytes:
        """The stats as a document with their totals and a revenue-by-day chart.

        The same stats and title give the same bytes (no clock, no random ids inside).
        """
        ...
