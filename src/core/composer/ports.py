"""The composer's storage ports, in the composer's words: drafts (compare-and-set on their version)
the entity index of the picker, and media (bytes by content key, and who uploaded what)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from townsquare.core.composer.media import Media
from townsquare.core.composer.models import Draft, DraftContent, Schedule
from townsquare.core.composer.search import Entity, EntityKind, SearchQuery


class DraftStore(Protocol):
    """Stores drafts. Every call runs inside a unit of work; each write is atomic on its own.

    A conditional write (``save``, ``replace``, ``delete``) changes the draft only when its
    stored version is the one given: that is the whole of the adapters' concurrency work.
    """

    def add(self, draft: Draft) -> bool:
        """Store a new draft; False (storing nothing) when its id is taken."""
        ...

    def get(self, draft_id: str) -> Draft | None:
        """The draft with this id (Postgres row-level security hides other authors' drafts)."""
        ...

    def get_for_update(self, draft_id: str) -> Draft | None:
        """The draft, locked until the transaction ends (a publish holds it while it writes)."""
        ...

    def save(self, draft_id: str, author_id: str, based_on: int, content: DraftContent, now: datetime) -> Draft | None:
        """Write new content as version ``based_on + 1`` if the author's draft is at ``based_on``.

        Returns the saved draft, or ``None`` (writing nothing) when there is no such draft of
        this author or its version is another.
        """
        ...

    def set_schedule(self, draft_id: str, based_on: int, schedule: Schedule | None, now: datetime) -> Draft | None:
        """Set (or, with ``None``, clear) the schedule as version ``based_on + 1`` if the draft is at ``based_on``."""
        ...

    def delete(self, draft_id: str, version: int) -> bool:
        """Delete the draft if it is at ``version``; False when it is not (or is gone)."""
        ...

    def delete_each(self, versions: Sequence[tuple[str, int]]) -> list[str]:
        """Delete each ``(draft_id, version)`` draft that is at that version; the ids deleted (one write)."""
        ...

    def due_for_update(self, now: datetime, limit: int) -> list[Draft]:
        """Up to ``limit`` scheduled drafts due at ``now``, earliest first (publish time, then id), locked.

        Drafts another transaction holds are skipped, not waited for (Postgres ``SKIP
        LOCKED``): a batch takes what is free and never waits behind another worker.
        """
        ...

    def list_by_author(self, author_id: str, *, after: tuple[datetime, str] | None, limit: int) -> list[Draft]:
        """The author's drafts, newest first (created_at, then draft_id, descending), after a position."""
        ...

    def count_scheduled(self, author_id: str) -> int:
        """How many of the author's drafts are scheduled."""
        ...

    def lock_author(self, author_id: str) -> None:
        """Serialize, until the transaction ends, the author's operations that count their drafts."""
        ...


class EntityIndex(Protocol):
    """The picker's index: entities written by their publishers, and one ordered read per ranking tier.

    Every read returns only entities the query may show (its kinds; public, or the
    searcher's own), in :attr:`Entity.key` order, at most ``limit`` of them; the predicates
    are those of :mod:`townsquare.core.composer.search`.
    """

    def put(self, entity: Entity) -> None:
        """Store the entity, replacing the one of the same kind and id."""
        ...

    def get(self, kind: EntityKind, entity_id: str) -> Entity | None:
        """The entity of this kind and id, visible or not."""
        ...

    def remove(self, kind: EntityKind, entity_id: str) -> bool:
        """Forget the entity; False when there was none."""
        ...

    def exact(self, query: SearchQuery, limit: int) -> list[Entity]:
        """Entities whose handle is the query's handle (tier 0)."""
        ...

    def followed(self, query: SearchQuery, limit: int) -> list[Entity]:
        """Creators the searcher follows that match by handle prefix or word prefixes (tier 1)."""
        ...

    def handle_prefix(self, query: SearchQuery, limit: int) -> list[Entity]:
        """Entities whose handle starts with the query's handle (tier 2)."""
        ...

    def word_prefixes(self, query: SearchQuery, limit: int) -> list[Entity]:
        """Entities with a name word starting with each query word (tier 3)."""
        ...

    def containing(self, query: SearchQuery, limit: int) -> list[Entity]:
        """Entities whose handle or lowercase name contains the query's text (tier 4)."""
        ...


class MediaStore(Protocol):
    """Where media bytes live, by content key. Writing a key again writes the same bytes (a no-op)."""

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` (its SHA-256); atomic: a reader sees all of it or nothing."""
        ...

    def get(self, key: str) -> bytes | None:
        """The bytes under ``key``, if stored."""
        ...


class MediaRecords(Protocol):
    """Who uploaded which media, and what it is. Runs inside a unit of work."""

    def add(self, media: Media) -> Media:
        """Record an owner's upload; an owner uploading the same key again gets the stored record."""
        ...

    def get(self, owner_id: str, media_key: str) -> Media | None:
        """The owner's record of ``media_key``."""
        ...

    def owned(self, owner_id: str, media_keys: Sequence[str]) -> set[str]:
        """Which of ``media_keys`` the owner has uploaded."""
        ...

    def set_thumbnail(self, media_key: str, thumbnail_key: str) -> int:
        """Give every record of ``media_key`` its thumbnail; returns how many."""
        ...
