"""Random event sequences driven through both adapters at once: the invariants hold and memory == Postgres."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from tests.conftest import EPOCH, memory_settings, postgres_settings

from townsquare.bootstrap import Services, bootstrap
from townsquare.core.clock import ManualClock
from townsquare.core.earnings import EarningKind, LedgerEvent
from townsquare.core.errors import DomainError
from townsquare.core.identity import Actor

pytestmark = pytest.mark.postgres

SHOP = Actor("commerce-backend", roles=["service"])
ADMIN = Actor("root", roles=["admin"])
CREATORS = ["alice", "bob"]
# Enough keys that most writes are new, few enough that replays and reused keys happen.
keys = st.integers(min_value=0, max_value=40).map(lambda n: f"k{n}")
amounts = st.integers(min_value=1, max_value=5_000)
maybe_amounts = st.none() | amounts


def outcome(call: Callable[[], Any]) -> Any:
    """The call's result, or its domain error's class and message (both adapters must agree on either)."""
    try:
        return call()
    except DomainError as exc:
        return (type(exc).__name__, exc.detail)


def test_random_ledgers_agree_and_keep_their_invariants(pg_url: str, pg_dsn: str) -> None:
    clock = ManualClock(EPOCH)
    memory = bootstrap(memory_settings(), clock=clock)
    postgres = bootstrap(postgres_settings(pg_url), clock=clock)

    def wipe_postgres() -> None:
        # The ledger refuses TRUNCATE; replica mode skips the guard (superuser, tests only).
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute("SET session_replication_role = replica")
            conn.execute("TRUNCATE earning_events, earning_totals, earning_days")

    class Ledgers(RuleBasedStateMachine):
        earnings = Bundle("earnings")

        def __init__(self) -> None:
            super().__init__()
            memory.reset()
            wipe_postgres()
            clock.set(EPOCH)

        def both(self, call: Callable[[Services], Any]) -> Any:
            in_memory = outcome(lambda: call(memory))
            in_postgres = outcome(lambda: call(postgres))
            assert in_memory == in_postgres
            return in_memory

        @rule(
            target=earnings,
            creator=st.sampled_from(CREATORS),
            kind=st.sampled_from(list(EarningKind)),
            amount=amounts,
            currency=st.sampled_from(["USD", "EUR"]),
            key=keys,
        )
        def record(self, creator: str, kind: EarningKind, amount: int, currency: str, key: str) -> str:
            result = self.both(
                lambda s: s.earnings.record(
                    SHOP, creator_id=creator, kind=kind.value, amount=amount, currency=currency, idempotency_key=key
                )
            )
            return result.earning_id if isinstance(result, LedgerEvent) else "00000000-0000-4000-8000-000000000000"

        @rule(earning=earnings, amount=maybe_amounts, currency=st.sampled_from(["USD", "EUR"]), key=keys)
        def capture(self, earning: str, amount: int | None, currency: str, key: str) -> None:
            self.both(
                lambda s: s.earnings.capture(SHOP, earning, currency=currency, amount=amount, idempotency_key=key)
            )

        @rule(earning=earnings, key=keys)
        def void(self, earning: str, key: str) -> None:
            self.both(lambda s: s.earnings.void(SHOP, earning, idempotency_key=key))

        @rule(earning=earnings, amount=maybe_amounts, currency=st.sampled_from(["USD", "EUR"]), key=keys)
        def refund(self, earning: str, amount: int | None, currency: str, key: str) -> None:
            self.both(
                lambda s: s.earnings.refund(
                    SHOP, earning, currency=currency, amount=amount, reason="customer asked", idempotency_key=key
                )
            )

        @rule(seconds=st.integers(min_value=0, max_value=7200))
        def time_passes(self, seconds: int) -> None:
            clock.advance(timedelta(seconds=seconds))

        @rule(creator=st.sampled_from(CREATORS))
        def recompute_finds_nothing_to_correct(self, creator: str) -> None:
            report = self.both(lambda s: s.earnings.recompute(ADMIN, creator))
            assert not report.corrected

        @invariant()
        def summaries_agree_and_add_up(self) -> None:
            for creator in CREATORS:
                summaries = self.both(lambda s, c=creator: s.earnings.summary(ADMIN, c))
                timeline = self.both(lambda s, c=creator: s.earnings.timeline(ADMIN, c, limit=100)).events
                for summary in summaries:
                    events = [e for e in timeline if e.currency == summary.currency]
                    sums = {
                        t: sum(e.amount for e in events if e.type.value == t)
                        for t in ("earning", "capture", "void", "refund")
                    }
                    assert (summary.total, summary.captured, summary.voided, summary.refunded) == (
                        sums["earning"],
                        sums["capture"],
                        sums["void"],
                        sums["refund"],
                    )
                    assert summary.pending >= 0
                    assert 0 <= summary.refunded <= summary.captured <= summary.total - summary.voided
                    assert summary.missed == summary.total - summary.captured
                for earning in {e.earning_id for e in timeline}:
                    balance = self.both(lambda s, e=earning: s.earnings.earning(ADMIN, e))
                    assert 0 <= balance.refunded <= balance.captured <= balance.earning.amount
                    assert not (balance.voided and balance.captured)

    try:
        run_state_machine_as_test(
            Ledgers, settings=hypothesis_settings(max_examples=30, stateful_step_count=30, deadline=None)
        )
    finally:
        memory.close()
        postgres.close()
