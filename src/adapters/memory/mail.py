"""The memory MailSender: records every message instead of sending it (mock mode, tests)."""

from __future__ import annotations

import threading

from townsquare.core.notifications.models import MailMessage


class RecordingMailSender:
    """Keeps the messages it was asked to send, in order.

    Args:
        fail_times: refuse the first N sends (to exercise retries).
    """

    def __init__(self, fail_times: int = 0) -> None:
        self._lock = threading.Lock()
        self._messages: list[MailMessage] = []
        self.fail_times = fail_times

    def send(self, message: MailMessage) -> None:
        with self._lock:
            if self.fail_times > 0:
                self.fail_times -= 1
                raise ConnectionError("the recording mail sender refuses on purpose (fail_times)")
            self._messages.append(message)

    @property
    def messages(self) -> list[MailMessage]:
        with self._lock:
            return list(self._messages)

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()
