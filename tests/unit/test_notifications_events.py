"""The in-process pub/sub of count changes: threads and coroutines wake for their own user only."""

from __future__ import annotations

import asyncio
import threading

from townsquare.adapters.counts import LocalCountsHub


def test_a_waiting_thread_wakes_for_its_user_only() -> None:
    hub = LocalCountsHub()
    with hub.subscribe("alice") as alice, hub.subscribe("bob") as bob:
        threading.Timer(0.05, hub.publish, args=("alice",)).start()
        assert alice.wait(5)
        assert not bob.wait(0.1)
        assert not alice.wait(0.05)  # the change was taken
    # Nothing is kept for users nobody listens for any more (deliberately read: no public count).
    assert not hub._subscribers


def test_a_waiting_coroutine_holds_no_thread_and_wakes_on_a_publish_from_another_thread() -> None:
    hub = LocalCountsHub()

    async def scenario() -> tuple[bool, bool, bool]:
        with hub.subscribe("alice") as alice:
            quiet = await alice.wait_async(0.05)
            threading.Timer(0.05, hub.publish, args=("alice",)).start()
            woken = await alice.wait_async(5)
            hub.publish("alice")  # published before anyone waits: not lost
            early = await alice.wait_async(0.01)
            return quiet, woken, early

    assert asyncio.run(scenario()) == (False, True, True)


def test_publish_all_wakes_everyone() -> None:
    hub = LocalCountsHub()
    with hub.subscribe("alice") as alice, hub.subscribe("bob") as bob:
        hub.publish_all()
        assert alice.wait(0) and bob.wait(0)
