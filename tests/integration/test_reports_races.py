"""Real races on Postgres: two workers running the same bulk refund refund each registration once,
also when every item is worked on again (as after a crash that lost the items' marks)."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import postgres_settings
from tests.contract.test_reports import PRODUCER, make_event
from tests.contract.test_reports_bulk import ledger_refunds, paid_registrations
from tests.integration.test_events_races import race_services, run_together
from townsquare.core.clock import ManualClock
from townsquare.core.events import RegistrationStatus
from townsquare.core.reports import BulkProgress

pytestmark = pytest.mark.postgres
COUNT = 60


def test_two_workers_on_one_bulk_refund_refund_each_registration_once(pg_url: str, clock: ManualClock) -> None:
    # Given 60 paid, captured registrations and a bulk refund of them
    services = race_services(pg_url, clock)
    try:
        make_event(services)
        made = paid_registrations(services, COUNT)
        where = services.reports.registration_filter(PRODUCER, event_id="jazz")
        action_id = services.reports.start_bulk(
            PRODUCER, "refund", where, reason="storm", idempotency_key="b1"
        ).action.action_id
        finished: list[BulkProgress] = []

        # When two workers run it at once
        run_together(2, lambda _n: finished.append(services.reports.run_bulk(action_id)))

        # Then each registration has exactly one refund in the ledger, and every item is done once
        assert sorted(ledger_refunds(services).values()) == [1] * COUNT
        assert all(
            services.events.get_registration(PRODUCER, each.registration_id).status is RegistrationStatus.REFUNDED
            for each in made
        )
        report = services.reports.bulk_report(PRODUCER, action_id).progress
        assert (report.done, report.failed, report.pending) == (COUNT, 0, 0)
        assert len(finished) == 2

        # When every item is marked pending again (the marks lost) and two workers race over them again
        engine = create_engine(postgres_settings(pg_url).database_url)
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE bulk_action_items SET state = 'pending', finished_at = NULL WHERE action_id = :a"),
                {"a": action_id},
            )
        engine.dispose()
        run_together(2, lambda _n: services.reports.run_bulk(action_id))

        # Then the refunds' idempotency keys still give one refund each
        assert sorted(ledger_refunds(services).values()) == [1] * COUNT
        (summary,) = services.earnings.summary(PRODUCER, PRODUCER.user_id)
        assert summary.refunded == sum(each.price.total for each in made)
        assert services.reports.bulk_report(PRODUCER, action_id).progress.done == COUNT
    finally:
        services.close()


def test_the_ranges_of_one_bulk_refund_run_at_once_each_twice_refund_each_registration_once(
    pg_url: str, clock: ManualClock
) -> None:
    # Given 60 paid registrations and a bulk refund of them in three ranges
    services = race_services(pg_url, clock)
    try:
        make_event(services)
        made = paid_registrations(services, COUNT)
        where = services.reports.registration_filter(PRODUCER, event_id="jazz")
        action_id = services.reports.start_bulk(
            PRODUCER, "refund", where, reason="storm", idempotency_key="ranges"
        ).action.action_id
        ranges = [(1, 20), (21, 40), (41, 60)]

        # When six workers run them at once, two on each range
        def work(n: int) -> None:
            services.reports.run_bulk(action_id, positions=ranges[n % 3])

        run_together(6, work)

        # Then each registration has exactly one refund, every item is done and the action finished
        assert sorted(ledger_refunds(services).values()) == [1] * COUNT
        report = services.reports.bulk_report(PRODUCER, action_id)
        assert (report.progress.done, report.progress.failed, report.progress.pending) == (COUNT, 0, 0)
        assert report.finished
        (summary,) = services.earnings.summary(PRODUCER, PRODUCER.user_id)
        assert summary.refunded == sum(each.price.total for each in made)
    finally:
        services.close()
