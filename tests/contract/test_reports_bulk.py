"""Bulk refunds and cancellations, on both adapters: a dry run first (count and exact sum, nothing
changed), a job that refunds each registration once, reruns that change nothing, progress while it
runs, failures reported without stopping the rest, and the refusals (no filter, unknown kind,
another producer's)."""

from __future__ import annotations

from collections import Counter

import pytest
from tests.contract.test_reports import ALICE, BOB, OTHER, PRODUCER, bought, capture, make_event

from townsquare.bootstrap import Services
from townsquare.core.clock import ManualClock
from townsquare.core.earnings.models import TimelineFilter
from townsquare.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from townsquare.core.events import Registration, RegistrationStatus
from townsquare.core.identity import Actor
from townsquare.core.jobs import JobRunner, JobStatus
from townsquare.core.reports import BULK_ACTION
from townsquare.core.reports import bulk as reports_bulk


def run_due_jobs(services: Services) -> None:
    JobRunner(services.jobs, services.job_handlers).run_due()


def ledger_refunds(services: Services, producer: Actor = PRODUCER) -> Counter[str]:
    """How many refunds and voids each earning of the producer has in the ledger."""
    counts: Counter[str] = Counter()
    cursor = None
    while True:
        page = services.earnings.timeline(
            producer, producer.user_id, TimelineFilter(types=["refund", "void"]), cursor=cursor, limit=100
        )
        counts.update(each.earning_id for each in page.events)
        if page.next_cursor is None:
            return counts
        cursor = page.next_cursor


def paid_registrations(services: Services, count: int) -> list[Registration]:
    made = []
    for n in range(count):
        registration = bought(services, Actor(f"fan-{n}"), f"k{n}", quantity=1 + n % 2)
        capture(services, registration)
        made.append(registration)
    return made


def test_a_bulk_action_is_worked_by_one_job_per_range_and_finished_by_the_last(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given seven paid registrations and ranges of three items
    monkeypatch.setattr(reports_bulk, "ITEMS_PER_PART", 3)
    make_event(services)
    made = paid_registrations(services, 7)
    where = services.reports.registration_filter(PRODUCER, event_id="jazz")
    # When the bulk refund starts
    started = services.reports.start_bulk(PRODUCER, "refund", where, reason="storm", idempotency_key="parts")
    action_id = started.action.action_id
    # Then it queued one job per range: 3 + 2 + 2 items
    admin = Actor("root", roles=["admin"])
    queued = services.jobs.list_jobs(admin, JobStatus.PENDING, job_type=BULK_ACTION).jobs
    assert sorted(tuple(job.payload["positions"]) for job in queued) == [(1, 3), (4, 5), (6, 7)]
    assert {job.payload["action_id"] for job in queued} == {action_id}
    # When the ranges run one by one (the middle one first, then again), progress shows in between
    assert services.reports.run_bulk(action_id, positions=(4, 5)).pending == 5
    assert services.reports.run_bulk(action_id, positions=(4, 5)).pending == 5  # a rerun: a no-op
    assert not services.reports.bulk_report(PRODUCER, action_id).finished
    assert services.reports.run_bulk(action_id, positions=(6, 7)).pending == 3
    assert not services.reports.bulk_report(PRODUCER, action_id).finished
    assert services.reports.run_bulk(action_id, positions=(1, 3)).pending == 0
    # Then the last one finished the action, and each registration has one refund
    report = services.reports.bulk_report(PRODUCER, action_id)
    assert (report.progress.done, report.progress.pending, report.finished) == (7, 0, True)
    assert sorted(ledger_refunds(services).values()) == [1] * len(made)
    # and the queued jobs (run now) change nothing
    run_due_jobs(services)
    assert sorted(ledger_refunds(services).values()) == [1] * len(made)


def test_a_dry_run_counts_and_sums_and_changes_nothing(services: Services) -> None:
    # Given five paid registrations (2,500 or 5,000 each), one of them partly refunded, and a live hold
    make_event(services)
    made = paid_registrations(services, 5)
    services.events.refund(PRODUCER, made[0].registration_id, reason="r", idempotency_key="p", amount=1_000)
    services.events.reserve(ALICE, "jazz", "standard", 1, idempotency_key="hold")
    where = services.reports.registration_filter(PRODUCER, event_id="jazz")
    before = services.reports.registrations(PRODUCER, where, limit=100).registrations
    # When the producer previews a bulk refund and a bulk cancel
    refund = services.reports.preview_bulk(PRODUCER, "refund", where)
    cancel = services.reports.preview_bulk(PRODUCER, "cancel", where)
    # Then the refund takes the confirmed ones with what remains of each; the cancel the hold too
    totals = [each.price.total for each in made]
    assert (refund.count, refund.amounts) == (5, {"EUR": sum(totals) - 1_000})
    assert (cancel.count, cancel.amounts) == (6, {"EUR": sum(totals) - 1_000})
    # and nothing changed
    assert services.reports.registrations(PRODUCER, where, limit=100).registrations == before
    assert services.jobs.list_jobs(Actor("root", roles=["admin"]), JobStatus.PENDING, job_type=BULK_ACTION).jobs == []


def test_a_bulk_refund_refunds_each_registration_once_and_a_rerun_changes_nothing(services: Services) -> None:
    # Given six paid, captured registrations of two types
    make_event(services)
    made = paid_registrations(services, 6)
    vip = bought(services, BOB, "vip", type_id="vip")
    capture(services, vip)
    where = services.reports.registration_filter(PRODUCER, event_id="jazz", type_id="standard")
    planned = services.reports.preview_bulk(PRODUCER, "refund", where)
    # When the producer starts the bulk refund and the worker runs it
    started = services.reports.start_bulk(PRODUCER, "refund", where, reason="venue closed", idempotency_key="b1")
    assert (started.action.total, started.action.amounts, started.progress.pending) == (6, planned.amounts, 6)
    run_due_jobs(services)
    # Then every standard registration is refunded, once, in the ledger; the VIP one is untouched
    report = services.reports.bulk_report(PRODUCER, started.action.action_id)
    assert (report.progress.done, report.progress.failed, report.progress.pending, report.finished) == (6, 0, 0, True)
    assert report.action.finished_at is not None
    for each in made:
        assert services.events.get_registration(PRODUCER, each.registration_id).status is RegistrationStatus.REFUNDED
    refunds = ledger_refunds(services)
    assert sorted(refunds.values()) == [1] * 6 and vip.earning_id not in refunds
    (summary,) = services.earnings.summary(PRODUCER, PRODUCER.user_id)
    assert summary.refunded == planned.amounts["EUR"]
    # When it runs again, and is started again with the same key
    assert services.reports.run_bulk(started.action.action_id).done == 6
    again = services.reports.start_bulk(PRODUCER, "refund", where, reason="venue closed", idempotency_key="b1")
    assert again.action.action_id == started.action.action_id
    run_due_jobs(services)
    # Then nothing more is refunded
    assert ledger_refunds(services) == refunds
    # and the same key for another bulk action is a conflict
    with pytest.raises(Conflict) as conflict:
        services.reports.start_bulk(PRODUCER, "cancel", where, reason="venue closed", idempotency_key="b1")
    assert conflict.value.field == "idempotency_key"


def test_a_failure_is_reported_and_the_others_go_on(services: Services) -> None:
    # Given four paid registrations, one of which is refunded by hand after the bulk action was made
    make_event(services)
    made = paid_registrations(services, 4)
    where = services.reports.registration_filter(PRODUCER, event_id="jazz")
    started = services.reports.start_bulk(PRODUCER, "refund", where, reason="rain", idempotency_key="b1")
    services.events.refund(PRODUCER, made[1].registration_id, reason="by hand", idempotency_key="h")
    # When the job runs
    run_due_jobs(services)
    # Then the other three are refunded and the one is reported with its reason
    report = services.reports.bulk_report(PRODUCER, started.action.action_id)
    assert (report.progress.done, report.progress.failed, report.progress.pending) == (3, 1, 0)
    (failure,) = report.progress.failures
    assert failure.registration_id == made[1].registration_id
    assert "no payment to refund" in failure.error
    assert sorted(ledger_refunds(services).values()) == [1, 1, 1, 1]  # the hand refund and three bulk ones


def test_progress_is_visible_while_it_runs(services: Services) -> None:
    make_event(services)
    paid_registrations(services, 4)
    where = services.reports.registration_filter(PRODUCER, status="confirmed")
    started = services.reports.start_bulk(PRODUCER, "refund", where, reason="rain", idempotency_key="b1")
    seen: list[tuple[int, int]] = []

    def look() -> None:
        progress = services.reports.bulk_report(PRODUCER, started.action.action_id).progress
        seen.append((progress.done, progress.pending))

    services.reports.run_bulk(started.action.action_id, heartbeat=look)
    assert seen == [(0, 4), (1, 3), (2, 2), (3, 1), (4, 0)]


def test_a_bulk_cancel_releases_holds_and_refunds_the_paid(services: Services, clock: ManualClock) -> None:
    make_event(services)
    paid = bought(services, ALICE, "a1", quantity=2)  # pending: its cancellation voids it
    held = services.events.reserve(BOB, "jazz", "standard", 3, idempotency_key="h1")
    where = services.reports.registration_filter(PRODUCER, event_id="jazz")
    started = services.reports.start_bulk(PRODUCER, "cancel", where, reason="called off", idempotency_key="c1")
    assert (started.action.total, started.action.amounts) == (2, {"EUR": 5_000})
    run_due_jobs(services)
    assert services.events.get_registration(PRODUCER, paid.registration_id).status is RegistrationStatus.CANCELLED
    assert services.events.get_registration(PRODUCER, held.registration_id).status is RegistrationStatus.CANCELLED
    assert services.events.availability(PRODUCER, "jazz")["standard"] == 500
    (summary,) = services.earnings.summary(PRODUCER, PRODUCER.user_id)
    assert (summary.voided, summary.pending) == (5_000, 0)
    assert services.reports.bulk_report(PRODUCER, started.action.action_id).progress.done == 2


def test_refusals_name_the_field_and_change_nothing(services: Services) -> None:
    make_event(services)
    paid_registrations(services, 2)
    everything = services.reports.registration_filter(PRODUCER)
    for refused in (
        lambda: services.reports.preview_bulk(PRODUCER, "refund", everything),
        lambda: services.reports.start_bulk(PRODUCER, "refund", everything, reason="r", idempotency_key="k"),
    ):
        with pytest.raises(InvalidInput) as no_filter:
            refused()
        assert no_filter.value.field == "filter"
    narrowed = services.reports.registration_filter(PRODUCER, event_id="jazz")
    with pytest.raises(InvalidInput) as unknown:
        services.reports.start_bulk(PRODUCER, "delete", narrowed, reason="r", idempotency_key="k")
    assert unknown.value.field == "kind"
    with pytest.raises(InvalidInput) as no_reason:
        services.reports.start_bulk(PRODUCER, "refund", narrowed, reason=" ", idempotency_key="k")
    assert no_reason.value.field == "reason"
    with pytest.raises(Forbidden):
        services.reports.start_bulk(OTHER, "refund", narrowed, reason="r", idempotency_key="k")
    with pytest.raises(NotFound):
        services.reports.registration_filter(OTHER, event_id="jazz")
    assert services.jobs.list_jobs(Actor("root", roles=["admin"]), JobStatus.PENDING, job_type=BULK_ACTION).jobs == []
    assert ledger_refunds(services) == Counter()
    started = services.reports.start_bulk(PRODUCER, "refund", narrowed, reason="r", idempotency_key="k")
    with pytest.raises(NotFound) as missing:
        services.reports.bulk_report(OTHER, started.action.action_id)
    assert missing.value.field == "action_id"
    # an admin acts for one producer, naming them
    admin = Actor("root", roles=["admin"])
    theirs = services.reports.registration_filter(admin, producer_id=PRODUCER.user_id, event_id="jazz")
    assert services.reports.preview_bulk(admin, "refund", theirs).count == 2
    assert services.reports.bulk_report(admin, started.action.action_id).action.producer_id == PRODUCER.user_id
