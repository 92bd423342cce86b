"""Real races on Postgres: threads on separate pooled connections hitting one earning or one key."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from tests.conftest import EPOCH
from townsquare.bootstrap import Services, bootstrap
from townsquare.core.clock import ManualClock
from townsquare.core.earnings import LedgerEvent
from townsquare.core.errors import Conflict
from townsquare.core.identity import Actor
from townsquare.settings import PortsMode, Settings

pytestmark = pytest.mark.postgres

SHOP = Actor("commerce-backend", roles=["service"])
ALICE = Actor("alice")
ADMIN = Actor("root", roles=["admin"])


@pytest.fixture
def pg_services(pg_url: str) -> Iterator[Services]:
    # 30 pooled connections plus as many overflow: every racing thread gets its own.
    settings = Settings(ports_mode=PortsMode.POSTGRES, database_url=pg_url, database_pool_size=30, seed_demo_data=False)
    wired = bootstrap(settings, clock=ManualClock(EPOCH))
    try:
        yield wired
    finally:
        wired.close()


def race(count: int, attempt: Callable[[int], LedgerEvent]) -> list[LedgerEvent | Exception]:
    """Run ``attempt(n)`` in ``count`` threads released at once; collect results or domain errors."""
    start = threading.Barrier(count)
    results: list[LedgerEvent | Exception] = [RuntimeError("not run")] * count

    def run(n: int) -> None:
        start.wait()
        try:
            results[n] = attempt(n)
        except Conflict as exc:
            results[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def captured_sale(services: Services, captured: int) -> LedgerEvent:
    earning = services.earnings.record(
        SHOP, creator_id="alice", kind="sale", amount=10_000, currency="USD", idempotency_key="sale"
    )
    services.earnings.capture(SHOP, earning.id, currency="USD", amount=captured, idempotency_key="cap")
    return earning


def test_fifty_racing_partial_refunds_never_exceed_what_was_captured(pg_services: Services) -> None:
    # Given $30.00 captured of a $100.00 sale
    earning = captured_sale(pg_services, captured=3_000)
    # When 50 refunds of $1.00 race, each with its own key and connection
    results = race(
        50,
        lambda n: pg_services.earnings.refund(
            ALICE, earning.id, currency="USD", amount=100, reason="racing", idempotency_key=f"refund-{n}"
        ),
    )
    # Then exactly 30 succeed, the other 20 are refused for exceeding the refundable amount
    outcomes = Counter(type(result).__name__ for result in results)
    assert outcomes == {"LedgerEvent": 30, "Conflict": 20}
    assert all("exceeds the refundable 0" in str(r) for r in results if isinstance(r, Conflict))
    balance = pg_services.earnings.earning(ALICE, earning.id)
    assert (balance.refunded, balance.refundable) == (3_000, 0)
    [summary] = pg_services.earnings.summary(ALICE, "alice")
    assert (summary.refunded, summary.net) == (3_000, 0)


def test_racing_captures_never_exceed_the_earning(pg_services: Services) -> None:
    earning = pg_services.earnings.record(
        SHOP, creator_id="alice", kind="sale", amount=1_000, currency="USD", idempotency_key="sale"
    )
    results = race(
        40,
        lambda n: pg_services.earnings.capture(SHOP, earning.id, currency="USD", amount=30, idempotency_key=f"cap-{n}"),
    )
    assert sum(isinstance(result, LedgerEvent) for result in results) == 33  # 33 x 30 = 990 <= 1000
    assert pg_services.earnings.earning(ADMIN, earning.id).captured == 990


def test_a_racing_void_and_capture_never_both_win(pg_services: Services) -> None:
    earning = pg_services.earnings.record(
        SHOP, creator_id="alice", kind="tip", amount=500, currency="USD", idempotency_key="tip"
    )

    def attempt(n: int) -> LedgerEvent:
        if n % 2:
            return pg_services.earnings.void(SHOP, earning.id, idempotency_key=f"void-{n}")
        return pg_services.earnings.capture(SHOP, earning.id, currency="USD", amount=100, idempotency_key=f"cap-{n}")

    results = race(20, attempt)
    winners = {result.type.value for result in results if isinstance(result, LedgerEvent)}
    assert winners in ({"void"}, {"capture"})
    [summary] = pg_services.earnings.summary(ADMIN, "alice")
    assert summary.captured + summary.voided + summary.pending == summary.total == 500


def test_one_key_racing_gives_one_event(pg_services: Services) -> None:
    # When 30 threads record the same sale with the same key
    results = race(
        30,
        lambda _n: pg_services.earnings.record(
            SHOP, creator_id="alice", kind="sale", amount=2_500, currency="EUR", idempotency_key="order-77"
        ),
    )
    # Then all get the very same event and the ledger holds it once
    assert all(isinstance(result, LedgerEvent) for result in results)
    assert len({(r.id, r.recorded_at) for r in results if isinstance(r, LedgerEvent)}) == 1
    [summary] = pg_services.earnings.summary(ALICE, "alice")
    assert (summary.events, summary.total) == (1, 2_500)


def test_one_key_racing_with_different_content_has_one_winner(pg_services: Services) -> None:
    results = race(
        20,
        lambda n: pg_services.earnings.record(
            SHOP, creator_id="alice", kind="sale", amount=100 + n % 2, currency="USD", idempotency_key="order-9"
        ),
    )
    events = [result for result in results if isinstance(result, LedgerEvent)]
    winner = events[0].amount
    assert all(event.amount == winner for event in events)
    assert len(events) == 10  # the ten requests with the winning content replay it
    assert all(isinstance(r, Conflict) for r in results if not isinstance(r, LedgerEvent))
    [summary] = pg_services.earnings.summary(ALICE, "alice")
    assert (summary.events, summary.total) == (1, winner)


def test_recompute_while_writers_append_stays_exact(pg_services: Services) -> None:
    # Given 8 writers appending to one creator while recomputes run alongside
    reports: list[Any] = []
    stop = threading.Event()

    def recompute_loop() -> None:
        while not stop.is_set():
            reports.append(pg_services.earnings.recompute(ADMIN, "alice"))

    recomputer = threading.Thread(target=recompute_loop)
    recomputer.start()
    try:
        race(
            8,
            lambda n: [
                pg_services.earnings.record(
                    SHOP, creator_id="alice", kind="tip", amount=10 + i, currency="USD", idempotency_key=f"w{n}-{i}"
                )
                for i in range(40)
            ][-1],
        )
    finally:
        stop.set()
        recomputer.join(timeout=60)
    # Then no recompute ever found drift, and the totals equal the events
    assert reports
    assert not any(report.corrected for report in reports)
    [summary] = pg_services.earnings.summary(ALICE, "alice")
    assert (summary.events, summary.total) == (320, 8 * sum(10 + i for i in range(40)))
    assert not pg_services.earnings.recompute(ADMIN, "alice").corrected


def test_recompute_repairs_drifted_totals_and_reports_the_difference(pg_services: Services, pg_dsn: str) -> None:
    # Given a sale whose stored totals were changed behind the ledger's back
    captured_sale(pg_services, captured=4_000)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(
            "UPDATE earning_totals SET captured = captured + 123, events = events + 1 WHERE creator_id = 'alice'"
        )
    [drifted] = pg_services.earnings.summary(ALICE, "alice")
    assert drifted.captured > 4_000
    # When it is recomputed
    report = pg_services.earnings.recompute(ADMIN, "alice")
    # Then the report names what it corrected and the summary equals the events again
    [correction] = report.corrections
    assert correction.currency == "USD"
    assert correction.differences["captured"] < 0
    assert correction.differences["captured"] == -(drifted.captured - 4_000)
    [repaired] = pg_services.earnings.summary(ALICE, "alice")
    assert (repaired.captured, repaired.events) == (4_000, 2)
    assert not pg_services.earnings.recompute(ADMIN, "alice").corrected
