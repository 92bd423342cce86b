"""Races against real Postgres: near-duplicate memories remembered at once still make one memory."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import attrs
import pytest

from tests.conftest import EPOCH, postgres_settings
from townsquare.bootstrap import Services, bootstrap
from townsquare.core.clock import ManualClock
from townsquare.core.identity import Actor

pytestmark = pytest.mark.postgres
THREADS = 8


@pytest.fixture
def services(pg_url: str) -> Iterator[Services]:
    settings = attrs.evolve(postgres_settings(pg_url), database_pool_size=THREADS)
    wired = bootstrap(settings, clock=ManualClock(EPOCH))
    yield wired
    wired.close()


def test_racing_near_duplicates_make_one_memory(services: Services) -> None:
    # Given eight threads remembering the same fact (with trailing variations) for one user
    actor = Actor("alice")
    barrier = threading.Barrier(THREADS)
    outcomes: list[bool] = []
    errors: list[BaseException] = []

    def remember(index: int) -> None:
        try:
            barrier.wait()
            done = services.assistant.memory.remember(actor, "I ship my orders on Fridays" + "!" * (index % 2))
            outcomes.append(done.created)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=remember, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then exactly one added the memory and the others updated it
    assert errors == []
    assert sorted(outcomes) == [False] * (THREADS - 1) + [True]
    assert len(services.assistant.memory.memories(actor).memories) == 1
    history = services.assistant.memory.history(actor).entries
    assert [e.event.value for e in history].count("added") == 1 and len(history) == THREADS
