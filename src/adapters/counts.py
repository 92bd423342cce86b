"""The count-announcement machinery both notification adapters share: an in-process pub/sub of
"unread counts changed" per user. Memory mode publishes to it directly; the Postgres adapter's
listener thread feeds it from LISTEN/NOTIFY, so it is also the fan-out inside each process.
Neutral ground: neither adapter imports the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager


class _Subscription:
    """Wakes a waiting thread, or a waiting coroutine on its event loop, when the counts change."""

    def __init__(self) -> None:
        self._changed = threading.Event()
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    def notify(self) -> None:
        self._changed.set()
        with self._lock:
            waiters = list(self._waiters)
        for loop, event in waiters:
            if not loop.is_closed():
                loop.call_soon_threadsafe(event.set)

    def _take(self) -> bool:
        changed = self._changed.is_set()
        self._changed.clear()
        return changed

    def wait(self, timeout: float) -> bool:
        self._changed.wait(timeout)
        return self._take()

    async def wait_async(self, timeout: float) -> bool:
        event = asyncio.Event()
        waiter = (asyncio.get_running_loop(), event)
        with self._lock:
            self._waiters.append(waiter)
        try:
            # Registered first, checked second: a change in between is not lost.
            if not self._changed.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), timeout)
        finally:
            with self._lock:
                self._waiters.remove(waiter)
        return self._take()

    def close(self) -> None:
        self.notify()


class LocalCountsHub:
    """In-process pub/sub of "unread counts changed" per user.

    Memory mode publishes to it directly; the Postgres adapter's listener thread feeds it
    from LISTEN/NOTIFY, so it is also the fan-out inside each process.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[str, set[_Subscription]] = defaultdict(set)

    def publish(self, user_id: str) -> None:
        with self._lock:
            targets = list(self._subscribers.get(user_id, ()))
        for subscription in targets:
            subscription.notify()

    def publish_all(self) -> None:
        """Wake every subscriber (after a gap in which changes may have been missed)."""
        with self._lock:
            targets = [subscription for subs in self._subscribers.values() for subscription in subs]
        for subscription in targets:
            subscription.notify()

    @contextmanager
    def subscribe(self, user_id: str) -> Iterator[_Subscription]:
        subscription = _Subscription()
        with self._lock:
            self._subscribers[user_id].add(subscription)
        try:
            yield subscription
        finally:
            with self._lock:
                self._subscribers[user_id].discard(subscription)
                if not self._subscribers[user_id]:
                    del self._subscribers[user_id]
            subscription.close()
