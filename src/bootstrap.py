"""The composition root: builds every adapter for the configured PORTS_MODE and wires the services.

Both hosts, the CLI and the tests call :func:`bootstrap`; nothing else constructs adapters.
"""

from __future__ import annotations

from collections.abc import Callable

from attrs import define, field

from townsquare.core.clock import Clock, ManualClock, SystemClock
from townsquare.core.cursor import CursorCodec
from townsquare.core.uow import UnitOfWork
from townsquare.settings import Settings

ReadinessCheck = Callable[[], None]


@define
class Services:
    """The wired application: what hosts and library users call.

    Attributes:
        settings: the settings it was built from.
        clock: the time source every rule uses.
        uow: opens transactions around store calls.
        cursors: signs and verifies page cursors.
        readiness: named checks that raise when a dependency is unreachable.
    """

    settings: Settings
    clock: Clock
    uow: UnitOfWork
    cursors: CursorCodec
    readiness: dict[str, ReadinessCheck] = field(factory=dict)
    _reset: Callable[[], None] | None = None
    _closers: list[Callable[[], None]] = field(factory=list)

    @property
    def manual_clock(self) -> ManualClock | None:
        """The clock, when it is one tests (and mock mode's routes) may move."""
        return self.clock if isinstance(self.clock, ManualClock) else None

    @property
    def can_reset(self) -> bool:
        return self._reset is not None

    def reset(self) -> None:
        """Empty every store (memory mode only).

        Raises:
            RuntimeError: in Postgres mode, where wiping data is never an API operation.
        """
        if self._reset is None:
            raise RuntimeError("reset is only available in memory mode")
        self._reset()

    def close(self) -> None:
        """Release pools and connections, newest first."""
        while self._closers:
            self._closers.pop()()


def bootstrap(settings: Settings, *, clock: Clock | None = None) -> Services:
    """Build the services for ``settings.ports_mode``.

    Args:
        settings: the settings, read once by the caller.
        clock: overrides the clock (tests pass a :class:`ManualClock`).
    """
    if clock is None:
        clock = ManualClock(settings.frozen_clock) if settings.frozen_clock else SystemClock()
    cursors = CursorCodec(settings.cursor_key, clock)
    services = (
        _bootstrap_memory(settings, clock, cursors)
        if settings.is_memory
        else _bootstrap_postgres(settings, clock, cursors)
    )
    if settings.broker_url:
        from townsquare.adapters.broker import broker_ping

        url = settings.broker_url
        services.readiness["broker"] = lambda: broker_ping(url)
    return services


def _bootstrap_memory(settings: Settings, clock: Clock, cursors: CursorCodec) -> Services:
    from townsquare.adapters.memory.database import MemoryDatabase

    db = MemoryDatabase()
    return Services(settings=settings, clock=clock, uow=db, cursors=cursors, reset=db.reset)


def _bootstrap_postgres(settings: Settings, clock: Clock, cursors: CursorCodec) -> Services:
    from townsquare.adapters.postgres.database import PgDatabase, create_database_engine

    db = PgDatabase(create_database_engine(settings.database_url, pool_size=settings.database_pool_size))
    return Services(
        settings=settings,
        clock=clock,
        uow=db,
        cursors=cursors,
        readiness={"database": db.ping},
        closers=[db.dispose],
    )
