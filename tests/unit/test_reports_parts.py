"""A bulk action's items split into ranges, one job each."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from townsquare.core.reports.bulk import ITEMS_PER_PART, MAX_PARTS, parts


@given(st.integers(0, 100_000))
def test_the_ranges_cover_every_item_once_in_order(count: int) -> None:
    ranges = parts(count)
    covered = [position for first, last in ranges for position in range(first, last + 1)]
    assert covered == list(range(1, count + 1))
    assert 1 <= len(ranges) <= MAX_PARTS
    sizes = [last - first + 1 for first, last in ranges]
    assert max(sizes) - min(sizes) <= 1


def test_small_actions_are_one_job_and_a_thousand_items_four() -> None:
    assert parts(0) == [(1, 0)]
    assert parts(ITEMS_PER_PART) == [(1, ITEMS_PER_PART)]
    assert parts(1_000) == [(1, 250), (251, 500), (501, 750), (751, 1_000)]
    assert len(parts(100_000)) == MAX_PARTS
