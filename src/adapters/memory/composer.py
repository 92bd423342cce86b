"""The memory composer stores: drafts by id (every conditional write under the database's one
lock) and the picker's entity index."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from attrs import evolve

from townsquare.adapters.memory.database import MemoryDatabase
from townsquare.adapters.memory.feed import MemoryFeedStore
from townsquare.core.composer.media import Media
from townsquare.core.composer.models import Draft, DraftContent, Schedule
from townsquare.core.composer.search import (
    Entity,
    EntityKind,
    SearchQuery,
    contains,
    followed_match,
    has_handle_prefix,
    has_word_prefixes,
    is_exact,
    visible,
)


class MemoryDraftStore:
    """Implements :class:`townsquare.core.composer.DraftStore` in process memory (mock mode).

    Transactions are serial (the memory database's lock), so a version check and the write
    after it cannot interleave with another save: that is the compare-and-set.
    """

    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db
        self._drafts: dict[str, Draft] = {}
        db.on_reset(self._drafts.clear)

    def add(self, draft: Draft) -> bool:
        if draft.draft_id in self._drafts:
            return False
        self._put(draft)
        return True

    def get(self, draft_id: str) -> Draft | None:
        return self._drafts.get(draft_id)

    def get_for_update(self, draft_id: str) -> Draft | None:
        return self._drafts.get(draft_id)  # the transaction holds the one lock already

    def save(self, draft_id: str, author_id: str, based_on: int, content: DraftContent, now: datetime) -> Draft | None:
        current = self._drafts.get(draft_id)
        if current is None or current.author_id != author_id or current.version != based_on:
            return None
        return self._put(evolve(current, content=content, version=based_on + 1, updated_at=now))

    def set_schedule(self, draft_id: str, based_on: int, schedule: Schedule | None, now: datetime) -> Draft | None:
        current = self._drafts.get(draft_id)
        if current is None or current.version != based_on:
            return None
        return self._put(evolve(current, schedule=schedule, version=based_on + 1, updated_at=now))

    def delete(self, draft_id: str, version: int) -> bool:
        current = self._drafts.get(draft_id)
        if current is None or current.version != version:
            return False
        del self._drafts[draft_id]
        self._db.record_undo(lambda: self._drafts.__setitem__(draft_id, current))
        return True

    def delete_each(self, versions: Sequence[tuple[str, int]]) -> list[str]:
        return [draft_id for draft_id, version in versions if self.delete(draft_id, version)]

    def due_for_update(self, now: datetime, limit: int) -> list[Draft]:
        # Nothing is ever held by another transaction here: memory transactions are serial.
        due = sorted(
            (draft.schedule.publish_at, draft.draft_id, draft)
            for draft in self._drafts.values()
            if draft.schedule is not None and draft.schedule.publish_at <= now
        )
        return [draft for _, _, draft in due[:limit]]

    def list_by_author(self, author_id: str, *, after: tuple[datetime, str] | None, limit: int) -> list[Draft]:
        mine = sorted(
            (draft for draft in self._drafts.values() if draft.author_id == author_id),
            key=lambda draft: (draft.created_at, draft.draft_id),
            reverse=True,
        )
        if after is not None:
            mine = [draft for draft in mine if (draft.created_at, draft.draft_id) < after]
        return mine[:limit]

    def count_scheduled(self, author_id: str) -> int:
        return sum(1 for draft in self._drafts.values() if draft.author_id == author_id and draft.schedule is not None)

    def lock_author(self, author_id: str) -> None:
        """Nothing to do: memory transactions are serial."""

    def _put(self, draft: Draft) -> Draft:
        previous = self._drafts.get(draft.draft_id)
        self._drafts[draft.draft_id] = draft

        def undo() -> None:
            if previous is None:
                self._drafts.pop(draft.draft_id, None)
            else:
                self._drafts[draft.draft_id] = previous

        self._db.record_undo(undo)
        return draft


class MemoryEntityIndex:
    """Implements :class:`townsquare.core.composer.EntityIndex` in process memory (mock mode).

    Each tier filters every entity with the core's predicate and sorts by the core's key: fine
    for demo data, and the reference the Postgres indexes must agree with.
    """

    def __init__(self, db: MemoryDatabase, feed: MemoryFeedStore) -> None:
        self._db = db
        self._feed = feed
        self._entities: dict[tuple[EntityKind, str], Entity] = {}
        db.on_reset(self._entities.clear)

    def put(self, entity: Entity) -> None:
        key = (entity.kind, entity.entity_id)
        previous = self._entities.get(key)
        self._entities[key] = entity
        self._db.record_undo(lambda: self._restore(key, previous))

    def get(self, kind: EntityKind, entity_id: str) -> Entity | None:
        return self._entities.get((kind, entity_id))

    def remove(self, kind: EntityKind, entity_id: str) -> bool:
        key = (kind, entity_id)
        previous = self._entities.pop(key, None)
        if previous is None:
            return False
        self._db.record_undo(lambda: self._restore(key, previous))
        return True

    def exact(self, query: SearchQuery, limit: int) -> list[Entity]:
        return self._tier(query, limit, is_exact)

    def followed(self, query: SearchQuery, limit: int) -> list[Entity]:
        following = self._feed.followed_by(query.searcher)
        return self._tier(query, limit, lambda e, q: e.entity_id in following and followed_match(e, q))

    def handle_prefix(self, query: SearchQuery, limit: int) -> list[Entity]:
        return self._tier(query, limit, has_handle_prefix)

    def word_prefixes(self, query: SearchQuery, limit: int) -> list[Entity]:
        return self._tier(query, limit, has_word_prefixes)

    def containing(self, query: SearchQuery, limit: int) -> list[Entity]:
        return self._tier(query, limit, contains)

    def _tier(self, query: SearchQuery, limit: int, matches: Callable[[Entity, SearchQuery], bool]) -> list[Entity]:
        found = [e for e in self._entities.values() if visible(e, query) and matches(e, query)]
        return sorted(found, key=lambda entity: entity.key)[:limit]

    def _restore(self, key: tuple[EntityKind, str], entity: Entity | None) -> None:
        if entity is None:
            self._entities.pop(key, None)
        else:
            self._entities[key] = entity


class MemoryMediaStore:
    """Implements :class:`townsquare.core.composer.MediaStore` in process memory (mock mode and tests)."""

    def __init__(self, db: MemoryDatabase) -> None:
        self._files: dict[str, bytes] = {}
        db.on_reset(self._files.clear)

    def put(self, key: str, data: bytes) -> None:
        self._files.setdefault(key, bytes(data))  # outside transactions, like a file system

    def get(self, key: str) -> bytes | None:
        return self._files.get(key)


class MemoryMediaRecords:
    """Implements :class:`townsquare.core.composer.MediaRecords` in process memory."""

    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db
        self._records: dict[tuple[str, str], Media] = {}
        db.on_reset(self._records.clear)

    def add(self, media: Media) -> Media:
        key = (media.owner_id, media.media_key)
        stored = self._records.get(key)
        if stored is not None:
            return stored
        self._records[key] = media

        def undo() -> None:
            del self._records[key]

        self._db.record_undo(undo)
        return media

    def get(self, owner_id: str, media_key: str) -> Media | None:
        return self._records.get((owner_id, media_key))

    def owned(self, owner_id: str, media_keys: Sequence[str]) -> set[str]:
        return {key for key in media_keys if (owner_id, key) in self._records}

    def set_thumbnail(self, media_key: str, thumbnail_key: str) -> int:
        before = {key: media for key, media in self._records.items() if media.media_key == media_key}
        changed = {key: media for key, media in before.items() if media.thumbnail_key != thumbnail_key}
        for key, media in changed.items():
            self._records[key] = evolve(media, thumbnail_key=thumbnail_key)

        def undo() -> None:
            self._records.update(changed)

        self._db.record_undo(undo)
        return len(changed)
