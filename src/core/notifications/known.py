"""The preferences this process last decided sends on, per user: hints, checked on every write.

A send decided on a remembered (preferences, version) pair passes the version to the store's
atomic write, which refuses a stale one and returns the current preferences; a refusal decided
on one is confirmed by reading the store. So a remembered entry saves a round trip when it is
current and can never make a send go out, or be refused, against what is stored.
"""

from __future__ import annotations

from attrs import frozen

from townsquare.core.bounded import BoundedCache
from townsquare.core.notifications.models import SendContext
from townsquare.core.notifications.preferences import Preferences

DEFAULT_SIZE = 10_000


@frozen
class KnownPreferences:
    """A user's effective preferences and the stored version they were read at."""

    preferences: Preferences
    version: int


class KnownPreferencesCache:
    """A bounded map of user id to :class:`KnownPreferences`; the oldest entry goes first."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self._entries: BoundedCache[str, KnownPreferences] = BoundedCache(size)

    def get(self, user_id: str) -> KnownPreferences | None:
        return self._entries.get(user_id)

    def remember(self, user_id: str, context: SendContext) -> KnownPreferences:
        """Parse the context's stored document, keep it (if the cache has room at all) and return it."""
        known = KnownPreferences(Preferences.from_stored(context.preferences), context.preferences_version)
        self._entries.put(user_id, known)
        return known

    def forget(self, user_id: str) -> None:
        self._entries.forget(user_id)
