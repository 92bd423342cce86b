"""Wake-ups on enqueue in one process: an event the enqueue sets and idle workers wait on."""

from __future__ import annotations

import threading


class MemoryJobWakeups:
    """Announcements reach the waiters of this process (memory mode keeps its queue in one).

    An announcement is made inside the enqueue's unit of work, before it commits: a woken
    worker's claim waits for the memory database's lock, so it sees the committed job (a
    rolled-back enqueue wakes a worker for nothing, which costs one empty claim).
    """

    def __init__(self) -> None:
        self._announced = threading.Event()
        self._closed = False

    def announce(self) -> None:
        self._announced.set()

    def wait(self, timeout: float) -> bool:
        woken = self._announced.wait(timeout)
        if woken and not self._closed:
            self._announced.clear()
        return woken and not self._closed

    def close(self) -> None:
        self._closed = True
        self._announced.set()  # waiting calls return
