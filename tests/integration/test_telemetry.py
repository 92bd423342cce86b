"""Traces and error reports: a request's span with its database statements as children, a job
run's span, and Sentry events captured locally (no network) with no personal data in them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest
from litestar.testing import TestClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from tests.conftest import memory_settings, postgres_settings
from townsquare.bootstrap import bootstrap
from townsquare.core.identity import system_actor
from townsquare.hosts.http.app import create_app
from townsquare.hosts.http.auth import mint_token
from townsquare.hosts.telemetry import Tracing, scrub_event, start_error_reports
from townsquare.hosts.worker.broker import setup_broker
from townsquare.hosts.worker.host import WorkerHost, WorkerOptions

OPERATOR = system_actor("tests")


@pytest.fixture
def spans() -> Iterator[tuple[Tracing, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    tracing = Tracing(memory_settings(), exporter)
    yield tracing, exporter
    tracing.close()


def bearer(user_id: str, *, admin: bool = False) -> dict[str, str]:
    settings = memory_settings()
    token = mint_token(settings.jwt_secret, user_id, now=datetime.now(UTC), roles=["admin"] if admin else [])
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.postgres
def test_a_request_span_has_its_statements_as_children(
    pg_url: str, spans: tuple[Tracing, InMemorySpanExporter]
) -> None:
    # Given a traced host on Postgres (instrumented before its pool opens a connection)
    tracing, exporter = spans
    settings = postgres_settings(pg_url)
    services = bootstrap(settings)
    try:
        with TestClient(create_app(settings, services, tracing=tracing)) as client:
            # When a request reads the database
            assert client.get("/api/v1/notifications/counts", headers=bearer("alice")).status_code == 200
    finally:
        services.close()
    tracing.provider.force_flush()
    finished = exporter.get_finished_spans()
    # Then its server span names the route, and the statements are spans of the same trace
    [server] = [span for span in finished if span.kind is SpanKind.SERVER]
    assert "/api/v1/notifications/counts" in server.name
    statements = [span for span in finished if (span.attributes or {}).get("db.system") == "postgresql"]
    assert statements, [span.name for span in finished]
    assert {span.context.trace_id for span in statements} == {server.context.trace_id}


def test_a_job_run_is_a_span(spans: tuple[Tracing, InMemorySpanExporter]) -> None:
    tracing, exporter = spans
    settings = memory_settings()
    services = bootstrap(settings)
    services.job_handlers.register("test.traced", lambda _context: None)
    broker = setup_broker(settings)
    host = WorkerHost(services, broker, WorkerOptions(threads=1, poll_interval=0.02), tracing=tracing)
    host.start()
    try:
        job_id = services.jobs.enqueue("test.traced")
        deadline = time.monotonic() + 10
        while services.jobs.get(OPERATOR, job_id).status.value != "completed" and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        host.stop()
        broker.close()
    tracing.provider.force_flush()
    [run] = [span for span in exporter.get_finished_spans() if span.name == "job test.traced"]
    assert (run.attributes or {})["townsquare.job.id"] == job_id


@pytest.mark.parametrize("adapter", ["memory", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_job_run_links_to_the_request_that_enqueued_it(
    adapter: str, request: pytest.FixtureRequest, spans: tuple[Tracing, InMemorySpanExporter]
) -> None:
    # Given: a traced HTTP host and worker host on the same queue (traces on: an OTLP endpoint
    # is set, the spans go to the in-memory exporter)
    tracing, exporter = spans
    endpoint = "http://127.0.0.1:4318"
    settings = (
        memory_settings(otlp_endpoint=endpoint)
        if adapter == "memory"
        else postgres_settings(request.getfixturevalue("pg_url"), otlp_endpoint=endpoint)
    )
    services = bootstrap(settings)
    broker = setup_broker(settings)
    host = WorkerHost(services, broker, WorkerOptions(threads=1, poll_interval=0.02), tracing=tracing)
    try:
        # When: a request enqueues a job, and the worker runs it
        with TestClient(create_app(settings, services, tracing=tracing)) as client:
            response = client.post("/api/v1/admin/jobs/test", json={"fail": False}, headers=bearer("root", admin=True))
        assert response.status_code == 201, response.text
        job_id = response.json()["job_id"]
        host.start()
        deadline = time.monotonic() + 10
        while services.jobs.get(OPERATOR, job_id).status.value != "completed" and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        host.stop()
        broker.close()
        services.close()
    tracing.provider.force_flush()
    finished = exporter.get_finished_spans()
    # Then: the run's span is the root of its own trace, with one link: the request's span
    [server] = [span for span in finished if span.kind is SpanKind.SERVER and "/admin/jobs/test" in span.name]
    [run] = [span for span in finished if span.name == "job poison_test"]
    assert (run.attributes or {})["townsquare.job.id"] == job_id
    assert run.parent is None and run.context.trace_id != server.context.trace_id
    [link] = run.links
    assert (link.context.trace_id, link.context.span_id) == (server.context.trace_id, server.context.span_id)


def test_jobs_enqueued_without_a_span_or_with_tracing_off_link_to_nothing(
    spans: tuple[Tracing, InMemorySpanExporter],
) -> None:
    # Given: a job enqueued with traces on but no current span, and one with traces off
    tracing, exporter = spans
    traced = bootstrap(memory_settings(otlp_endpoint="http://127.0.0.1:4318"))
    untraced = bootstrap(memory_settings())
    for services in (traced, untraced):
        services.job_handlers.register("test.traced", lambda _context: None)
        services.jobs.enqueue("test.traced")
        # When
        [job] = services.jobs.claim(1)
        # Then
        assert job.trace_parent is None
        with tracing.job_run(job.job_type, job.id, job.attempt, job.trace_parent):
            pass
    tracing.provider.force_flush()
    assert [span.links for span in exporter.get_finished_spans()] == [(), ()]


class CapturingTransport:
    """A sentry-sdk transport that keeps events here instead of sending them."""

    def __init__(self, options: Any = None) -> None:
        self.events: list[dict[str, Any]] = []

    def capture_envelope(self, envelope: Any) -> None:
        for item in envelope.items:
            if item.headers.get("type") == "event":
                self.events.append(item.payload.json)

    def flush(self, timeout: float, callback: Any = None) -> None: ...

    def kill(self) -> None: ...

    def record_lost_event(self, *args: Any, **kwargs: Any) -> None: ...

    def is_healthy(self) -> bool:
        return True


@pytest.fixture
def sentry_events() -> Iterator[list[dict[str, Any]]]:
    import sentry_sdk
    from sentry_sdk.transport import Transport

    transport = type("Capturing", (CapturingTransport, Transport), {})()
    yield transport.events
    sentry_sdk.get_client().close()
    sentry_sdk.init()  # no DSN: reporting off again for the rest of the process


def test_a_500_is_reported_to_sentry_without_personal_data(sentry_events: list[dict[str, Any]]) -> None:
    import sentry_sdk
    from sentry_sdk.integrations.litestar import LitestarIntegration

    # Given error reports on, and a store that breaks
    settings = attrs.evolve(memory_settings(), sentry_dsn="https://public@errors.invalid/1")
    from sentry_sdk.transport import Transport

    capture = type("Capturing", (CapturingTransport, Transport), {})()
    assert start_error_reports(settings, transport=capture, integrations=lambda: [LitestarIntegration()])
    services = bootstrap(settings)

    def broken(_now: datetime) -> None:
        raise RuntimeError("the stats store broke")

    services.jobs.store.stats = broken  # type: ignore[method-assign]
    with TestClient(create_app(attrs.evolve(settings, sentry_dsn=""), services)) as client:
        headers = {**bearer("root", admin=True), "Cookie": "session=secret-cookie"}
        response = client.get("/api/v1/admin/jobs/stats?email=alice@example.com", headers=headers)
    assert response.status_code == 500
    sentry_sdk.flush()
    # Then the error is reported (by the Litestar integration, and from the error log line),
    # and no event carries the token, the cookie or the query string
    events = [e for e in capture.events if "the stats store broke" in str(e)]
    assert events
    for event in events:
        # (the stack frames' source lines are this test's code, which spells the values out)
        frames = [value.get("stacktrace") for value in event.get("exception", {}).get("values", [])]
        text = str({key: value for key, value in event.items() if key != "exception"}) + str(
            [{**value, "stacktrace": None} for value in event.get("exception", {}).get("values", [])]
        )
        assert not [frame for trace in frames if trace for frame in trace["frames"] if "vars" in frame]
        assert "Bearer" not in text and "secret-cookie" not in text and "alice@example.com" not in text
        assert "authorization" not in {k.lower() for k in event.get("request", {}).get("headers", {})}


def test_the_scrubber_drops_what_could_identify_a_person() -> None:
    event = {
        "request": {
            "url": "https://api.example/api/v1/feed?email=a@b.c",
            "headers": {"Authorization": "Bearer x", "Cookie": "c=1", "User-Agent": "ua"},
            "cookies": {"c": "1"},
            "data": {"password": "p"},
            "query_string": "email=a@b.c",
        },
        "user": {"id": "alice", "email": "a@b.c", "ip_address": "10.0.0.1"},
        "exception": {"values": [{"stacktrace": {"frames": [{"function": "f", "vars": {"token": "t"}}]}}]},
        "extra": {"token": "t", "job_id": 7},
    }
    scrubbed = scrub_event(event)
    assert scrubbed["request"] == {"url": "https://api.example/api/v1/feed", "headers": {"User-Agent": "ua"}}
    assert scrubbed["user"] == {"id": "alice"}
    assert "vars" not in scrubbed["exception"]["values"][0]["stacktrace"]["frames"][0]
    assert scrubbed["extra"] == {"token": "[Filtered]", "job_id": 7}
