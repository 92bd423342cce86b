"""The SMTP MailSender against a real SMTP server (aiosmtpd) started by the test on 127.0.0.1."""

from __future__ import annotations

import smtplib
import socket
from collections.abc import Iterator
from email import message_from_bytes, policy
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.conftest import memory_settings
from townsquare.adapters.mail.smtp import SmtpMailSender
from townsquare.bootstrap import bootstrap
from townsquare.core.clock import ManualClock
from townsquare.core.identity import Actor, system_actor
from townsquare.core.jobs import JobRunner
from townsquare.core.notifications import MailMessage

SENDER = Actor("test-sender", roles=["service"])
WORKER = system_actor("tests")


class Inbox:
    """An aiosmtpd handler that keeps what it receives and refuses one address."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], bytes]] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address.endswith("@refused.example"):
            return "550 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def test_a_message_reaches_the_smtp_server(smtp_server: tuple[Inbox, int]) -> None:
    inbox, port = smtp_server
    sender = SmtpMailSender.from_url(f"smtp://127.0.0.1:{port}", sender="townsquare <no-reply@example.com>")
    sender.send(MailMessage(to="alice@example.com", subject="Hello ✓", text="Body line\n", headers={"X-Kind": "t"}))
    [(mail_from, rcpt_tos, content)] = inbox.received
    parsed = message_from_bytes(content, policy=policy.default)
    assert (mail_from, rcpt_tos) == ("no-reply@example.com", ["alice@example.com"])
    assert parsed["Subject"] == "Hello ✓"
    assert parsed["X-Kind"] == "t"
    assert parsed.get_payload(decode=True).decode().strip() == "Body line"  # type: ignore[union-attr]


def test_a_refusal_or_an_unreachable_server_raises(smtp_server: tuple[Inbox, int]) -> None:
    _, port = smtp_server
    sender = SmtpMailSender("127.0.0.1", port, sender="no-reply@example.com")
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        sender.send(MailMessage(to="bob@refused.example", subject="s", text="t"))
    closed = SmtpMailSender("127.0.0.1", free_port(), sender="no-reply@example.com", timeout=2)
    with pytest.raises(OSError):
        closed.send(MailMessage(to="bob@example.com", subject="s", text="t"))


def test_bad_smtp_urls_are_refused() -> None:
    with pytest.raises(ValueError, match="SMTP_URL"):
        SmtpMailSender.from_url("http://mail.example.com", sender="x@example.com")
    parsed = SmtpMailSender.from_url("smtps://user%40x:p%2Fw@mail.example.com?starttls=false", sender="x@example.com")
    assert (parsed.host, parsed.port) == ("mail.example.com", 465)


def test_the_worker_delivers_outbox_mail_over_smtp(smtp_server: tuple[Inbox, int], clock: ManualClock) -> None:
    # Given the services configured with SMTP_URL pointing at the test server
    inbox, port = smtp_server
    services = bootstrap(memory_settings(smtp_url=f"smtp://127.0.0.1:{port}"), clock=clock)
    services.notifications.trust_email_address(SENDER, "alice", "alice@example.com")
    # When an email notification is sent and the worker runs
    services.notifications.send(SENDER, "alice", "email", "order", title="Shipped", body="Your order shipped")
    services.notifications.process_outbox(WORKER)
    JobRunner(services.jobs, services.job_handlers).run_due()
    # Then the SMTP server received it once
    assert [(rcpt, message_from_bytes(content)["Subject"]) for _, rcpt, content in inbox.received] == [
        (["alice@example.com"], "Shipped")
    ]
    assert services.notifications.outbox(Actor("alice"))[0].status.value == "delivered"
