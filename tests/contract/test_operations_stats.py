"""The cheap reads behind metrics and the console, on both adapters: job stats and the outbox backlog."""

from __future__ import annotations

from datetime import timedelta

from townsquare.bootstrap import Services
from townsquare.core.clock import ManualClock
from townsquare.core.identity import Actor, system_actor
from townsquare.core.jobs import POISON_TEST_JOB, JobRunner, JobStatus

OPERATOR = system_actor("tests")


SENDER = Actor("test-sender", roles=["service"])
WORKER = system_actor("tests")


def test_stats_estimate_counts_a_small_queue_exactly(services: Services, clock: ManualClock) -> None:
    # Given jobs in every status
    services.job_handlers.register("test.noop", lambda _context: None)
    jobs = services.jobs
    for _ in range(3):
        jobs.enqueue("test.noop")
    jobs.enqueue(POISON_TEST_JOB, {"fail": True}, max_attempts=1)
    JobRunner(jobs, services.job_handlers).run_due()
    clock.advance(timedelta(seconds=40))
    jobs.enqueue("test.noop")
    jobs.enqueue("test.noop")
    jobs.claim(1)
    # When
    estimate = jobs.stats_estimate(OPERATOR)
    # Then it is the exact stats
    assert estimate == jobs.stats(OPERATOR)
    assert not estimate.estimated
    # (run_due also ran the periodic jobs it found due: completed holds those too)
    assert (estimate.by_status[JobStatus.RUNNING], estimate.by_status[JobStatus.DEAD]) == (1, 1)
    assert estimate.by_status[JobStatus.COMPLETED] >= 3
    assert estimate.dead_letters == 1
    assert estimate.oldest_due_age == timedelta(0)


def test_the_outbox_backlog_counts_pending_mail_and_its_age(services: Services, clock: ManualClock) -> None:
    # Given an empty outbox
    notifications = services.notifications
    assert notifications.outbox_backlog(WORKER).pending == 0
    assert notifications.outbox_backlog(WORKER).oldest_age == timedelta(0)
    # When two emails wait for 90 s
    notifications.trust_email_address(SENDER, "alice", "alice@example.com")
    for title in ("one", "two"):
        notifications.send(SENDER, "alice", "email", "order", title=title)
    clock.advance(timedelta(seconds=90))
    # Then the backlog says so, up to the cap
    backlog = notifications.outbox_backlog(WORKER)
    assert (backlog.pending, backlog.oldest_age) == (2, timedelta(seconds=90))
    assert notifications.outbox_backlog(WORKER, cap=1).pending == 1
    # When the sweep hands them to delivery jobs, the backlog is empty
    notifications.process_outbox(WORKER)
    assert notifications.outbox_backlog(WORKER).pending == 0
