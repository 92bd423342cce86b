"""The HTTP host's per-request shortcuts keep their promises: remembered tokens still expire
and never admit a different token; request ids stay unique."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from litestar.exceptions import NotAuthorizedException

from townsquare.hosts.http.auth import LEEWAY_S, TokenVerifier, mint_token
from townsquare.hosts.http.middleware import new_request_id

SECRET = "a-test-secret-long-enough-for-hs256-0123456789"


class WallClock:
    def __init__(self, now: datetime) -> None:
        self.now = now.timestamp()

    def __call__(self) -> float:
        return self.now


def _verifier(clock: WallClock, cache_size: int = 16) -> TokenVerifier:
    return TokenVerifier(SECRET, roles_claim="app_metadata.roles", cache_size=cache_size, wall_clock=clock)


def test_a_remembered_token_is_refused_once_it_expires() -> None:
    # Given a token verified (and so remembered) while valid
    now = datetime.now(UTC)
    clock = WallClock(now)
    verifier = _verifier(clock)
    token = mint_token(SECRET, "alice", now=now, ttl=timedelta(minutes=5))
    assert verifier.verify(token).user_id == "alice"

    # When the wall clock passes its expiry (and the leeway)
    clock.now += 5 * 60 + LEEWAY_S + 1

    # Then it is refused, twice
    for _ in range(2):
        with pytest.raises(NotAuthorizedException, match="expired"):
            verifier.verify(token)


def test_a_remembered_token_admits_no_other_token() -> None:
    # Given alice's token, verified and remembered
    now = datetime.now(UTC)
    verifier = _verifier(WallClock(now))
    token = mint_token(SECRET, "alice", now=now, roles=["admin"])
    assert verifier.verify(token).is_admin

    # When a token differing in one byte of its signature, or signed with another secret, arrives
    head, _, signature = token.rpartition(".")
    tampered = f"{head}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    forged = mint_token("another-secret-long-enough-for-hs256-0123456789", "alice", now=now, roles=["admin"])

    # Then each is verified on its own and refused
    for bad in (tampered, forged):
        with pytest.raises(NotAuthorizedException, match="invalid"):
            verifier.verify(bad)


def test_tokens_beyond_the_cache_size_still_verify() -> None:
    # Given a verifier remembering two tokens
    now = datetime.now(UTC)
    verifier = _verifier(WallClock(now), cache_size=2)
    tokens = {user: mint_token(SECRET, user, now=now) for user in ("alice", "bob", "carol")}

    # When three users come and go, twice
    seen = [verifier.verify(tokens[user]).user_id for _ in range(2) for user in tokens]

    # Then each is recognised every time (evicted tokens are simply verified again)
    assert seen == ["alice", "bob", "carol"] * 2


def test_request_ids_are_unique_hex_of_uuid_length() -> None:
    ids = [new_request_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    assert all(len(request_id) == 32 and int(request_id, 16) >= 0 for request_id in ids)
