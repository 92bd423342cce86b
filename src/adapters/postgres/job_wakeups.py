"""Wake-ups on enqueue over LISTEN/NOTIFY: idle workers of every process learn of due jobs at once.

Announcing: a notifying transaction takes one database-wide lock at its commit and holds it
through the commit's WAL flush, so a NOTIFY in every enqueue's own transaction would stop
concurrent enqueues sharing flushes (group commit; an earlier attempt measured 692 enqueues/s
against 2,135 for 8 callers). Instead an enqueue's commit pokes this process's notifier
thread, which sends one ``pg_notify`` on its own connection for all the enqueues that
committed while the previous one was on its way (or in the few milliseconds after it): the
notification follows the commit by a round trip or two and no enqueue waits for it. An
enqueue inside a caller's own transaction (``PgDatabase.bind``), whose commit this process
cannot see, notifies in that transaction.

Listening: one connection per process, held by a thread, LISTENing on :data:`CHANNEL`;
:meth:`PgJobWakeups.wait` waits on an event that thread sets.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import psycopg
from sqlalchemy import Engine, text

from townsquare.adapters.postgres.database import PgDatabase

CHANNEL = "townsquare_jobs"
"""The notification channel of due jobs (no payload: a woken worker claims whatever is due)."""
_NOTIFY = f"SELECT pg_notify('{CHANNEL}', '')"
_LISTEN = f"LISTEN {CHANNEL}"
_RETRY_AFTER_S = 1.0
_SPACING_S = 0.005
"""The notifier's pause after each NOTIFY: enqueues committing meanwhile share the next one
(under steady enqueueing, at most ~200 notifications a second per process instead of one per
enqueue), for at most this much added latency."""
_LISTEN_SLICE_S = 0.5
"""How long the listener waits for notifications between checks that it should stop."""
log = logging.getLogger("townsquare.jobs.wakeups")


class PgJobWakeups:
    """Announces due jobs with NOTIFY after the enqueue commits; waits by LISTENing.

    Threads and connections start on first use: a process that only enqueues (the HTTP host)
    holds one notifier connection, a worker also its listener.
    """

    def __init__(self, db: PgDatabase) -> None:
        self._db = db
        self._engine: Engine = db.engine
        self._lock = threading.Lock()
        self._poked = threading.Event()
        self._heard = threading.Event()
        self._closing = threading.Event()
        self._notifier: threading.Thread | None = None
        self._listener: threading.Thread | None = None

    def announce(self) -> None:
        if not self._db.on_commit(self._poke):
            # A caller's own transaction: the notification is delivered when (if) it commits.
            self._db.connection().execute(text(_NOTIFY))

    def wait(self, timeout: float) -> bool:
        if self._listener is None:
            self._start("_listener", self._listen_loop)
        heard = self._heard.wait(timeout)
        if heard:
            self._heard.clear()
        return heard and not self._closing.is_set()

    def close(self) -> None:
        self._closing.set()
        self._poked.set()
        self._heard.set()
        for thread in (self._notifier, self._listener):
            if thread is not None:
                thread.join(timeout=2 * _LISTEN_SLICE_S)

    def _poke(self) -> None:
        if self._notifier is None:
            self._start("_notifier", self._notify_loop)
        self._poked.set()

    def _start(self, attribute: str, target: Any) -> None:
        with self._lock:
            if getattr(self, attribute) is None and not self._closing.is_set():
                thread = threading.Thread(target=target, name=f"townsquare-job-wakeups{attribute}", daemon=True)
                setattr(self, attribute, thread)
                thread.start()

    def _connect(self) -> psycopg.Connection[Any]:
        # The engine's connection settings, but a connection of its own: out of the pool for good.
        pooled = self._engine.raw_connection()
        conn: psycopg.Connection[Any] = pooled.driver_connection  # type: ignore[assignment]
        pooled.detach()
        if conn.info.transaction_status is not psycopg.pq.TransactionStatus.IDLE:
            conn.rollback()
        conn.autocommit = True
        return conn

    def _notify_loop(self) -> None:
        conn: psycopg.Connection[Any] | None = None
        while True:
            self._poked.wait()
            if self._closing.is_set():
                break
            # Cleared before sending: an enqueue committing while this NOTIFY is on its way
            # sends the next one (its job may not be visible to a claim this one triggers).
            self._poked.clear()
            try:
                if conn is None:
                    conn = self._connect()
                conn.execute(_NOTIFY)
                self._closing.wait(_SPACING_S)
            except Exception:  # the database is away (psycopg's or the pool's error): retry
                log.warning("jobs.wakeup_notify_failed", exc_info=True)
                if conn is not None:
                    conn.close()
                    conn = None
                self._poked.set()  # try again: the workers' polls cover the gap meanwhile
                self._closing.wait(_RETRY_AFTER_S)
        if conn is not None:
            conn.close()

    def _listen_loop(self) -> None:
        while not self._closing.is_set():
            conn: psycopg.Connection[Any] | None = None
            try:
                conn = self._connect()
                conn.execute(_LISTEN)
                # Whatever was announced while nobody here listened: claim once to see.
                self._heard.set()
                while not self._closing.is_set():
                    for _ in conn.notifies(timeout=_LISTEN_SLICE_S):
                        self._heard.set()
            except Exception:  # the database is away: reconnect, polls cover the gap
                log.warning("jobs.wakeup_listen_failed", exc_info=True)
                self._closing.wait(_RETRY_AFTER_S)
            finally:
                if conn is not None:
                    conn.close()
