"""Broker factory: Redis or RabbitMQ from settings, Dramatiq's in-process stub broker otherwise.

The brokers run without Dramatiq's ``Retries`` and ``TimeLimit`` middleware: retries,
backoff and the dead-letter queue are the job queue's own rules (in core, recorded in the
job store), and a job's time is bounded by its lease, not by killing a worker thread.
"""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import Middleware, Retries, TimeLimit, default_middleware

from townsquare.settings import Settings


def broker_middleware() -> list[Middleware]:
    """Dramatiq's default middleware minus the ones whose job the queue does itself."""
    return [middleware() for middleware in default_middleware if middleware not in (Retries, TimeLimit)]


def setup_broker(settings: Settings, *, namespace: str = "townsquare") -> dramatiq.Broker:
    """Build the broker named by ``settings.broker_url`` (never at import time).

    ``redis://`` and ``amqp://`` URLs give the production brokers; an empty URL gives the
    in-process :class:`StubBroker` that memory mode and tests use.

    Args:
        settings: the settings.
        namespace: the Redis key prefix (separate deployments sharing a Redis use their own).
    """
    url = settings.broker_url
    broker: dramatiq.Broker
    if url.startswith(("redis://", "rediss://")):
        broker = RedisBroker(url=url, middleware=broker_middleware(), namespace=namespace)  # type: ignore[no-untyped-call]
    elif url.startswith(("amqp://", "amqps://")):
        broker = RabbitmqBroker(url=url, middleware=broker_middleware())
    else:
        broker = StubBroker(middleware=broker_middleware())
        broker.emit_after("process_boot")
    return broker
