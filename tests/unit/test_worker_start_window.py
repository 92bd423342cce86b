"""The worker's start chunks: the jobs expected to start within the window, by recent run times."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from townsquare.core.jobs import ClaimedJob
from townsquare.hosts.worker.start_window import StartWindow

TOKEN = uuid.uuid4()


def jobs(*types: str) -> list[ClaimedJob]:
    return [
        ClaimedJob(
            id=n,
            job_type=job_type,
            payload={},
            attempt=1,
            max_attempts=3,
            lease_token=TOKEN,
            lease_expires_at=datetime(2030, 1, 1, tzinfo=UTC),
        )
        for n, job_type in enumerate(types, start=1)
    ]


def test_a_type_never_seen_is_begun_alone() -> None:
    window = StartWindow(window=0.05, max_chunk=100)
    assert window.chunk(jobs("new", "new", "new")) == 1


def test_quick_jobs_are_begun_together_up_to_the_maximum() -> None:
    window = StartWindow(window=0.05, max_chunk=100)
    window.ran("quick", 0.0001)
    assert window.chunk(jobs(*["quick"] * 60)) == 60
    assert window.chunk(jobs(*["quick"] * 300)) == 100


def test_a_chunk_holds_the_jobs_that_would_start_within_the_window() -> None:
    window = StartWindow(window=0.05, max_chunk=100)
    window.ran("slow", 0.02)
    # Starts expected at 0, 20 and 40 ms: the fourth would start at 60 ms.
    assert window.chunk(jobs(*["slow"] * 10)) == 3
    window.ran("long", 2.0)
    assert window.chunk(jobs("long", "slow", "slow")) == 1
    # A type not seen yet counts as the whole window: the jobs after it wait for its run.
    window.ran("quick", 0.0001)
    assert window.chunk(jobs("quick", "quick", "new", "quick")) == 3


def test_the_mean_follows_recent_runs() -> None:
    window = StartWindow(window=0.05, max_chunk=100, weight=0.5)
    window.ran("job", 0.0001)
    assert window.chunk(jobs(*["job"] * 50)) == 50
    window.ran("job", 0.05)  # it became slow: the mean moves halfway
    assert window.expected("job") == pytest.approx(0.02505)
    assert window.chunk(jobs(*["job"] * 50)) == 2
    assert window.chunk([]) == 0
