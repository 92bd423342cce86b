"""Recall is exact: on the local embedder it equals a brute-force cosine ranking, and both adapters agree."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import EPOCH, memory_settings, postgres_settings

from townsquare.adapters.models.local import HashedNgramEmbedder
from townsquare.bootstrap import Services, bootstrap
from townsquare.core.assistant.memory import MemoryService
from townsquare.core.clock import ManualClock
from townsquare.core.identity import Actor

EXAMPLES = int(os.environ.get("HYPOTHESIS_EXAMPLES", "25"))
WORDS = ["tea", "green", "dog", "sea", "river", "kiln", "glaze", "bowl", "mug", "friday", "ship", "blue"]
texts = st.lists(st.sampled_from(WORDS), min_size=1, max_size=4).map(" ".join)
_users = itertools.count()


@pytest.fixture(scope="module")
def memory_services() -> Iterator[Services]:
    services = bootstrap(memory_settings(), clock=ManualClock(EPOCH))
    yield services
    services.close()


@pytest.fixture
def postgres_services(pg_url: str) -> Iterator[Services]:
    services = bootstrap(postgres_settings(pg_url), clock=ManualClock(EPOCH))
    yield services
    services.close()


def brute_force(memory: MemoryService, actor: Actor, query: str, k: int) -> list[tuple[str, float]]:
    """Every stored memory scored in float64 from its own text's embedding, sorted by (score desc, id)."""
    embedder = HashedNgramEmbedder()
    (q,) = embedder.embed([query])
    qv = np.frombuffer(q, dtype="<f4").astype(np.float64)
    stored = memory.memories(actor, limit=100).memories
    scored = []
    for each in stored:
        (vector,) = embedder.embed([each.text])
        assert vector == each.embedding  # what is stored is the text's embedding
        scored.append((each.id, float(np.frombuffer(vector, dtype="<f4").astype(np.float64) @ qv)))
    scored.sort(key=lambda pair: (-pair[1], pair[0]))
    return scored[:k]


def _remember_all(services: Services, actor: Actor, facts: list[str]) -> None:
    for fact in facts:
        services.assistant.memory.remember(actor, fact)


@pytest.mark.postgres
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(facts=st.lists(texts, min_size=1, max_size=12), query=texts, k=st.integers(1, 15))
def test_recall_equals_brute_force_on_both_adapters(
    memory_services: Services, postgres_services: Services, facts: list[str], query: str, k: int
) -> None:
    actor = Actor(f"user-{next(_users)}")
    ranked: dict[str, list[tuple[float, str]]] = {}
    for name, services in (("memory", memory_services), ("postgres", postgres_services)):
        # Given the same facts remembered on each adapter
        _remember_all(services, actor, facts)
        memory = services.assistant.memory
        # When the user recalls
        hits = memory.recall(actor, query, k)
        # Then the result is the exact brute-force ranking of what that adapter stored
        expected = brute_force(memory, actor, query, k)
        assert [hit.memory.id for hit in hits] == [memory_id for memory_id, _ in expected]
        for hit, (_, score) in zip(hits, expected, strict=True):
            assert hit.score == pytest.approx(score, abs=1e-9)
        ranked[name] = [(round(hit.score, 9), hit.memory.text) for hit in hits]
    # and both adapters stored the same memories and rank them the same. Ids are random, so a
    # tie is broken differently on each: scores agree position by position, and every memory
    # scoring above the last kept score is kept by both.
    assert [s for s, _ in ranked["memory"]] == [s for s, _ in ranked["postgres"]]
    if ranked["memory"]:
        cut = ranked["memory"][-1][0]
        above = {name: sorted(pair for pair in pairs if pair[0] > cut) for name, pairs in ranked.items()}
        assert above["memory"] == above["postgres"]


@pytest.mark.postgres
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mine=st.lists(texts, min_size=1, max_size=6), theirs=st.lists(texts, min_size=1, max_size=6), query=texts)
def test_no_call_returns_another_users_memory(
    memory_services: Services, postgres_services: Services, mine: list[str], theirs: list[str], query: str
) -> None:
    me, other = Actor(f"me-{next(_users)}"), Actor(f"other-{next(_users)}")
    for services in (memory_services, postgres_services):
        _remember_all(services, me, mine)
        _remember_all(services, other, theirs)
        memory = services.assistant.memory
        theirs_ids = {m.id for m in memory.memories(other, limit=100).memories}
        seen = {hit.memory.id for hit in memory.recall(me, query, 100)}
        seen |= {m.id for m in memory.memories(me, limit=100).memories}
        seen |= {e.memory_id for e in memory.history(me, limit=100).entries}
        assert seen and seen.isdisjoint(theirs_ids)
        assert {hit.memory.user_id for hit in memory.recall(me, query, 100)} == {me.user_id}
