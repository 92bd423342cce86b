"""The tier outlook as a pure function: milestones agree with the status, the countdown with the pace."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from tests.conftest import EPOCH

from townsquare.core.earnings import PACE_WINDOW, default_tier_ladder, eta_at_pace, outlook

LADDER = default_tier_ladder()
MICROSECOND = timedelta(microseconds=1)
WINDOW_US = PACE_WINDOW // MICROSECOND


@given(remaining=st.integers(1, 10**12), pace=st.integers(1, 10**12))
def test_the_eta_is_the_first_instant_the_pace_covers_what_remains(remaining: int, pace: int) -> None:
    eta = eta_at_pace(remaining, pace, EPOCH)
    if eta is None:  # only past the calendar's end
        assert remaining * WINDOW_US // pace > (datetime.max.replace(tzinfo=UTC) - EPOCH) // MICROSECOND
        return
    elapsed = (eta - EPOCH) // MICROSECOND
    # Earning ``pace`` per window, by the eta the creator has earned at least what remains ...
    assert pace * elapsed >= remaining * WINDOW_US
    # ... and a microsecond earlier, not yet.
    assert pace * (elapsed - 1) < remaining * WINDOW_US


@given(remaining=st.integers(0, 10**12), pace=st.integers(-(10**12), 0))
def test_no_date_when_the_pace_is_zero_or_negative(remaining: int, pace: int) -> None:
    assert eta_at_pace(remaining, pace, EPOCH) is None


@given(net=st.integers(-(10**9), 10**9), pace=st.integers(-(10**9), 10**9))
def test_milestones_and_countdown_agree_with_the_status(net: int, pace: int) -> None:
    seen = outlook(LADDER, "alice", net, pace=pace, now=EPOCH)
    status = seen.status
    assert status == LADDER.status("alice", net)
    assert [m.tier for m in seen.milestones] == list(LADDER.tiers)
    reached = [m for m in seen.milestones if m.reached]
    assert reached[-1].tier == status.current  # reached tiers are a prefix ending at the current tier
    assert all(m.remaining == 0 for m in reached)
    ahead = [m for m in seen.milestones if not m.reached]
    assert all(m.remaining > 0 for m in ahead)
    if status.next is None:
        assert seen.countdown is None and not ahead
    else:
        assert ahead[0].tier == status.next
        assert seen.countdown is not None
        assert seen.countdown.remaining == status.remaining == ahead[0].remaining
        assert seen.countdown.eta == eta_at_pace(status.remaining, pace, EPOCH)
        if pace <= 0:
            assert seen.countdown.eta is None


def test_a_worked_countdown() -> None:
    # $500 to Silver at $300 per 30 days: 50 days
    seen = outlook(LADDER, "alice", 500_00, pace=300_00, now=EPOCH)
    assert seen.countdown is not None
    assert seen.countdown.eta == EPOCH + timedelta(days=50)
