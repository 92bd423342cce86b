"""How many claimed jobs an actor marks begun at once: those it expects to start within a window.

Marking jobs begun is a synchronous commit, one before each chunk an actor runs; in a drain
of quick jobs that commit, not the jobs, was the worker's pace (py-spy: half of the actor
threads' time; issue 21). A fixed chunk of 10 was too small for jobs of microseconds and too
large for jobs of seconds. What "begun" is for bounds what a chunk may hold: when a worker
dies, its begun jobs count the lost run as an attempt (so a job that kills its worker every
time still ends dead), and the jobs begun with it but not yet run are the collateral. Sizing
the chunk by the jobs' recent run times bounds that collateral in time instead of count: a
chunk holds the jobs expected to *start* within ``window`` seconds of its first.
"""

from __future__ import annotations

from collections.abc import Sequence

from townsquare.core.jobs import ClaimedJob


class StartWindow:
    """Recent run times per job type, and the start chunks they allow.

    Args:
        window: seconds: a chunk holds the jobs expected to start within this long of its first.
        max_chunk: jobs in one chunk at most.
        weight: the weight of each new run in a type's moving mean run time.

    Actor threads update it without a lock: a lost update of a mean only costs its precision.
    """

    def __init__(self, *, window: float, max_chunk: int, weight: float = 0.2) -> None:
        self.window = window
        self.max_chunk = max_chunk
        self._weight = weight
        self._means: dict[str, float] = {}

    def ran(self, job_type: str, seconds: float) -> None:
        """Record one run of ``job_type`` (raising ones too: their time was spent)."""
        mean = self._means.get(job_type)
        self._means[job_type] = seconds if mean is None else mean + self._weight * (seconds - mean)

    def expected(self, job_type: str) -> float:
        """A type's expected run time; one never seen counts as the whole window."""
        return self._means.get(job_type, self.window)

    def chunk(self, jobs: Sequence[ClaimedJob]) -> int:
        """How many of ``jobs``, from the first, to mark begun at once (at least one, if any).

        Job *n* is in the chunk when the expected run times of the jobs before it add up to
        less than the window: it would start within the window.
        """
        starts_after = 0.0
        for count, job in enumerate(jobs[: self.max_chunk]):
            if count and starts_after >= self.window:
                return count
            starts_after += self.expected(job.job_type)
        return min(len(jobs), self.max_chunk)
