"""The handler registry: which function runs each job type, and which job types recur."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from attrs import field, frozen

from townsquare.core.errors import InvalidInput

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_JOB_TYPE = re.compile(r"^[a-z][a-z0-9_.:-]{0,99}\Z")


def check_job_type(job_type: str) -> str:
    """Raise :class:`InvalidInput` unless ``job_type`` is a well-formed job type name."""
    if not isinstance(job_type, str) or not _JOB_TYPE.match(job_type):
        raise InvalidInput(
            "job type must be 1-100 characters: a lowercase letter, then lowercase letters, digits or _ . : -",
            field="job_type",
        )
    return job_type


@frozen
class JobContext:
    """What a handler receives.

    Attributes:
        job_id: the job's id.
        job_type: the job's type.
        payload: the job's input (a JSON object).
        attempt: this run's attempt number (1 for the first run).
    """

    job_id: int
    job_type: str
    payload: Mapping[str, Any]
    attempt: int
    _heartbeat: Callable[[], None] = field(default=lambda: None, repr=False, alias="heartbeat")

    def heartbeat(self) -> None:
        """Extend this run's lease; long handlers call it well within the lease duration.

        Raises:
            LeaseLost: the lease already expired and the job was taken over; stop working.
        """
        self._heartbeat()


Handler = Callable[[JobContext], object]
"""A job handler: sync, or async (returns an awaitable). Raising means the attempt failed."""


@frozen
class HandlerEntry:
    """A registered handler and what it is for."""

    job_type: str
    handler: Handler
    description: str


@frozen
class Schedule:
    """A recurring job: enqueued once per ``every``, whichever worker gets there first.

    Attributes:
        job_type: the job to enqueue.
        every: the period; periods are aligned to the Unix epoch (e.g. every hour on the hour).
        payload: the job's payload each time.
        priority: the enqueued job's priority.
    """

    job_type: str
    every: timedelta
    payload: Mapping[str, Any]
    priority: int = 0

    def period_start(self, now: datetime) -> datetime:
        """The start of the period ``now`` falls in (its job's due time)."""
        return _EPOCH + self.every * ((now - _EPOCH) // self.every)


class JobHandlers:
    """The registry of job handlers by type, and of periodic schedules.

    Built once in the composition root; each area registers its job types there
    (``register_<area>_jobs(handlers, service)``) before anything is enqueued.
    """

    def __init__(self) -> None:
        self._entries: dict[str, HandlerEntry] = {}
        self._schedules: dict[str, Schedule] = {}

    def register(self, job_type: str, handler: Handler, *, description: str = "") -> None:
        """Register the handler of ``job_type``.

        Args:
            job_type: lowercase name, e.g. ``notifications.send_mail``.
            handler: called with a :class:`JobContext`; sync or async; must be idempotent.
            description: shown to admins.

        Raises:
            ValueError: the name is malformed or already registered (a wiring mistake).
        """
        try:
            check_job_type(job_type)
        except InvalidInput as exc:
            raise ValueError(exc.detail) from None
        if job_type in self._entries:
            raise ValueError(f"job type {job_type!r} is already registered")
        if not callable(handler):
            raise ValueError(f"the handler of {job_type!r} is not callable")
        self._entries[job_type] = HandlerEntry(job_type=job_type, handler=handler, description=description)

    def schedule(
        self, job_type: str, every: timedelta, payload: Mapping[str, Any] | None = None, *, priority: int = 0
    ) -> None:
        """Run ``job_type`` once per ``every`` (the worker's scheduler enqueues it).

        Raises:
            ValueError: the job type has no handler yet, is already scheduled, or the period
                is shorter than one second.
        """
        if job_type not in self._entries:
            raise ValueError(f"register a handler for {job_type!r} before scheduling it")
        if job_type in self._schedules:
            raise ValueError(f"job type {job_type!r} is already scheduled")
        if every < timedelta(seconds=1):
            raise ValueError("a schedule's period must be at least one second")
        self._schedules[job_type] = Schedule(
            job_type=job_type, every=every, payload=MappingProxyType(dict(payload or {})), priority=priority
        )

    def get(self, job_type: str) -> HandlerEntry | None:
        """The entry of ``job_type``, if registered."""
        return self._entries.get(job_type)

    def __contains__(self, job_type: object) -> bool:
        return job_type in self._entries

    @property
    def job_types(self) -> list[str]:
        """Registered job types, sorted."""
        return sorted(self._entries)

    @property
    def entries(self) -> list[HandlerEntry]:
        return [self._entries[name] for name in sorted(self._entries)]

    @property
    def schedules(self) -> list[Schedule]:
        """Periodic schedules, by job type."""
        return [self._schedules[name] for name in sorted(self._schedules)]
