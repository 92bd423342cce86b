"""Demo jobs: one ``poison_test`` job of each kind, so mock mode shows a retrying job and a completed one."""

from __future__ import annotations

from townsquare.bootstrap import Services
from townsquare.core.jobs import POISON_TEST_JOB


def seed(services: Services) -> None:
    """Queue the demo jobs (idempotent: fixed keys)."""
    services.jobs.enqueue(POISON_TEST_JOB, {"fail": True}, idempotency_key="demo:poison_test:fails")
    services.jobs.enqueue(POISON_TEST_JOB, {"fail": False}, idempotency_key="demo:poison_test:succeeds")
