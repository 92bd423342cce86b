"""Traces (OpenTelemetry) and error reports (Sentry) of both hosts, each on only when configured.

Traces: with ``OTEL_EXPORTER_OTLP_ENDPOINT`` set, the HTTP host makes a span per request
(Litestar's OpenTelemetry middleware), every Postgres statement is a child span (psycopg's
instrumentation, which also sees the statements the unit of work runs on its own cursor), and
the worker makes a span per job run, linked to the span that enqueued the job (its trace
context is stored with the job: ``townsquare.adapters.trace_context``). Nothing is set up, and
nothing costs, when it is unset.

Error reports: with ``SENTRY_DSN`` set, unhandled errors of requests (Litestar integration) and
of job runs (the worker reports a failed run itself; Dramatiq's integration covers its own
threads) go to Sentry, without personal data: ``send_default_pii`` is off and
:func:`scrub_event` drops what could still carry some (headers, cookies, bodies, query strings,
user fields, local variables).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import structlog
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from townsquare import __version__
from townsquare.adapters.trace_context import linked_context
from townsquare.settings import Settings

log = structlog.get_logger("townsquare.telemetry")

# Header-like keys whose values are credentials or personal data wherever they appear.
_SECRET_KEYS = frozenset({"authorization", "cookie", "set-cookie", "x-api-key", "token", "password", "csrf_token"})


class Tracing:
    """This process's tracer provider and the instrumentation it switched on.

    Args:
        settings: the service name and OTLP endpoint.
        exporter: where spans go instead of OTLP (tests pass an in-memory exporter).
    """

    def __init__(self, settings: Settings, exporter: SpanExporter | None = None) -> None:
        from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor

        resource = Resource.create({"service.name": settings.service_name, "service.version": __version__})
        self.provider = TracerProvider(resource=resource)
        if exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter(endpoint=settings.otlp_endpoint.rstrip("/") + "/v1/traces")
        self.provider.add_span_processor(BatchSpanProcessor(exporter))
        self.tracer = self.provider.get_tracer("townsquare")
        # Connections opened from now on make a span per statement (the pools open theirs lazily).
        self._psycopg = PsycopgInstrumentor()
        self._psycopg.instrument(tracer_provider=self.provider, skip_dep_check=True)

    @contextmanager
    def job_run(self, job_type: str, job_id: int, attempt: int, trace_parent: str | None = None) -> Iterator[None]:
        """A span around one job run (its statements are its children).

        The run is the root of a trace of its own, linked to the span that enqueued the job
        (``trace_parent``, stored with the job): a consumer's span in OpenTelemetry's messaging
        conventions, as a job may run long after that request, or more than once.
        """
        attributes: dict[str, str | int] = {
            "townsquare.job.type": job_type,
            "townsquare.job.id": job_id,
            "townsquare.job.attempt": attempt,
        }
        enqueuer = linked_context(trace_parent)
        links = [] if enqueuer is None else [trace.Link(enqueuer)]
        with self.tracer.start_as_current_span(
            f"job {job_type}", context=Context(), kind=trace.SpanKind.CONSUMER, attributes=attributes, links=links
        ):
            yield

    def close(self) -> None:
        """Export what is buffered and undo the instrumentation."""
        self._psycopg.uninstrument()
        self.provider.shutdown()


def start_tracing(settings: Settings, exporter: SpanExporter | None = None) -> Tracing | None:
    """:class:`Tracing` when an OTLP endpoint (or an exporter) is given, else ``None``."""
    if not settings.otlp_endpoint and exporter is None:
        return None
    tracing = Tracing(settings, exporter)
    log.info("tracing.on", endpoint=settings.otlp_endpoint or type(exporter).__name__)
    return tracing


def scrub_event(event: Any, _hint: Any = None) -> Any:
    """Sentry ``before_send``: keep what locates an error, drop what could identify a person."""
    request = event.get("request")
    if isinstance(request, dict):
        for key in ("cookies", "data", "query_string", "env"):
            request.pop(key, None)
        headers = request.get("headers")
        if isinstance(headers, dict):
            request["headers"] = {k: v for k, v in headers.items() if k.lower() not in _SECRET_KEYS}
        if isinstance(request.get("url"), str):
            request["url"] = request["url"].split("?", 1)[0]
    user = event.get("user")
    if isinstance(user, dict):
        # A user id is pseudonymous and says whose request failed; addresses and names are not kept.
        event["user"] = {"id": user["id"]} if "id" in user else {}
    for exception in (event.get("exception") or {}).get("values") or []:
        for frame in (exception.get("stacktrace") or {}).get("frames") or []:
            frame.pop("vars", None)
    extra = event.get("extra")
    if isinstance(extra, dict):
        event["extra"] = _scrub_mapping(extra)
    return event


def _scrub_mapping(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: "[Filtered]" if key.lower() in _SECRET_KEYS else value for key, value in values.items()}


def start_error_reports(
    settings: Settings, *, transport: Any = None, integrations: Callable[[], list[Any]] | None = None
) -> bool:
    """Initialise sentry-sdk when ``SENTRY_DSN`` is set; returns whether it did.

    Args:
        settings: the DSN and the environment.
        transport: where events go instead of Sentry (tests capture them locally).
        integrations: the host's integrations (Litestar for the HTTP host, Dramatiq for the worker).
    """
    if not settings.sentry_dsn:
        return False
    import sentry_sdk

    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        environment=settings.sentry_environment,
        release=f"townsquare@{__version__}",
        send_default_pii=False,
        include_local_variables=False,
        max_request_body_size="never",
        before_send=scrub_event,
        integrations=integrations() if integrations else [],
        transport=transport,
        traces_sample_rate=0.0,
    )
    log.info("error_reports.on", environment=settings.sentry_environment)
    return True
