"""The job controls contract (cancel, pause/resume, per-type limits, bulk dead-letter replay and
discard) on every JobStore adapter, through JobService."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from townsquare.bootstrap import Services
from townsquare.core.clock import ManualClock
from townsquare.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from townsquare.core.identity import Actor, system_actor
from townsquare.core.jobs import JobCancelled, JobStatus, LeaseLost, TypeControl

OPERATOR = system_actor("tests")


ADMIN = Actor("ops-1", roles={"admin"})
USER = Actor("alice")


@pytest.fixture
def jobs_services(services: Services) -> Services:
    for job_type in ("test.noop", "test.mail", "test.report"):
        services.job_handlers.register(job_type, lambda _context: None)
    return services


def kill(services: Services, job_type: str, error: str) -> int:
    """Enqueue a job of ``job_type`` and let its only attempt fail with ``error``."""
    jobs = services.jobs
    job_id = jobs.enqueue(job_type, max_attempts=1)
    claimed = [job for job in jobs.claim(100) if job.id == job_id]
    assert len(claimed) == 1
    assert jobs.fail(claimed[0], error)
    assert jobs.get(OPERATOR, job_id).status is JobStatus.DEAD
    return job_id


# -- cancel ----------------------------------------------------------------------------


def test_a_cancelled_pending_job_never_runs(jobs_services: Services, clock: ManualClock) -> None:
    # Given
    jobs = jobs_services.jobs
    job_id = jobs.enqueue("test.noop")
    other = jobs.enqueue("test.noop")
    # When
    cancelled = jobs.cancel(ADMIN, job_id)
    # Then
    assert cancelled.status is JobStatus.CANCELLED and cancelled.finished_at == clock.now()
    assert [job.id for job in jobs.claim(10)] == [other]
    assert jobs.stats(OPERATOR).by_status[JobStatus.CANCELLED] == 1


def test_a_cancelled_running_job_learns_it_at_its_heartbeat_and_its_late_reports_are_fenced(
    jobs_services: Services,
) -> None:
    # Given a job running under a lease
    jobs = jobs_services.jobs
    job_id = jobs.enqueue("test.noop")
    (claimed,) = jobs.claim(1)
    assert jobs.start([claimed.lease]) == {job_id}
    # When an admin cancels it
    assert jobs.cancel(ADMIN, job_id).status is JobStatus.CANCELLED
    # Then its next heartbeat says so, and nothing it reports overwrites `cancelled`
    with pytest.raises(JobCancelled):
        jobs.heartbeat(claimed.lease)
    assert jobs.complete([claimed.lease]) == 0
    assert not jobs.fail(claimed, "RuntimeError: stopped")
    job = jobs.get(OPERATOR, job_id)
    assert job.status is JobStatus.CANCELLED and job.lease_expires_at is None and job.last_error is None
    assert jobs.claim(10) == []


def test_a_claimed_job_cancelled_before_it_began_is_not_started(jobs_services: Services) -> None:
    # Given
    jobs = jobs_services.jobs
    job_id = jobs.enqueue("test.noop")
    (claimed,) = jobs.claim(1)
    # When
    jobs.cancel(ADMIN, job_id)
    # Then the worker's start finds it gone
    assert jobs.start([claimed.lease]) == set()
    assert jobs.release([claimed.lease]) == 0


def test_a_lease_lost_otherwise_is_not_reported_as_cancelled(jobs_services: Services, clock: ManualClock) -> None:
    # Given a run whose lease expired and was rescued
    jobs = jobs_services.jobs
    jobs.enqueue("test.noop")
    (claimed,) = jobs.claim(1)
    clock.advance(timedelta(minutes=6))
    jobs.rescue_stranded_jobs()
    # When / Then
    with pytest.raises(LeaseLost) as raised:
        jobs.heartbeat(claimed.lease)
    assert not isinstance(raised.value, JobCancelled)


def test_cancelling_a_finished_job_is_a_conflict_and_changes_nothing(jobs_services: Services) -> None:
    # Given a completed, a dead and a cancelled job
    jobs = jobs_services.jobs
    done = jobs.enqueue("test.noop")
    (claimed,) = jobs.claim(1)
    jobs.complete([claimed.lease])
    dead = kill(jobs_services, "test.noop", "boom")
    cancelled = jobs.enqueue("test.noop")
    jobs.cancel(ADMIN, cancelled)
    for job_id in (done, dead, cancelled):
        before = jobs.get(OPERATOR, job_id)
        # When / Then
        with pytest.raises(Conflict) as raised:
            jobs.cancel(ADMIN, job_id)
        assert raised.value.field == "job_id"
        assert jobs.get(OPERATOR, job_id) == before
    with pytest.raises(NotFound):
        jobs.cancel(ADMIN, 999_999)


def test_cancelled_jobs_are_pruned_after_the_retention(jobs_services: Services, clock: ManualClock) -> None:
    # Given
    jobs = jobs_services.jobs
    job_id = jobs.enqueue("test.noop")
    jobs.cancel(ADMIN, job_id)
    # When / Then
    assert jobs.prune() == 0
    clock.advance(jobs.retention + timedelta(seconds=1))
    assert jobs.prune() == 1
    with pytest.raises(NotFound):
        jobs.get(OPERATOR, job_id)


# -- pause / resume --------------------------------------------------------------------


def test_a_paused_type_is_not_claimed_until_resumed(jobs_services: Services) -> None:
    # Given
    jobs = jobs_services.jobs
    mail = [jobs.enqueue("test.mail", priority=-1) for _ in range(3)]
    noop = jobs.enqueue("test.noop")
    # When
    control = jobs.pause(ADMIN, "test.mail")
    # Then
    assert control == TypeControl(job_type="test.mail", paused=True)
    assert [job.id for job in jobs.claim(10)] == [noop]
    assert jobs.pause(ADMIN, "test.mail") == control  # idempotent
    # When
    assert jobs.resume(ADMIN, "test.mail") == TypeControl(job_type="test.mail")
    # Then
    assert [job.id for job in jobs.claim(10)] == mail


def test_pausing_leaves_running_jobs_alone(jobs_services: Services) -> None:
    # Given
    jobs = jobs_services.jobs
    job_id = jobs.enqueue("test.mail")
    (claimed,) = jobs.claim(1)
    # When
    jobs.pause(ADMIN, "test.mail")
    # Then
    jobs.heartbeat(claimed.lease)
    assert jobs.complete([claimed.lease]) == 1
    assert jobs.get(OPERATOR, job_id).status is JobStatus.COMPLETED


def test_type_controls_list_every_registered_type(jobs_services: Services) -> None:
    # Given
    jobs = jobs_services.jobs
    jobs.pause(ADMIN, "test.mail")
    jobs.set_limit(ADMIN, "test.report", 2)
    # When
    controls = {control.job_type: control for control in jobs.type_controls(ADMIN)}
    # Then
    assert set(controls) == set(jobs_services.job_handlers.job_types)
    assert controls["test.mail"] == TypeControl(job_type="test.mail", paused=True)
    assert controls["test.report"] == TypeControl(job_type="test.report", max_running=2)
    assert controls["test.noop"] == TypeControl(job_type="test.noop")
    # And a paused type keeps its limit through a resume; removing both leaves the default
    jobs.pause(ADMIN, "test.report")
    assert jobs.resume(ADMIN, "test.report") == TypeControl(job_type="test.report", max_running=2)
    assert jobs.set_limit(ADMIN, "test.report", None) == TypeControl(job_type="test.report")


def test_unknown_or_malformed_types_cannot_be_controlled(jobs_services: Services) -> None:
    jobs = jobs_services.jobs
    for operation in (jobs.pause, jobs.resume):
        with pytest.raises(NotFound) as missing:
            operation(ADMIN, "no.such.type")
        assert missing.value.field == "job_type"
        with pytest.raises(InvalidInput) as bad:
            operation(ADMIN, "Bad Type!")
        assert bad.value.field == "job_type"
    with pytest.raises(NotFound):
        jobs.set_limit(ADMIN, "no.such.type", 1)
    assert all(control.is_default for control in jobs.type_controls(ADMIN))


# -- per-type limits -------------------------------------------------------------------


def test_a_limited_type_is_claimed_only_up_to_its_limit(jobs_services: Services) -> None:
    # Given five reports ahead of two mails, reports limited to 2 at once
    jobs = jobs_services.jobs
    reports = [jobs.enqueue("test.report", priority=-5) for _ in range(5)]
    mails = [jobs.enqueue("test.mail") for _ in range(2)]
    jobs.set_limit(ADMIN, "test.report", 2)
    # When
    first = jobs.claim(10)
    # Then two reports, then the mails: the limited type does not hold the others back
    assert [job.id for job in first] == reports[:2] + mails
    assert jobs.claim(10) == []
    # When one report finishes, one more may run
    jobs.complete([first[0].lease])
    assert [job.id for job in jobs.claim(10)] == [reports[2]]
    # When the limit is raised
    jobs.set_limit(ADMIN, "test.report", 4)
    assert [job.id for job in jobs.claim(10)] == reports[3:]


def test_a_lower_limit_holds_back_claims_until_enough_finish(jobs_services: Services) -> None:
    # Given three reports running
    jobs = jobs_services.jobs
    for _ in range(5):
        jobs.enqueue("test.report")
    running = jobs.claim(3)
    # When the limit drops below what runs
    jobs.set_limit(ADMIN, "test.report", 1)
    # Then nothing more is claimed until only... fewer than one run
    assert jobs.claim(10) == []
    jobs.complete([running[0].lease, running[1].lease])
    assert jobs.claim(10) == []
    jobs.complete([running[2].lease])
    assert len(jobs.claim(10)) == 1


def test_limits_and_the_running_cap_both_hold(jobs_services: Services) -> None:
    # Given
    jobs = jobs_services.jobs
    for _ in range(4):
        jobs.enqueue("test.report")
        jobs.enqueue("test.noop")
    jobs.set_limit(ADMIN, "test.report", 3)
    # When claiming with a total cap of 5
    claimed = jobs.claim(10, max_running=5)
    # Then
    assert len(claimed) == 5 and sum(job.job_type == "test.report" for job in claimed) <= 3


@pytest.mark.parametrize("value", [0, -1, 10_001, True, 1.5, "2"])
def test_bad_limits_are_refused(jobs_services: Services, value: object) -> None:
    with pytest.raises(InvalidInput) as raised:
        jobs_services.jobs.set_limit(ADMIN, "test.report", value)  # type: ignore[arg-type]
    assert raised.value.field == "max_running"
    assert all(control.is_default for control in jobs_services.jobs.type_controls(ADMIN))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(
    limit=st.integers(1, 4),
    batch=st.integers(1, 8),
    plan=st.lists(st.tuples(st.sampled_from(["test.report", "test.mail"]), st.integers(-1, 1)), max_size=12),
)
def test_claims_never_exceed_a_limit(
    jobs_services: Services, limit: int, batch: int, plan: list[tuple[str, int]]
) -> None:
    # Given an empty queue (each example finishes what it queued)
    jobs = jobs_services.jobs
    jobs.set_limit(ADMIN, "test.report", limit)
    for job_type, priority in plan:
        jobs.enqueue(job_type, priority=priority)
    # When claiming in batches until nothing is due, finishing nothing
    claimed = []
    while batch_claimed := jobs.claim(batch):
        claimed += batch_claimed
    # Then the limit held, and every mail was claimed
    assert sum(job.job_type == "test.report" for job in claimed) == min(limit, sum(t == "test.report" for t, _ in plan))
    assert sum(job.job_type == "test.mail" for job in claimed) == sum(t == "test.mail" for t, _ in plan)
    # And once the limit is lifted the rest are claimed
    jobs.set_limit(ADMIN, "test.report", None)
    claimed += jobs.claim(100)
    assert len(claimed) == len(plan)
    jobs.complete([job.lease for job in claimed])


# -- bulk replay / discard -------------------------------------------------------------


def test_bulk_replay_by_type_error_text_and_time(jobs_services: Services, clock: ManualClock) -> None:
    # Given dead letters of two types, two errors, at two times
    jobs = jobs_services.jobs
    early_timeout = kill(jobs_services, "test.mail", "TimeoutError: SMTP timed out")
    early_refused = kill(jobs_services, "test.mail", "ConnectionRefusedError: refused")
    clock.advance(timedelta(hours=1))
    late_mail = kill(jobs_services, "test.mail", "TimeoutError: SMTP TIMED OUT again")
    late_report = kill(jobs_services, "test.report", "TimeoutError: slow query")
    cutoff = clock.now() - timedelta(minutes=30)
    # When replaying mail timeouts (any ASCII case) that died after the cutoff
    dead = jobs.dead_letter_filter(job_type="test.mail", error_contains="timed out", dead_since=cutoff)
    # Then only that one is replayed
    assert jobs.replay_dead_letters(ADMIN, dead) == 1
    replayed = jobs.get(OPERATOR, late_mail)
    assert replayed.status is JobStatus.PENDING and replayed.attempts == 0 and replayed.run_at == clock.now()
    assert len(replayed.errors) == 1
    # When replaying every timeout that died before the cutoff
    assert jobs.replay_dead_letters(ADMIN, jobs.dead_letter_filter(error_contains="TIMEOUT", dead_until=cutoff)) == 1
    assert jobs.get(OPERATOR, early_timeout).status is JobStatus.PENDING
    # Then the others are still dead letters
    assert {job.id for job in jobs.dead_letters(OPERATOR).jobs} == {early_refused, late_report}


def test_bulk_discard_deletes_matching_dead_letters_and_frees_their_keys(jobs_services: Services) -> None:
    # Given
    jobs = jobs_services.jobs
    keyed = jobs.enqueue("test.mail", max_attempts=1, idempotency_key="receipt:7")
    (claimed,) = jobs.claim(1)
    jobs.fail(claimed, "ValueError: bad address")
    other = kill(jobs_services, "test.report", "ValueError: bad report")
    pending = jobs.enqueue("test.mail")
    # When
    count = jobs.discard_dead_letters(ADMIN, jobs.dead_letter_filter(job_type="test.mail"))
    # Then
    assert count == 1
    with pytest.raises(NotFound):
        jobs.get(OPERATOR, keyed)
    assert (
        jobs.get(OPERATOR, other).status is JobStatus.DEAD and jobs.get(OPERATOR, pending).status is JobStatus.PENDING
    )
    assert jobs.enqueue("test.mail", idempotency_key="receipt:7") != keyed
    # And an empty filter means every dead letter
    assert jobs.discard_dead_letters(ADMIN, jobs.dead_letter_filter()) == 1
    assert jobs.stats(OPERATOR).dead_letters == 0
    assert jobs.replay_dead_letters(ADMIN, jobs.dead_letter_filter()) == 0


def test_bad_bulk_filters_are_refused(jobs_services: Services) -> None:
    jobs = jobs_services.jobs
    now = datetime(2026, 1, 1, tzinfo=UTC)
    cases: list[tuple[dict[str, object], str]] = [
        ({"job_type": "Bad Type!"}, "job_type"),
        ({"error_contains": ""}, "error_contains"),
        ({"error_contains": "x" * 201}, "error_contains"),
        ({"error_contains": "nul\x00"}, "error_contains"),
        ({"dead_since": datetime(2026, 1, 1)}, "dead_since"),  # naive
        ({"dead_until": datetime(2026, 1, 1)}, "dead_until"),
        ({"dead_since": now, "dead_until": now - timedelta(seconds=1)}, "dead_until"),
    ]
    for kwargs, field in cases:
        with pytest.raises(InvalidInput) as raised:
            jobs.dead_letter_filter(**kwargs)  # type: ignore[arg-type]
        assert raised.value.field == field, kwargs


# -- roles -----------------------------------------------------------------------------


def test_controls_need_the_admin_role_and_change_nothing_otherwise(jobs_services: Services) -> None:
    # Given
    jobs = jobs_services.jobs
    dead = kill(jobs_services, "test.mail", "boom")
    job_id = jobs.enqueue("test.noop")
    everything = jobs.dead_letter_filter()
    # When / Then
    for attempt in (
        lambda: jobs.cancel(USER, job_id),
        lambda: jobs.pause(USER, "test.noop"),
        lambda: jobs.resume(USER, "test.noop"),
        lambda: jobs.set_limit(USER, "test.noop", 1),
        lambda: jobs.type_controls(USER),
        lambda: jobs.replay_dead_letters(USER, everything),
        lambda: jobs.discard_dead_letters(USER, everything),
        lambda: jobs.replay(USER, dead),
        lambda: jobs.get(USER, job_id),
        lambda: jobs.list_jobs(USER, JobStatus.PENDING),
        lambda: jobs.dead_letters(USER),
        lambda: jobs.dead_letter(USER, dead),
        lambda: jobs.stats(USER),
        lambda: jobs.stats_estimate(USER),
    ):
        with pytest.raises(Forbidden):
            attempt()
    assert jobs.get(OPERATOR, job_id).status is JobStatus.PENDING and jobs.get(OPERATOR, dead).status is JobStatus.DEAD
    assert all(control.is_default for control in jobs.type_controls(ADMIN))
