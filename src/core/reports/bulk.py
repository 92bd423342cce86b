"""Bulk refunds and cancellations: which registrations one takes, what it costs, and how far it got.

A bulk action is frozen when it is made: its items are the registrations its filter matched
then (refund: confirmed with something left to refund; cancel: confirmed or holding seats),
and its amount is what those items would refund. A job works through the items; each one is a
single :class:`~townsquare.core.events.EventService` refund or cancellation under an
idempotency key derived from the action, so a rerun, a retry or a second worker refunds each
registration once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from attrs import field, frozen

from townsquare.core.events.models import RegistrationStatus
from townsquare.core.reports.models import RegistrationFilter

MAX_ITEMS = 100_000
"""The most registrations one bulk action may take."""
ITEMS_PER_PART = 250
"""A bulk action's items are worked by several jobs, each a range of about this many."""
MAX_PARTS = 8
"""At most this many jobs per action (a worker host runs a few at once; more would only queue)."""


def parts(count: int) -> list[tuple[int, int]]:
    """The item positions (1-based, inclusive ranges) of each job of an action of ``count`` items.

    Contiguous, in order, covering ``1..count`` once, sizes differing by at most one; one
    range when the action is small (``(1, 0)`` for no items: its job still finishes the action).
    """
    jobs = max(1, min(MAX_PARTS, -(-count // ITEMS_PER_PART)))
    size, extra = divmod(count, jobs)
    ranges, first = [], 1
    for n in range(jobs):
        last = first + size - 1 + (1 if n < extra else 0)
        ranges.append((first, last))
        first = last + 1
    return ranges


class BulkKind(StrEnum):
    """What a bulk action does to each registration."""

    REFUND = "refund"
    """Refund what remains of each confirmed registration (it becomes ``refunded``)."""
    CANCEL = "cancel"
    """Cancel each confirmed registration (refunding what remains) or live hold."""


@frozen(kw_only=True)
class BulkCandidate:
    """A registration a filter matched, as a bulk action weighs it.

    Attributes:
        registration_id: the registration.
        status: the status a reader sees now.
        currency: its currency.
        refundable: what remains to refund (total minus refunded; 0 unless confirmed).
    """

    registration_id: str
    status: RegistrationStatus = field(converter=RegistrationStatus)
    currency: str
    refundable: int

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> BulkCandidate:
        """Build a candidate from a stored row (columns named as the attributes)."""
        return cls(
            registration_id=row["registration_id"],
            status=row["status"],
            currency=row["currency"],
            refundable=int(row["refundable"]),
        )

    def taken_by(self, kind: BulkKind) -> bool:
        """Whether a bulk action of ``kind`` acts on it."""
        if kind is BulkKind.REFUND:
            return self.status is RegistrationStatus.CONFIRMED and self.refundable > 0
        return self.status in (RegistrationStatus.CONFIRMED, RegistrationStatus.RESERVED)


@frozen(kw_only=True)
class BulkPreview:
    """A dry run: what a bulk action would do now, changing nothing.

    Attributes:
        kind: refund or cancel.
        count: how many registrations it takes.
        amounts: the exact sum it would refund per currency (minor units; currencies ordered).
        registration_ids: the registrations it takes.
    """

    kind: BulkKind
    count: int
    amounts: dict[str, int]
    registration_ids: tuple[str, ...]


def preview(kind: BulkKind, candidates: Iterable[BulkCandidate]) -> BulkPreview:
    """The registrations a bulk action of ``kind`` takes among ``candidates``, and what it refunds."""
    taken = [each for each in candidates if each.taken_by(kind)]
    amounts: dict[str, int] = {}
    for each in sorted(taken, key=lambda candidate: candidate.currency):
        amounts[each.currency] = amounts.get(each.currency, 0) + each.refundable
    return BulkPreview(
        kind=kind,
        count=len(taken),
        amounts=amounts,
        registration_ids=tuple(each.registration_id for each in taken),
    )


@frozen(kw_only=True)
class BulkAction:
    """A bulk refund or cancellation, frozen at creation.

    Attributes:
        action_id: derived from the producer and the client's idempotency key.
        producer_id: whose registrations (the job acts as this producer).
        kind: refund or cancel.
        where: the filter it was made with.
        reason: the refunds' reason.
        total: how many registrations it took.
        amounts: what refunding them was to cost when it was made, per currency (the dry run's sums).
        job_id: the job working on it.
        created_at: when it was made.
        finished_at: when no item was left pending (None while it runs).
    """

    action_id: str
    producer_id: str
    kind: BulkKind = field(converter=BulkKind)
    where: RegistrationFilter
    reason: str
    total: int
    amounts: dict[str, int]
    job_id: int | None
    created_at: datetime
    finished_at: datetime | None = None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> BulkAction:
        """Build an action from a stored row (the ``bulk_actions`` table)."""
        return cls(
            action_id=row["action_id"],
            producer_id=row["producer_id"],
            kind=row["kind"],
            where=RegistrationFilter.from_payload(row["filter"]),
            reason=row["reason"],
            total=int(row["total"]),
            amounts={str(k): int(v) for k, v in dict(row["amounts"]).items()},
            job_id=row["job_id"],
            created_at=row["created_at"],
            finished_at=row["finished_at"],
        )

    @property
    def refund_key(self) -> str:
        """The idempotency key of this action's refunds.

        The events service derives a refund's ledger id from the registration and this key, so
        each registration gets one refund from this action however often it runs.
        """
        return f"reports.bulk:{self.action_id}"


@frozen(kw_only=True)
class BulkFailure:
    """An item that failed, and why (the domain error's message)."""

    registration_id: str
    error: str


@frozen(kw_only=True)
class BulkProgress:
    """How far a bulk action got.

    Attributes:
        done: items refunded or cancelled (or found already so).
        failed: items that failed (each with its reason in ``failures``).
        pending: items not worked on yet.
        failures: up to 100 failed items with their reasons.
    """

    done: int
    failed: int
    pending: int
    failures: tuple[BulkFailure, ...] = ()


@frozen(kw_only=True)
class BulkReport:
    """A bulk action and its progress (what the producer polls)."""

    action: BulkAction
    progress: BulkProgress

    @property
    def finished(self) -> bool:
        return self.progress.pending == 0
