"""The remembered preferences of sends: bounded, and checked by the store's version."""

from __future__ import annotations

from tests.conftest import EPOCH

from townsquare.adapters.memory.database import MemoryDatabase
from townsquare.adapters.memory.notifications import MemoryMailOutbox, MemoryNotificationStore, MemoryPreferenceStore
from townsquare.core.notifications.models import Channel, Lane, Notification, SendContext
from townsquare.core.notifications.preferences import Preferences
from townsquare.core.notifications.sending import PreferencesMemory


def test_the_cache_keeps_at_most_its_size_dropping_the_oldest() -> None:
    cache = PreferencesMemory(size=2)
    for user in ("a", "b", "c"):
        cache.remember(user, SendContext(None, None, 0))
    assert cache.get("a") is None
    assert cache.get("b") is not None and cache.get("c") is not None
    cache.forget("b")
    assert cache.get("b") is None


def test_a_cache_of_size_zero_remembers_nothing_but_still_parses() -> None:
    cache = PreferencesMemory(size=0)
    known = cache.remember("a", SendContext(None, {"categories": {"sale": False}}, 7))
    assert known.version == 7 and not known.preferences.categories["sale"]
    assert cache.get("a") is None


def _notification(ident: str) -> Notification:
    return Notification(
        id=ident, user_id="alice", channel=Channel.INAPP, category="sale", lane=Lane.COMMERCE,
        title="t", body="", data={}, created_at=EPOCH,
    )  # fmt: skip


def test_memory_versions_change_on_every_save_and_are_never_reused_after_a_reset() -> None:
    db = MemoryDatabase()
    prefs = MemoryPreferenceStore(db)
    store = MemoryNotificationStore(db, prefs, MemoryMailOutbox(db))
    seen = {prefs.version("alice")}
    with db.transaction():
        prefs.save("alice", {}, Preferences.from_stored(None), EPOCH)
    seen.add(prefs.version("alice"))
    db.reset()
    assert prefs.version("alice") == 0  # nothing stored: the defaults' version
    with db.transaction():
        prefs.save("alice", {}, Preferences.from_stored(None), EPOCH)
    seen.add(prefs.version("alice"))
    assert len(seen) == 3
    # A write decided on an older version stores nothing and hands back the current preferences
    with db.transaction():
        stale = store.add_within_cap(_notification("n1"), EPOCH.date(), 5, preferences_version=0)
        current = store.add_within_cap(_notification("n2"), EPOCH.date(), 5, preferences_version=prefs.version("alice"))
    assert stale.stale == SendContext(None, {}, prefs.version("alice")) and not stale.capped
    assert current.notification_id == "n2"
