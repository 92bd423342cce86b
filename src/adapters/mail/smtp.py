"""The SMTP MailSender: one connection per message through the standard library's smtplib."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import make_msgid
from urllib.parse import parse_qs, unquote, urlsplit

from townsquare.core.notifications.models import MailMessage

_TRUE = ("1", "true", "yes", "on")


class SmtpMailSender:
    """Delivers mail to an SMTP server.

    Args:
        host, port: the server.
        sender: the From address.
        username, password: credentials for AUTH (optional).
        starttls: upgrade the connection with STARTTLS before authenticating.
        use_ssl: connect with implicit TLS (SMTPS, usually port 465).
        timeout: seconds for connecting and each command.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        use_ssl: bool = False,
        timeout: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self._username = username
        self._password = password
        self._starttls = starttls
        self._use_ssl = use_ssl
        self._timeout = timeout

    @classmethod
    def from_url(cls, url: str, *, sender: str) -> SmtpMailSender:
        """Build from ``smtp://[user:password@]host[:port][?starttls=true]`` or ``smtps://...``.

        Raises:
            ValueError: not an smtp:// or smtps:// URL, or no host.
        """
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("SMTP_URL: expected smtp://[user:password@]host[:port] or smtps://...")
        query = parse_qs(parts.query)
        use_ssl = parts.scheme == "smtps"
        return cls(
            parts.hostname,
            parts.port or (465 if use_ssl else 25),
            sender=sender,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            starttls=query.get("starttls", ["false"])[0].lower() in _TRUE,
            use_ssl=use_ssl,
        )

    def send(self, message: MailMessage) -> None:
        """Send ``message``; smtplib's errors (refused, unreachable) propagate so the job retries."""
        email = EmailMessage()
        email["From"] = self.sender
        email["To"] = message.to
        email["Subject"] = message.subject
        email["Message-ID"] = make_msgid(domain="townsquare")
        for name, value in message.headers.items():
            email[name] = value
        email.set_content(message.text)
        smtp_class = smtplib.SMTP_SSL if self._use_ssl else smtplib.SMTP
        with smtp_class(self.host, self.port, timeout=self._timeout) as smtp:
            if self._starttls:
                smtp.starttls()
            if self._username is not None:
                smtp.login(self._username, self._password or "")
            smtp.send_message(email)
