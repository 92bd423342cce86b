"""Runs the worker host in this process: Dramatiq worker threads until SIGINT/SIGTERM."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any

import structlog

from townsquare.bootstrap import Services, bootstrap
from townsquare.hosts.logs import configure_logging
from townsquare.hosts.metrics import Metrics, QueueCollector, QueueSnapshot, serve_metrics
from townsquare.hosts.telemetry import start_error_reports, start_tracing
from townsquare.hosts.worker.broker import setup_broker
from townsquare.hosts.worker.host import WorkerHost, WorkerOptions
from townsquare.settings import Settings

log = structlog.get_logger("townsquare.worker")


def run_worker(
    settings: Settings,
    *,
    threads: int = 8,
    options: WorkerOptions | None = None,
    setup: Callable[[Services], None] | None = None,
) -> None:
    """Wire the services, run jobs (dispatcher, Dramatiq actors, completer, scheduler) until stopped.

    Args:
        settings: the settings, read once by the caller.
        threads: Dramatiq worker threads (overridden by ``options.threads`` when given).
        options: pacing and lease options; defaults suit production.
        setup: called with the wired services before any job runs: where a library user
            registers their own job handlers and schedules.
    """
    configure_logging(settings.log_level, json=settings.log_json)
    tracing = start_tracing(settings)
    reporting = start_error_reports(settings, integrations=_dramatiq_integration)
    services = bootstrap(settings)
    if setup is not None:
        setup(services)
    broker = setup_broker(settings)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    metrics = worker_metrics(settings, services)
    if options is None:
        options = WorkerOptions(
            threads=threads,
            claim_batch=settings.job_claim_batch,
            max_in_flight=settings.job_max_in_flight,
            consumer_timeout=settings.job_consumer_timeout_ms / 1000,
        )
    host = WorkerHost(services, broker, options, metrics, tracing=tracing, report_failures=reporting)
    server = (
        serve_metrics(metrics, settings.worker_metrics_host, settings.worker_metrics_port)
        if metrics is not None and settings.worker_metrics_port
        else None
    )
    host.start()
    log.info(
        "worker.started",
        threads=host.options.threads,
        broker=type(broker).__name__,
        mode=settings.ports_mode.value,
        job_types=services.job_handlers.job_types,
    )
    try:
        stop.wait()
    finally:
        log.info("worker.stopping")
        host.stop()
        if server is not None:
            server.shutdown()
        broker.close()
        services.close()
        if tracing is not None:
            tracing.close()


def worker_metrics(settings: Settings, services: Services) -> Metrics | None:
    """The worker's metrics (job runs, and the queue gauges on scrape), or ``None`` when off."""
    if not settings.metrics_enabled:
        return None
    metrics = Metrics(multiprocess_dir=settings.metrics_multiprocess_dir)
    metrics.add_collector(QueueCollector(QueueSnapshot(services)))
    return metrics


def _dramatiq_integration() -> list[Any]:
    from sentry_sdk.integrations.dramatiq import DramatiqIntegration

    return [DramatiqIntegration()]
