"""Brokers from settings, against the real Redis and RabbitMQ; readiness reports them."""

from __future__ import annotations

import pytest
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker

from tests.conftest import memory_settings
from townsquare.adapters.broker import broker_ping
from townsquare.bootstrap import bootstrap
from townsquare.hosts.worker.broker import setup_broker


def test_no_broker_url_gives_the_in_process_broker() -> None:
    assert isinstance(setup_broker(memory_settings()), StubBroker)


@pytest.mark.broker
def test_redis_broker(redis_url: str) -> None:
    broker = setup_broker(memory_settings(broker_url=redis_url))
    assert isinstance(broker, RedisBroker)
    broker.close()
    services = bootstrap(memory_settings(broker_url=redis_url))
    services.readiness["broker"]()


@pytest.mark.broker
def test_rabbitmq_broker(rabbitmq_url: str) -> None:
    broker = setup_broker(memory_settings(broker_url=rabbitmq_url))
    assert isinstance(broker, RabbitmqBroker)
    broker.close()
    broker_ping(rabbitmq_url)


def test_an_unreachable_broker_fails_readiness() -> None:
    services = bootstrap(memory_settings(broker_url="redis://127.0.0.1:1/0"))
    with pytest.raises(Exception, match=r"(?i)connect"):
        services.readiness["broker"]()
