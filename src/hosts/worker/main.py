"""Runs the worker host in this process: Dramatiq worker threads until SIGINT/SIGTERM."""

from __future__ import annotations

import signal
import threading

import structlog
from dramatiq import Worker

from townsquare.bootstrap import bootstrap
from townsquare.hosts.logs import configure_logging
from townsquare.hosts.worker.broker import setup_broker
from townsquare.settings import Settings

log = structlog.get_logger("townsquare.worker")


def run_worker(settings: Settings, *, threads: int = 8) -> None:
    """Wire the services, start the Dramatiq worker and block until asked to stop."""
    configure_logging(settings.log_level, json=settings.log_json)
    services = bootstrap(settings)
    broker = setup_broker(settings)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    worker = Worker(broker, worker_threads=threads)
    worker.start()
    log.info("worker.started", threads=threads, broker=type(broker).__name__, mode=settings.ports_mode.value)
    try:
        stop.wait()
    finally:
        log.info("worker.stopping")
        worker.stop()
        broker.close()
        services.close()
