"""Broker factory: Redis or RabbitMQ from settings, Dramatiq's in-process stub broker otherwise."""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker

from townsquare.settings import Settings


def setup_broker(settings: Settings) -> dramatiq.Broker:
    """Build the broker named by ``settings.broker_url`` (never at import time).

    ``redis://`` and ``amqp://`` URLs give the production brokers; an empty URL gives the
    in-process :class:`StubBroker` that memory mode and tests use.
    """
    url = settings.broker_url
    broker: dramatiq.Broker
    if url.startswith(("redis://", "rediss://")):
        broker = RedisBroker(url=url)  # type: ignore[no-untyped-call]
    elif url.startswith(("amqp://", "amqps://")):
        broker = RabbitmqBroker(url=url)
    else:
        broker = StubBroker()
        broker.emit_after("process_boot")
    return broker
