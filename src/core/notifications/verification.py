"""Email verification and mail quotas: the rules over the preferences' ``mail_state``.

An address set in the preferences gets no mail (email-channel sends, digests, test digests)
until its owner confirms it with the code mailed to it, through the outbox like every mail.
Setting the address again re-sends a code; changing it makes the new one unverified. Codes
are six digits, kept only as a hash, valid for :data:`CODE_TTL` and :data:`MAX_ATTEMPTS`
tries. Each user may cause at most :data:`DAILY_QUOTAS` mails of each kind per UTC day, so
neither a loop of address changes nor of test sends can flood anyone's inbox.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from townsquare.core.errors import InvalidInput
from townsquare.core.notifications.models import MailMessage
from townsquare.core.notifications.preferences import MAIL_STATE

CODE_TTL = timedelta(hours=24)
MAX_ATTEMPTS = 5
VERIFICATION_MAILS = "verification_mails"
TEST_DIGESTS = "test_digests"
DAILY_QUOTAS = {VERIFICATION_MAILS: 5, TEST_DIGESTS: 5}
"""Mails of each kind one user may cause per UTC day."""


def mail_state(stored: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the stored document's mail state (empty when none)."""
    state = stored.get(MAIL_STATE)
    return dict(state) if isinstance(state, Mapping) else {}


def spend(state: dict[str, Any], kind: str, now: datetime) -> None:
    """Count one mail of ``kind`` today in ``state``.

    Raises:
        InvalidInput: today's quota of ``kind`` is spent (the field names what to wait for).
    """
    today = now.date().isoformat()
    quota = dict(state.get("quota") or {})
    if quota.get("day") != today:
        quota = {"day": today}
    used = int(quota.get(kind, 0))
    if used >= DAILY_QUOTAS[kind]:
        raise InvalidInput(
            f"at most {DAILY_QUOTAS[kind]} {kind.replace('_', ' ')} a day; try again tomorrow (UTC)",
            field="email_address" if kind == VERIFICATION_MAILS else "send_test",
        )
    quota[kind] = used + 1
    state["quota"] = quota


def start_verification(user_id: str, address: str, state: dict[str, Any], now: datetime) -> MailMessage:
    """Put a new code for ``address`` in ``state``; return the mail that carries it."""
    spend(state, VERIFICATION_MAILS, now)
    code = f"{secrets.randbelow(10**6):06d}"
    state["pending"] = {
        "address": address,
        "code_sha256": _digest(user_id, code),
        "expires_at": (now + CODE_TTL).isoformat(),
        "attempts": 0,
    }
    return MailMessage(
        to=address,
        subject="Confirm your email address",
        text=(
            f"Your townsquare confirmation code is {code}.\n\n"
            'Send it to POST /api/v1/notification-prefs/email/verify as {"code": "..."} '
            f"within {int(CODE_TTL.total_seconds() // 3600)} hours. No mail reaches this address before.\n"
            "If you did not ask for this, ignore this message.\n"
        ),
        headers={"X-Townsquare-Mail": "email-verification"},
    )


def confirm(user_id: str, address: str | None, code: str, state: dict[str, Any], now: datetime) -> bool:
    """Check ``code`` against the pending verification of ``address``, updating ``state``.

    Returns whether it matched (then ``address`` is verified); a miss spends an attempt.
    """
    pending = state.get("pending")
    if not isinstance(pending, Mapping) or address is None or pending.get("address") != address:
        return False
    if now >= datetime.fromisoformat(pending["expires_at"]) or pending["attempts"] >= MAX_ATTEMPTS:
        return False
    if not hmac.compare_digest(_digest(user_id, code), pending["code_sha256"]):
        state["pending"] = {**pending, "attempts": pending["attempts"] + 1}
        return False
    state["verified_address"] = address
    del state["pending"]
    return True


def check_code(code: object) -> str:
    """Return ``code`` when it is six digits, else raise :class:`InvalidInput`."""
    if not isinstance(code, str) or len(code) != 6 or not code.isascii() or not code.isdigit():
        raise InvalidInput("code must be the six digits mailed to your address", field="code")
    return code


def _digest(user_id: str, code: str) -> str:
    return hashlib.sha256(f"{user_id}\n{code}".encode()).hexdigest()
