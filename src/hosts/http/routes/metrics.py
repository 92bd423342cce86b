"""``GET /metrics``: the Prometheus exposition of this host, for admins only.

Prometheus scrapes it with an admin bearer token (``authorization`` in its scrape config);
without one it gets the API's 401, with a non-admin token a 403 (docs/operations.md).
"""

from __future__ import annotations

from litestar import Response

from townsquare.core.errors import NotFound
from townsquare.hosts.http.auth import admin_guard
from townsquare.hosts.http.deps import MetricsDep
from townsquare.hosts.http.routes.declare import get
from townsquare.hosts.metrics import CONTENT_TYPE


@get(
    "/metrics",
    summary="Prometheus metrics of this host (admin)",
    guards=[admin_guard],
    tags=["system", "admin"],
    media_type=CONTENT_TYPE,
)
def scrape(metrics: MetricsDep) -> Response[bytes]:
    """Prometheus metrics of this host in the text exposition format (admin)."""
    # A plain function, so a worker thread: the queue gauges read the database on each scrape.
    if metrics is None:
        raise NotFound("metrics are off on this host (METRICS_ENABLED=false)")
    return Response(metrics.exposition(), media_type=CONTENT_TYPE)
