"""Cursors are opaque, signed, scoped and expire: any misuse is a clear InvalidCursor."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.conftest import EPOCH

from townsquare.core.clock import ManualClock
from townsquare.core.cursor import CursorCodec
from townsquare.core.errors import InvalidCursor

SECRET = b"0123456789abcdef0123456789abcdef"
positions = st.dictionaries(
    st.text(min_size=1, max_size=8),
    st.one_of(st.integers(), st.text(max_size=20), st.booleans(), st.none()),
    max_size=5,
)


def codec(clock: ManualClock | None = None) -> CursorCodec:
    return CursorCodec(SECRET, clock or ManualClock(EPOCH))


@given(position=positions)
def test_round_trip(position: dict[str, object]) -> None:
    cursors = codec()
    assert cursors.decode("feed:for_you:u1", cursors.encode("feed:for_you:u1", position)) == position


@given(position=positions, flip=st.integers(min_value=0))
def test_any_changed_byte_is_rejected(position: dict[str, object], flip: int) -> None:
    cursors = codec()
    raw = bytearray(base64.urlsafe_b64decode(_pad(cursors.encode("s", position))))
    raw[flip % len(raw)] ^= 0x01
    tampered = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    with pytest.raises(InvalidCursor):
        cursors.decode("s", tampered)


def test_foreign_scope_is_rejected() -> None:
    cursors = codec()
    with pytest.raises(InvalidCursor, match="another list"):
        cursors.decode("feed:following:u1", cursors.encode("feed:for_you:u1", {"k": 1}))


def test_another_secret_is_rejected() -> None:
    other = CursorCodec(b"another-secret-another-secret!!!", ManualClock(EPOCH))
    with pytest.raises(InvalidCursor, match="signature"):
        codec().decode("s", other.encode("s", {"k": 1}))


def test_expired_cursor_is_rejected() -> None:
    clock = ManualClock(EPOCH)
    cursors = codec(clock)
    token = cursors.encode("s", {"k": 1})
    clock.advance(timedelta(hours=24, seconds=1))
    with pytest.raises(InvalidCursor, match="expired"):
        cursors.decode("s", token)


@pytest.mark.parametrize("garbage", ["", "!!!", "abc", "a" * 5000, "eyJzIjoicyJ9"])
def test_garbage_is_rejected(garbage: str) -> None:
    with pytest.raises(InvalidCursor):
        codec().decode("s", garbage)


def _pad(text: str) -> str:
    return text + "=" * (-len(text) % 4)
