"""Email verification and mail quotas, on both adapters: no mail reaches an address before
its owner confirms it with the code mailed to it, and nobody can make the host mail anyone
more than a few times a day."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from townsquare.bootstrap import Services
from townsquare.core.clock import ManualClock
from townsquare.core.errors import InvalidInput
from townsquare.core.identity import Actor
from townsquare.core.notifications import NotSentReason
from townsquare.core.notifications.verification import DAILY_QUOTAS, MAX_ATTEMPTS, TEST_DIGESTS, VERIFICATION_MAILS

SENDER = Actor("test-sender", roles=["service"])


def mail_to(services: Services, user: str, address: str) -> list[str]:
    """The texts of the outbox mail of ``user`` addressed to ``address``, oldest first."""
    return [m.message.text for m in services.notifications.outbox(Actor(user)) if m.message.to == address]


def code_in(text: str) -> str:
    match = re.search(r"\b(\d{6})\b", text)
    assert match, text
    return match.group(1)


def test_an_address_gets_no_mail_until_it_is_confirmed(services: Services) -> None:
    # Given alice sets an email address
    prefs = services.notifications.update_preferences(Actor("alice"), {"email_address": "x@example.com"})
    # Then it is unverified, and the only mail to it is one with a confirmation code
    assert prefs.email_address == "x@example.com" and not prefs.email_verified
    [verification] = mail_to(services, "alice", "x@example.com")
    assert "confirmation code" in verification
    # And neither an email-channel send nor a test digest goes to it
    result = services.notifications.send(SENDER, "alice", "email", "order", title="Shipped")
    assert not result.sent and result.reason is NotSentReason.EMAIL_UNVERIFIED
    with pytest.raises(InvalidInput) as refused:
        services.notifications.send_test_digest(Actor("alice"))
    assert refused.value.field == "email_address"
    assert len(mail_to(services, "alice", "x@example.com")) == 1
    # When she confirms it with the code
    confirmed = services.notifications.verify_email(Actor("alice"), code_in(verification))
    # Then mail goes to it
    assert confirmed.email_verified and services.notifications.preferences(Actor("alice")).email_verified
    assert services.notifications.send(SENDER, "alice", "email", "order", title="Shipped").sent
    services.notifications.send_test_digest(Actor("alice"))
    assert len(mail_to(services, "alice", "x@example.com")) == 3


def test_a_wrong_code_is_refused_and_attempts_run_out(services: Services) -> None:
    services.notifications.update_preferences(Actor("alice"), {"email_address": "x@example.com"})
    [verification] = mail_to(services, "alice", "x@example.com")
    right = code_in(verification)
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    for _ in range(MAX_ATTEMPTS):
        with pytest.raises(InvalidInput) as refused:
            services.notifications.verify_email(Actor("alice"), wrong)
        assert refused.value.field == "code"
    # Out of attempts: even the right code no longer verifies
    with pytest.raises(InvalidInput):
        services.notifications.verify_email(Actor("alice"), right)
    assert not services.notifications.preferences(Actor("alice")).email_verified


@pytest.mark.parametrize("code", ["12345", "1234567", "abcdef", "١٢٣٤٥٦", "", "12345\n"])
def test_a_malformed_code_is_refused(services: Services, code: str) -> None:
    services.notifications.update_preferences(Actor("alice"), {"email_address": "x@example.com"})
    with pytest.raises(InvalidInput) as refused:
        services.notifications.verify_email(Actor("alice"), code)
    assert refused.value.field == "code"


def test_codes_expire(services: Services, clock: ManualClock) -> None:
    services.notifications.update_preferences(Actor("alice"), {"email_address": "x@example.com"})
    [verification] = mail_to(services, "alice", "x@example.com")
    clock.advance(timedelta(hours=25))
    with pytest.raises(InvalidInput):
        services.notifications.verify_email(Actor("alice"), code_in(verification))


def test_a_changed_address_is_unverified_again_and_the_old_code_does_not_confirm_it(services: Services) -> None:
    services.notifications.update_preferences(Actor("alice"), {"email_address": "x@example.com"})
    services.notifications.verify_email(Actor("alice"), code_in(mail_to(services, "alice", "x@example.com")[0]))
    # When alice changes her address
    prefs = services.notifications.update_preferences(Actor("alice"), {"email_address": "y@example.com"})
    # Then the new one is unverified, gets a code, and no other mail
    assert not prefs.email_verified
    assert not services.notifications.send(SENDER, "alice", "email", "order", title="t").sent
    assert len(mail_to(services, "alice", "y@example.com")) == 1
    # And changing an unrelated preference keeps whatever state the address has
    assert not services.notifications.update_preferences(Actor("alice"), {"digest": {"hour": 7}}).email_verified
    assert len(mail_to(services, "alice", "y@example.com")) == 1
    # Switching back to the verified address needs no new code
    back = services.notifications.update_preferences(Actor("alice"), {"email_address": "x@example.com"})
    assert back.email_verified


def test_verification_mails_and_test_digests_are_capped_per_day(services: Services, clock: ManualClock) -> None:
    # Given alice asks for a code again and again
    for n in range(DAILY_QUOTAS[VERIFICATION_MAILS]):
        services.notifications.update_preferences(Actor("alice"), {"email_address": f"v{n}@example.com"})
    with pytest.raises(InvalidInput) as refused:
        services.notifications.update_preferences(Actor("alice"), {"email_address": "flood@example.com"})
    assert refused.value.field == "email_address"
    assert (
        services.notifications.preferences(Actor("alice")).email_address
        == f"v{DAILY_QUOTAS[VERIFICATION_MAILS] - 1}@example.com"
    )
    assert not mail_to(services, "alice", "flood@example.com")
    # And with a verified address, test digests stop at the day's quota
    services.notifications.trust_email_address(SENDER, "alice", "trusted@example.com")
    for _ in range(DAILY_QUOTAS[TEST_DIGESTS]):
        services.notifications.send_test_digest(Actor("alice"))
    with pytest.raises(InvalidInput):
        services.notifications.send_test_digest(Actor("alice"))
    # The next day the quotas are fresh
    clock.advance(timedelta(days=1))
    services.notifications.send_test_digest(Actor("alice"))
    services.notifications.update_preferences(Actor("alice"), {"email_address": "next-day@example.com"})
    assert len(mail_to(services, "alice", "next-day@example.com")) == 1


def test_clients_cannot_write_the_verification_state(services: Services) -> None:
    services.notifications.update_preferences(Actor("alice"), {"email_address": "x@example.com"})
    with pytest.raises(InvalidInput):
        services.notifications.update_preferences(Actor("alice"), {"mail_state": {"verified_address": "x@example.com"}})
    prefs = services.notifications.preferences(Actor("alice"))
    assert not prefs.email_verified
    assert "mail_state" not in prefs.document
