"""Wake-ups on enqueue: an idle worker waiting for due jobs is woken by an enqueue, on both adapters."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from townsquare.bootstrap import Services
from townsquare.core.identity import system_actor
from townsquare.core.jobs import JobRequest

OPERATOR = system_actor("tests")


@pytest.fixture
def idle(services: Services) -> Services:
    """Services whose wake-ups are listening and hold no announcement yet."""
    services.job_handlers.register("test.noop", lambda _context: None)
    # Postgres reports once when its listener connects (whatever was missed before): drain it.
    while services.jobs.wait_for_due_jobs(0.3):
        pass
    return services


def woken_by(services: Services, action: object, timeout: float = 5.0) -> tuple[bool, float]:
    """Wait for due jobs in a thread while ``action`` runs; (woken, seconds from the action's end)."""
    outcome: dict[str, float | bool] = {}
    waiting = threading.Event()

    def waiter() -> None:
        waiting.set()
        outcome["woken"] = services.jobs.wait_for_due_jobs(timeout)
        outcome["at"] = time.monotonic()

    thread = threading.Thread(target=waiter)
    thread.start()
    waiting.wait()
    assert callable(action)
    action()
    done = time.monotonic()
    thread.join()
    return bool(outcome["woken"]), float(outcome["at"]) - done


def test_an_enqueue_of_a_due_job_wakes_a_waiting_worker(idle: Services) -> None:
    # When
    woken, after = woken_by(idle, lambda: idle.jobs.enqueue("test.noop"))
    # Then: at once, not at the end of the wait
    assert woken
    assert after < 2.0


def test_a_batch_and_a_transactional_enqueue_wake_a_waiting_worker(idle: Services) -> None:
    # When: a batch
    batch, _ = woken_by(idle, lambda: idle.jobs.enqueue_many([JobRequest(job_type="test.noop")] * 3))

    # And: an enqueue inside the caller's transaction
    def in_transaction() -> None:
        with idle.uow.transaction():
            idle.jobs.enqueue("test.noop", idempotency_key="joined")

    joined, _ = woken_by(idle, in_transaction)
    # Then
    assert batch and joined


def test_a_job_due_later_wakes_nobody(idle: Services) -> None:
    # When
    woken, _ = woken_by(idle, lambda: idle.jobs.enqueue("test.noop", delay=timedelta(minutes=5)), timeout=0.5)
    # Then: the poll finds it when it is due
    assert not woken


def test_an_announcement_made_between_waits_wakes_the_next_wait(idle: Services) -> None:
    # Given an enqueue while nobody waits
    idle.jobs.enqueue("test.noop")
    # Then the next wait returns at once, and only that one
    assert idle.jobs.wait_for_due_jobs(5.0)
    assert not idle.jobs.wait_for_due_jobs(0.3)


def test_replaying_dead_letters_wakes_a_waiting_worker(idle: Services) -> None:
    # Given a dead job
    job_id = idle.jobs.enqueue("test.noop", max_attempts=1)
    (claimed,) = idle.jobs.claim(1)
    idle.jobs.fail(claimed, "boom")
    assert idle.jobs.get(OPERATOR, job_id).status.value == "dead"
    while idle.jobs.wait_for_due_jobs(0.3):
        pass
    # When / Then
    woken, _ = woken_by(idle, lambda: idle.jobs.replay_dead_letters(OPERATOR, idle.jobs.dead_letter_filter()))
    assert woken
