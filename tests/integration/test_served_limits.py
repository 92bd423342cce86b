"""What ``townsquare serve`` bounds, tried against a real uvicorn process over raw sockets:
request-head size, slow and idle requests, forwarding headers, the server banner, and how a
client that goes away mid-body is logged.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from bench.running import Host

from townsquare.hosts.http.auth import mint_token
from townsquare.settings import DEV_JWT_SECRET

pytestmark = pytest.mark.slow


def host_env(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PORTS_MODE": "memory",
        "SEED_DEMO_DATA": "false",
        "MAX_HEADER_BYTES": "8192",
        "REQUEST_READ_TIMEOUT": "1",
        "LOG_LEVEL": "INFO",
        **extra,
    }


@pytest.fixture(scope="module")
def host() -> Iterator[Host]:
    served = Host(host_env(RATE_LIMIT="5/minute"))
    try:
        served.wait_healthy()
        yield served
    finally:
        served.stop()


def connect(host: Host) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", host.port), timeout=10)
    sock.settimeout(10)
    return sock


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_a_request_head_over_the_limit_is_refused_431_without_reading_it_whole(host: Host) -> None:
    # Given a client sending a 64 MiB Authorization header, slice by slice
    sock = connect(host)
    sock.sendall(b"GET /api/v1/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ")
    sent = 0
    try:
        while sent < 64 * 1024 * 1024:
            sock.sendall(b"a" * 65536)
            sent += 65536
    except OSError:  # the host closed the connection: what it should do
        pass
    # Then it answered 431 and closed long before the header ended
    answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:80]
    assert sent < 4 * 1024 * 1024
    # And a head just within the limit is served as usual
    token = mint_token(DEV_JWT_SECRET, "alice", now=datetime.now(UTC))
    padded = {"Authorization": f"Bearer {token}", "X-Padding": "p" * 6000}
    assert httpx.get(host.base_url + "/api/v1/me", headers=padded).status_code == 200


def test_a_half_sent_request_head_is_timed_out_with_408(host: Host) -> None:
    # Given a client that sends half a request head and then nothing
    sock = connect(host)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    started = time.monotonic()
    # Then the host answers 408 and closes within its read timeout (1 s here)
    answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:80]
    assert time.monotonic() - started < 5


def test_a_connection_that_sends_nothing_is_closed(host: Host) -> None:
    sock = connect(host)
    started = time.monotonic()
    assert read_all(sock) == b""
    assert time.monotonic() - started < 5


def test_a_half_sent_body_is_timed_out_and_not_logged_as_a_failure(host: Host) -> None:
    # Given a client that announces a 1,000-byte body and sends 10 bytes of it
    token = mint_token(DEV_JWT_SECRET, "alice", now=datetime.now(UTC))
    sock = connect(host)
    sock.sendall(
        b"POST /api/v1/notifications/read HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + token.encode() + b'\r\nContent-Length: 1000\r\n\r\n{"ids": [ '
    )
    # Then the host closes the connection within its read timeout
    started = time.monotonic()
    read_all(sock)
    assert time.monotonic() - started < 5
    # And a client that goes away mid-body is no failure of the host's
    sock = connect(host)
    sock.sendall(
        b"POST /api/v1/notifications/read HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + token.encode() + b'\r\nContent-Length: 1000\r\n\r\n{"ids": [ '
    )
    time.sleep(0.2)
    sock.close()
    time.sleep(0.5)
    assert httpx.get(host.base_url + "/health").status_code == 200
    events = [json.loads(line) for line in host.tail(500).splitlines() if line.startswith("{")]
    assert not [event for event in events if event.get("event") == "request.failed"], host.tail(40)
    assert "Traceback" not in host.tail(500)


def test_responses_carry_no_server_banner(host: Host) -> None:
    response = httpx.get(host.base_url + "/health")
    assert "server" not in response.headers
    assert response.headers["x-content-type-options"] == "nosniff"


def test_forwarded_for_from_loopback_is_not_believed_by_default(host: Host) -> None:
    # Given a budget of 5 requests a minute per address
    # When one client claims a new address in X-Forwarded-For on every request
    statuses = [
        httpx.get(host.base_url + "/api/v1/me", headers={"X-Forwarded-For": f"10.0.0.{i}"}).status_code
        for i in range(12)
    ]
    # Then its requests share one budget: the peer's
    assert 429 in statuses


def test_forwarded_for_is_believed_from_a_configured_proxy() -> None:
    # Given a host that trusts the proxy on loopback
    served = Host(host_env(RATE_LIMIT="5/minute", FORWARDED_ALLOW_IPS="127.0.0.1"))
    try:
        served.wait_healthy()
        # When the proxy forwards requests of 12 different clients
        statuses = [
            httpx.get(served.base_url + "/api/v1/me", headers={"X-Forwarded-For": f"10.0.0.{i}"}).status_code
            for i in range(12)
        ]
    finally:
        served.stop()
    # Then each client has its own budget
    assert set(statuses) == {401}
