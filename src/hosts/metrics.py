"""Prometheus metrics of both hosts: what they record, and the queue gauges read on scrape.

The core knows nothing of Prometheus: the hosts record around the calls they make (a request,
a job run, a send), and the gauges of the queue and the outbox are read from the services
when Prometheus scrapes, through their cheap reads (``stats_estimate``, ``outbox_backlog``).

Several processes: with ``PROMETHEUS_MULTIPROC_DIR`` set (before the process starts),
prometheus-client keeps every process's values in files there and :meth:`Metrics.registry`
sums them on scrape, so ``townsquare serve --workers N`` answers for all N processes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Protocol

import structlog
from prometheus_client import CollectorRegistry, Histogram, generate_latest, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from townsquare.core.identity import system_actor
from townsquare.core.jobs import JobStats, JobStatus
from townsquare.core.notifications import OutboxBacklog, SendResult

if TYPE_CHECKING:
    from litestar.types import Message, Scope

    from townsquare.bootstrap import Services

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
UNMATCHED_ROUTE = "unmatched"
METRICS_ACTOR = system_actor("metrics")
"""The route label of requests no route matched (404s), so paths never become labels."""
# Request latencies from a cached feed page (~1 ms) to a slow admin call; a job's up to 5 min.
HTTP_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
JOB_BUCKETS = (0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0)

log = structlog.get_logger("townsquare.metrics")


class Metrics:
    """One process's metrics, in a registry of its own (nothing is built at import time).

    Args:
        multiprocess_dir: prometheus-client's ``PROMETHEUS_MULTIPROC_DIR`` when set; the
            registry then reads every process's values from there.
    """

    def __init__(self, *, multiprocess_dir: str = "") -> None:
        self._own = CollectorRegistry(auto_describe=True)
        self._multiprocess_dir = multiprocess_dir
        self._scrape: CollectorRegistry | None = None
        self._extra: list[Collector] = []
        self.http_requests = Histogram(
            "townsquare_http_request_duration_seconds",
            "HTTP requests by route template, method and status: time to the response's start.",
            ["route", "method", "status"],
            buckets=HTTP_BUCKETS,
            registry=self._own,
        )
        self.job_runs = Histogram(
            "townsquare_job_run_duration_seconds",
            "Job runs in the worker host by type and outcome (succeeded, failed).",
            ["job_type", "outcome"],
            buckets=JOB_BUCKETS,
            registry=self._own,
        )
        self.notification_sends = Histogram(
            "townsquare_notification_send_duration_seconds",
            "Notification sends by channel and outcome (sent, duplicate, refused) and refusal reason.",
            ["channel", "outcome", "reason"],
            buckets=HTTP_BUCKETS,
            registry=self._own,
        )

    def add_collector(self, collector: Collector) -> None:
        """Add a collector read on every scrape (the queue and outbox gauges)."""
        self._extra.append(collector)
        if self._scrape is not None:
            self._scrape.register(collector)

    def registry(self) -> CollectorRegistry:
        """What a scrape reads: this process's metrics (or every process's) and the collectors."""
        if self._scrape is None:
            if self._multiprocess_dir:
                self._scrape = CollectorRegistry()
                MultiProcessCollector(self._scrape, path=self._multiprocess_dir)  # type: ignore[no-untyped-call]
            else:
                self._scrape = self._own
            for collector in self._extra:
                self._scrape.register(collector)
        return self._scrape

    def exposition(self) -> bytes:
        """The text exposition format of :meth:`registry`."""
        return generate_latest(self.registry())

    # -- recording -----------------------------------------------------------------------------

    async def before_send(self, message: Message, scope: Scope) -> None:
        """Litestar ``before_send`` hook: one observation per response, at its start."""
        if message["type"] != "http.response.start":
            return
        # A path no route matched never reached the request middleware: counted, timed as 0.
        started = scope.get("state", {}).get("request_started")
        self.http_requests.labels(
            scope.get("path_template") or UNMATCHED_ROUTE, scope.get("method", ""), str(message["status"])
        ).observe(time.perf_counter() - started if started is not None else 0.0)

    def job_ran(self, job_type: str, *, succeeded: bool, seconds: float) -> None:
        self.job_runs.labels(job_type, "succeeded" if succeeded else "failed").observe(seconds)

    def notification_sent(self, channel: str, result: SendResult, seconds: float) -> None:
        if result.reason is not None:
            outcome, reason = "refused", result.reason.value
        else:
            outcome, reason = ("duplicate" if result.duplicate else "sent"), ""
        self.notification_sends.labels(channel, outcome, reason).observe(seconds)


class QueueSnapshot:
    """The queue and outbox stats, read at most once a ``ttl`` however many readers ask: every
    scrape, console page and console live stream of a process shares one read a second.

    Args:
        services: the wired services.
        ttl: seconds a read is reused.
        clock: monotonic seconds (tests move it).
    """

    def __init__(self, services: Services, *, ttl: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._services = services
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._read_at: float | None = None
        self._value: tuple[JobStats, OutboxBacklog] | None = None

    def read(self) -> tuple[JobStats, OutboxBacklog]:
        """The job stats (``stats_estimate``) and the outbox backlog, at most ``ttl`` old."""
        with self._lock:
            now = self._clock()
            if self._value is None or self._read_at is None or now - self._read_at >= self._ttl:
                self._value = (
                    self._services.jobs.stats_estimate(METRICS_ACTOR),
                    self._services.notifications.outbox_backlog(METRICS_ACTOR),
                )
                self._read_at = now
            return self._value

    def jobs(self) -> JobStats:
        return self.read()[0]

    def invalidate(self) -> None:
        """Forget the last read (after a change this process made, so its next page shows it)."""
        with self._lock:
            self._value = None


class MetricsServer(Protocol):
    def shutdown(self) -> None: ...


def serve_metrics(metrics: Metrics, host: str, port: int) -> MetricsServer:
    """Serve ``/metrics`` on ``host:port`` from a daemon thread (the worker host's endpoint)."""
    server, _thread = start_http_server(port, addr=host, registry=metrics.registry())
    log.info("metrics.serving", host=host, port=server.server_port)
    return server


class QueueCollector(Collector):
    """Queue depth by status and type, the oldest due job's age, dead letters and the mail
    outbox backlog, read from the services on each scrape.

    A failed read (the database is down) yields ``townsquare_stats_up 0`` instead of failing
    the whole scrape: the other metrics of the process are still worth having.
    """

    def __init__(self, snapshot: QueueSnapshot, clock: Callable[[], float] = time.perf_counter) -> None:
        self._snapshot = snapshot
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("townsquare_stats_up", "1 when the last read of the queue and outbox stats worked.")
        started = self._clock()
        try:
            stats, backlog = self._snapshot.read()
        except Exception as exc:
            log.warning("metrics.stats_failed", error=type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        depth = GaugeMetricFamily(
            "townsquare_jobs", "Jobs by status and type (completed may be an estimate).", labels=["status", "job_type"]
        )
        for entry in stats.by_type:
            for status in JobStatus:
                depth.add_metric([status.value, entry.job_type], entry.counts.get(status, 0))
        yield depth
        oldest = GaugeMetricFamily(
            "townsquare_jobs_oldest_due_age_seconds", "How long the oldest due pending job has waited."
        )
        oldest.add_metric([], stats.oldest_due_age.total_seconds())
        yield oldest
        dead = GaugeMetricFamily("townsquare_jobs_dead_letters", "Jobs in the dead-letter queue.")
        dead.add_metric([], stats.dead_letters)
        yield dead
        outbox = GaugeMetricFamily("townsquare_mail_outbox_backlog", "Outbox mail waiting for the outbox sweep.")
        outbox.add_metric([], backlog.pending)
        yield outbox
        outbox_age = GaugeMetricFamily(
            "townsquare_mail_outbox_oldest_age_seconds", "How long the oldest pending outbox mail has waited."
        )
        outbox_age.add_metric([], backlog.oldest_age.total_seconds())
        yield outbox_age
        up.add_metric([], 1)
        yield up
        took = GaugeMetricFamily("townsquare_stats_read_seconds", "How long the last read of the stats took.")
        took.add_metric([], self._clock() - started)
        yield took
