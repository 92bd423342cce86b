"""The retry and lease rules: when a failed job runs again, and how long a worker may hold one."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta

from attrs import field, frozen

from townsquare.core.jobs.models import FailureUpdate, JobError, Lease, StrandedJob


def _positive(_instance: object, attribute: object, value: timedelta) -> None:
    if value <= timedelta(0):
        raise ValueError(f"{getattr(attribute, 'name', 'value')} must be positive")


@frozen(kw_only=True)
class RetryPolicy:
    """Exponential backoff from ``base``: 60 s, 120 s, 240 s ... after failures 1, 2, 3 ...

    Attributes:
        base: the delay after the first failure.
        cap: the longest delay, whatever the attempt.
        jitter: a fraction of the delay added at random (0 = exact, the default), so jobs
            that failed together do not all retry in the same instant.
        rng: the randomness for jitter (tests pass a seeded one).
    """

    base: timedelta = field(default=timedelta(seconds=60), validator=_positive)
    cap: timedelta = field(default=timedelta(hours=24), validator=_positive)
    jitter: float = 0.0
    rng: Callable[[], float] = random.random

    def __attrs_post_init__(self) -> None:
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("jitter must be between 0 and 1")

    def backoff(self, attempt: int) -> timedelta:
        """The delay before the run after failed attempt number ``attempt`` (1-based)."""
        exponent = max(attempt - 1, 0)
        # Compare in seconds before multiplying, so a huge attempt cannot overflow timedelta.
        seconds = self.base.total_seconds() * 2.0 ** min(exponent, 60)
        delay = min(timedelta(seconds=min(seconds, self.cap.total_seconds())), self.cap)
        if self.jitter:
            delay += delay * (self.jitter * self.rng())
        return delay

    def after_failure(
        self, lease: Lease, attempt: int, max_attempts: int, message: str, now: datetime
    ) -> FailureUpdate:
        """Decide what a failed attempt leads to: a retry after the backoff, or the dead-letter queue."""
        error = JobError(attempt=attempt, at=now, message=message)
        retry_at = None if attempt >= max_attempts else now + self.backoff(attempt)
        return FailureUpdate(lease=lease, error=error, retry_at=retry_at)

    def after_lost_run(self, stranded: StrandedJob, now: datetime) -> FailureUpdate | None:
        """A stranded job runs again at once (the lease or the worker timeout already made it wait).

        A run that had started counts as an attempt, so a job that kills its worker every
        time ends in the dead-letter queue instead of looping forever. A job that was only
        claimed never ran: ``None`` means give it back without spending the attempt.
        """
        if not stranded.started:
            return None
        message = (
            "worker died: its worker process stopped heartbeating before reporting"
            if stranded.worker_died
            else "lease expired: the worker died or stalled before reporting"
        )
        error = JobError(attempt=stranded.attempt, at=now, message=message)
        retry_at = None if stranded.attempt >= stranded.max_attempts else now
        return FailureUpdate(lease=stranded.lease, error=error, retry_at=retry_at)


@frozen(kw_only=True)
class LeasePolicy:
    """How long a claim holds a job before other workers may take it over.

    Attributes:
        duration: a claim's (and each heartbeat's) lease length. A job must finish or
            heartbeat within it, or it is re-offered after the lease expires.
        worker_timeout: a worker process that has not heartbeaten for this long is dead: the
            jobs it claimed are re-offered at once, without waiting for their leases.
    """

    duration: timedelta = field(default=timedelta(minutes=5), validator=_positive)
    worker_timeout: timedelta = field(default=timedelta(seconds=10), validator=_positive)

    def expires(self, now: datetime) -> datetime:
        return now + self.duration
