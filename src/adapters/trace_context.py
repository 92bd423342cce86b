"""Jobs' trace context (W3C ``traceparent``): read where a job is enqueued, linked where it runs.

An enqueue stores the ``traceparent`` of the span current in its thread (an HTTP request's,
for one); the worker's span of each run of that job links to it. The run stays the root of a
trace of its own, as OpenTelemetry's messaging conventions have queue consumers do: a job
may run long after its request ended, several times, or in a batch of jobs from many requests.
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_PROPAGATOR = TraceContextTextMapPropagator()


def current_trace_parent() -> str | None:
    """The W3C ``traceparent`` of this thread's current span, or ``None`` when there is none."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"


def linked_context(trace_parent: str | None) -> trace.SpanContext | None:
    """The span context a stored ``traceparent`` names (``None``: none stored, or malformed)."""
    if not trace_parent:
        return None
    # Extracted onto an empty context: never onto whatever span is current here.
    context = _PROPAGATOR.extract({"traceparent": trace_parent}, context=Context())
    span_context = trace.get_current_span(context).get_span_context()
    return span_context if span_context.is_valid else None
