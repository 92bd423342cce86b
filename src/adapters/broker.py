"""Reachability checks for the message broker (Redis or RabbitMQ), used by readiness."""

from __future__ import annotations

import pika
import redis


def broker_ping(url: str, timeout: float = 2.0) -> None:
    """Raise if the broker at ``url`` does not answer."""
    if url.startswith(("redis://", "rediss://")):
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            client.ping()
        finally:
            client.close()
        return
    params = pika.URLParameters(url)
    params.socket_timeout = timeout
    params.blocked_connection_timeout = timeout
    connection = pika.BlockingConnection(params)
    connection.close()
