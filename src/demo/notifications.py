"""Demo notifications for mock mode: an inbox in every lane, preferences and a digest schedule."""

from __future__ import annotations

from typing import Any

from townsquare.bootstrap import Services
from townsquare.core.identity import Actor
from townsquare.demo.earnings import SEEDER

# (user, channel, category, title, body, read) in sending order. At most 4 per user and
# channel: the daily cap is 5, and the README's tour sends each demo user one more today.
# Keys make every send idempotent, and ids derive from them, so they are stable.
_NOTIFICATIONS = [
    ("alice", "inapp", "comment", "Carol commented on your post", "“Love the glaze on this one!”", False),
    ("alice", "inapp", "sale", "You sold “Blue bowl”", "Order #1042: $48.00, ships in 2 days", False),
    ("alice", "inapp", "event", "Market stall tomorrow", "Harbour Events: Saturday 10:00, stall 14", False),
    ("alice", "inapp", "security", "New sign-in", "A new device signed in to your account", False),
    ("alice", "email", "order", "Your order shipped", "Loom & Thread shipped your order #887", False),
    ("bob", "inapp", "like", "Alice liked your video", "“Studio day” has 12 new likes", False),
    ("bob", "inapp", "tip", "You got a $5.00 tip", "From carol: “thanks for the Q&A”", False),
    ("bob", "inapp", "reminder", "Your event starts in 1 hour", "Behind the scenes, live", True),
    ("carol", "inapp", "mention", "Alice mentioned you", "“@carol the kiln is free on Sunday”", False),
    ("carol", "inapp", "payout", "Payout on its way", "$212.40 to your bank account", False),
]

_PREFERENCES: dict[str, dict[str, Any]] = {
    "alice": {
        "timezone": "Europe/Berlin",
        "email_address": "alice@example.com",
        "digest": {"frequency": "daily", "hour": 18},
    },
    "bob": {
        "timezone": "America/New_York",
        "email_address": "bob@example.com",
        "quiet_hours": {"enabled": True, "start": "22:00", "end": "07:00"},
        "digest": {"frequency": "weekly", "hour": 9, "weekday": "monday"},
    },
    "carol": {"channels": {"push": False}, "categories": {"like": False}},
}


def seed(services: Services) -> None:
    """Send the demo notifications, mark some read and store the demo preferences (idempotent)."""
    from townsquare.demo import DEMO_USERS

    notifications = services.notifications
    for number, (name, channel, category, title, body, read) in enumerate(_NOTIFICATIONS):
        user_id = DEMO_USERS[name]
        if channel == "email":
            # Email needs a verified address: alice's comes with her preferences.
            _store_preferences(services, user_id, _PREFERENCES[name])
        result = notifications.send(
            SEEDER,
            user_id,
            channel,
            category,
            title=title,
            body=body,
            idempotency_key=f"demo-notification-{number:02d}",
        )
        if read and result.notification_id is not None:
            notifications.mark_read(Actor(user_id), [result.notification_id])
    for name, preferences in _PREFERENCES.items():
        _store_preferences(services, DEMO_USERS[name], preferences)


def _store_preferences(services: Services, user_id: str, preferences: dict[str, Any]) -> None:
    # The demo addresses count as confirmed: demo data sends no verification codes.
    rest = {key: value for key, value in preferences.items() if key != "email_address"}
    services.notifications.update_preferences(Actor(user_id), rest)
    if "email_address" in preferences:
        services.notifications.trust_email_address(SEEDER, user_id, preferences["email_address"])
