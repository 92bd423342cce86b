"""The reports demo of mock mode: carol's glazing evening gives a dashboard with every kind of figure,
the same after a reset, and seeding again adds nothing."""

from __future__ import annotations

from tests.conftest import memory_settings

from townsquare.bootstrap import bootstrap
from townsquare.core.identity import Actor
from townsquare.demo import seed_demo_data
from townsquare.demo.reports import EVENT_ID


def test_the_demo_dashboard_has_sales_captures_a_refund_and_a_hold_and_is_stable() -> None:
    services = bootstrap(memory_settings())
    carol = Actor("carol")
    try:
        seen = []
        for run in range(3):
            if run == 2:
                services.reset()
            seed_demo_data(services)  # the second run seeds again over the first
            stats = services.reports.event_stats(carol, EVENT_ID)
            (money,) = stats.money
            seen.append(stats)
            assert {k: v for k, v in stats.registrations.items() if v} == {"confirmed": 6, "reserved": 1}
            assert stats.tickets == 10
            assert (money.currency, money.gross, money.captured, money.refunded, money.net, money.pending) == (
                "GBP",
                32_200,
                23_800,
                1_000,
                22_800,
                8_400,
            )
            assert {each.type_id: each.held for each in stats.capacity} == {"standard": 9, "kiln": 3}
        assert seen[0] == seen[1] == seen[2]
        # and the demo users' own pages are unchanged by it: no registration of alice's or bob's
        where = services.reports.registration_filter(carol, event_id=EVENT_ID)
        page = services.reports.registrations(carol, where, limit=100).registrations
        assert {each.attendee_id for each in page} & {"alice", "bob"} == set()
    finally:
        services.close()
