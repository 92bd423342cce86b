"""The HTTP host's factory: ``create_app(settings)`` returns a configured Litestar app."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Router
from litestar.datastructures import State
from litestar.middleware import DefineMiddleware

from townsquare import __version__
from townsquare.bootstrap import Services, bootstrap
from townsquare.core.jobs import BackgroundRunner, JobRunner
from townsquare.hosts.http.auth import PUBLIC_PATHS, JWTAuthenticationMiddleware, TokenVerifier
from townsquare.hosts.http.bodies import ApiRequest
from townsquare.hosts.http.console import ConsoleSession, console_router, template_config
from townsquare.hosts.http.deps import provide_actor
from townsquare.hosts.http.docs import docs_assets, with_local_docs_ui
from townsquare.hosts.http.middleware import (
    RateLimiter,
    RateLimitMiddleware,
    RequestContextMiddleware,
    finish_request,
    rate_limit_storage,
)
from townsquare.hosts.http.openapi import DocumentedAttrsSchemaPlugin, openapi_config
from townsquare.hosts.http.problems import EXCEPTION_HANDLERS, document_problems
from townsquare.hosts.http.routes import (
    assistant,
    composer,
    earnings,
    events,
    feed,
    insights,
    jobs,
    notifications,
    reports,
    system,
)
from townsquare.hosts.http.routes.declare import on_loop, provided
from townsquare.hosts.http.routes.testing import testing_router
from townsquare.hosts.logs import configure_logging
from townsquare.hosts.metrics import Metrics, QueueCollector, QueueSnapshot
from townsquare.hosts.telemetry import Tracing, start_error_reports, start_tracing
from townsquare.settings import Settings


def api_routes() -> list[Any]:
    """Every area's router: ``router()`` of each module in ``routes``."""
    return [
        system.router(),
        earnings.router(),
        insights.router(),
        jobs.router(),
        feed.router(),
        notifications.router(),
        assistant.router(),
        composer.router(),
        events.router(),
        reports.router(),
    ]


def host_metrics(settings: Settings, snapshot: QueueSnapshot) -> Metrics | None:
    """The host's metrics with the queue gauges, or ``None`` when ``METRICS_ENABLED`` is off."""
    if not settings.metrics_enabled:
        return None
    recorded = Metrics(multiprocess_dir=settings.metrics_multiprocess_dir)
    recorded.add_collector(QueueCollector(snapshot))
    return recorded


def create_app(settings: Settings, services: Services | None = None, *, tracing: Tracing | None = None) -> Litestar:
    """Build the HTTP host.

    Args:
        settings: the settings, read once by the caller.
        services: already-wired services (tests pass theirs); built with :func:`bootstrap`
            and closed at shutdown when omitted.
        tracing: where request and database spans go (tests pass theirs); started from
            ``OTEL_EXPORTER_OTLP_ENDPOINT`` when omitted and set.
    """
    tracing = tracing if tracing is not None else start_tracing(settings)
    if settings.sentry_dsn:
        from sentry_sdk.integrations.litestar import LitestarIntegration

        start_error_reports(settings, integrations=lambda: [LitestarIntegration()])
    owned = services is None
    wired = services if services is not None else bootstrap(settings)
    if owned and settings.is_memory and settings.seed_demo_data:
        from townsquare.demo import seed_demo_data

        seed_demo_data(wired)

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        # Memory mode keeps its data in this process, so this process also runs the due jobs:
        # on the wall clock in the background; on the mock clock only when a test moves it
        # (testing routes), so that mock mode repeats exactly. Tests pass their own services
        # and run jobs explicitly.
        background = owned and settings.is_memory and wired.manual_clock is None
        runner = BackgroundRunner(JobRunner(wired.jobs, wired.job_handlers)) if background else None
        if runner is not None:
            runner.start()
        try:
            yield
        finally:
            if runner is not None:
                runner.stop()
            if owned:
                wired.close()
            if tracing is not None:
                tracing.provider.force_flush()

    handlers: list[Any] = [*api_routes()]
    handlers.append(docs_assets())
    if settings.is_memory:
        handlers.append(testing_router(wired))
    snapshot = QueueSnapshot(wired)
    recorded = host_metrics(settings, snapshot)
    limiter = RateLimiter(settings.rate_limit, rate_limit_storage(settings))
    verifier = TokenVerifier(settings.jwt_secret, roles_claim=settings.jwt_roles_claim, audience=settings.jwt_audience)
    app = Litestar(
        route_handlers=[Router(path="/", route_handlers=handlers), console_router()],
        state=State(
            {
                "console_session": ConsoleSession(verifier, settings.jwt_secret.encode()),
                "queue_snapshot": snapshot,
                "rate_limiter": limiter,
            }
        ),
        template_config=template_config(),
        dependencies={
            "services": provided(wired),
            "actor": on_loop(provide_actor),
            "metrics": provided(recorded),
        },
        middleware=[
            RequestContextMiddleware,
            DefineMiddleware(JWTAuthenticationMiddleware, verifier=verifier, limiter=limiter, exclude=PUBLIC_PATHS),
            RateLimitMiddleware(limiter),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=with_local_docs_ui(openapi_config(__version__)),
        plugins=[DocumentedAttrsSchemaPlugin()] + ([] if tracing is None else [http_tracing(tracing)]),
        before_send=[finish_request] if recorded is None else [finish_request, recorded.before_send],
        request_class=ApiRequest,
        request_max_body_size=settings.max_body_bytes,
        lifespan=[lifespan],
        on_startup=[lambda: configure_logging(settings.log_level, json=settings.log_json)],
        # Logging is ours (hosts/logs.py): Litestar's own config would put plain-text lines
        # on the root logger before ours is in place.
        logging_config=None,
        debug=False,
    )
    document_problems(app, PUBLIC_PATHS)
    return app


def http_tracing(tracing: Tracing) -> Any:
    """Litestar's OpenTelemetry plugin on the host's tracer provider: a span per request."""
    from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin

    return OpenTelemetryPlugin(OpenTelemetryConfig(tracer_provider=tracing.provider, exclude=["/health", "/metrics"]))


def app_from_env() -> Litestar:
    """Factory for ``uvicorn --factory``: reads the settings from the environment once."""
    return create_app(Settings.from_env(os.environ))
