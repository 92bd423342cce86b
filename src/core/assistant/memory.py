"""User memory: remember, recall (exact top-k by cosine, one user only), update, forget, history.

A near-duplicate (similarity at or above the threshold) updates the memory it duplicates
instead of adding another. Expired memories are hidden from the instant the Clock passes
their expiry and pruned later by a periodic job. Writes to one user's memories are serial
(the store's ``claim_user``), which makes the near-duplicate check exact under concurrency.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from attrs import evolve, frozen

from townsquare.core.assistant.models import (
    Memory,
    MemoryEvent,
    MemoryHistoryEntry,
    RecallHit,
    Remembered,
    check_memory_text,
)
from townsquare.core.assistant.ports import Embedder, MemoryStore
from townsquare.core.assistant.vectors import PreparedVectors, dims_of, prepare, similarity, top_k
from townsquare.core.bounded import BoundedCache
from townsquare.core.clock import Clock
from townsquare.core.cursor import CursorCodec
from townsquare.core.errors import InvalidInput, NotFound
from townsquare.core.identity import Actor
from townsquare.core.ids import IdSource, RandomIds
from townsquare.core.uow import UnitOfWork

MAX_K = 100
"""Recall returns at most this many memories (k of 10,000 is a 400 naming ``k``)."""
DUPLICATE_THRESHOLD = 0.92
"""Cosine similarity at or above which a new memory is taken for an existing one."""
MAX_PAGE = 100
VECTOR_CACHE_USERS = 256


@frozen
class MemoryPage:
    memories: list[Memory]
    next_cursor: str | None


@frozen
class HistoryPage:
    entries: list[MemoryHistoryEntry]
    next_cursor: str | None


class VectorCache:
    """The embeddings of recently recalled users, keyed by the user's memory version.

    Recall reads the version (one indexed lookup) and reuses the loaded vectors while no
    write has bumped it, in any process: a stale entry is never used, only replaced.
    """

    def __init__(self, users: int = VECTOR_CACHE_USERS) -> None:
        self._entries: BoundedCache[tuple[str, int], PreparedVectors] = BoundedCache(users)
        self._latest: dict[str, tuple[str, int]] = {}

    def get(self, user_id: str, version: int, dims: int) -> PreparedVectors | None:
        found = self._entries.get((user_id, version))
        return found if found is not None and found.dims == dims else None

    def clear(self) -> None:
        """Forget everything (mock mode's reset starts versions again from 0)."""
        for key in list(self._latest.values()):
            self._entries.forget(key)
        self._latest.clear()

    def put(self, user_id: str, version: int, vectors: PreparedVectors) -> None:
        previous = self._latest.get(user_id)
        if previous is not None and previous != (user_id, version):
            self._entries.forget(previous)
        self._latest[user_id] = (user_id, version)
        self._entries.put((user_id, version), vectors)


class MemoryService:
    """What the assistant remembers about each user.

    Args:
        store: memories, their history and per-user versions.
        embedder: turns texts into unit embeddings.
        uow: opens each operation's transaction (as the acting user).
        clock: creation times and expiry.
        cursors: signs page cursors.
        duplicate_threshold: similarity at or above which remember updates instead of adding.
        cache: loaded embeddings per user (tests pass ``VectorCache(0)`` to always load).
        ids: where new memory ids come from (a repeatable sequence in mock mode).
    """

    def __init__(
        self,
        store: MemoryStore,
        embedder: Embedder,
        uow: UnitOfWork,
        clock: Clock,
        cursors: CursorCodec,
        *,
        duplicate_threshold: float = DUPLICATE_THRESHOLD,
        cache: VectorCache | None = None,
        ids: IdSource | None = None,
    ) -> None:
        self._store = store
        self._embedder = embedder
        self._uow = uow
        self._clock = clock
        self._cursors = cursors
        self._threshold = duplicate_threshold
        self._cache = cache if cache is not None else VectorCache()
        self._ids = ids if ids is not None else RandomIds()

    # -- writes ----------------------------------------------------------------------------

    def remember(self, actor: Actor, text: str, *, expires_at: datetime | None = None) -> Remembered:
        """Remember ``text`` about the actor; a near-duplicate updates the memory it duplicates.

        Args:
            actor: whose memory.
            text: 1..2000 characters (stripped).
            expires_at: hide it from this instant on (must be in the future); None keeps it.

        Raises:
            InvalidInput: empty or too long text, an expiry in the past or without a time zone.
            ModelUnavailable, ModelFailed: the embedder could not embed the text (nothing stored).
        """
        clean = check_memory_text(text)
        now = self._clock.now()
        expiry = _future(expires_at, now)
        # Embed before the transaction: a slow model never holds the user's write lock.
        (embedding,) = self._embedder.embed([clean])
        with self._uow.transaction(actor=actor.user_id):
            self._store.claim_user(actor.user_id)
            vectors = self._store.vectors(actor.user_id, dims_of(embedding))
            nearest = top_k(vectors, embedding, 1, now)
            if nearest and nearest[0][1] >= self._threshold:
                existing = self._store.get(actor.user_id, nearest[0][0])
                assert existing is not None
                merged = evolve(
                    existing,
                    text=clean,
                    embedding=embedding,
                    updated_at=now,
                    expires_at=expiry if expiry is not None else existing.expires_at,
                    version=existing.version + 1,
                )
                self._store.replace(merged)
                self._history(merged, MemoryEvent.MERGED, previous=existing.text, at=now)
                return Remembered(merged, created=False, similarity=nearest[0][1])
            memory = Memory(
                id=self._ids.new_id(),
                user_id=actor.user_id,
                text=clean,
                embedding=embedding,
                created_at=now,
                updated_at=now,
                expires_at=expiry,
            )
            self._store.add(memory)
            self._history(memory, MemoryEvent.ADDED, previous=None, at=now)
            return Remembered(memory, created=True)

    def update(
        self, actor: Actor, memory_id: str, text: str, *, expires_at: datetime | None = None, keep_expiry: bool = True
    ) -> Memory:
        """Change a memory's text (and expiry: ``expires_at``, or none when ``keep_expiry`` is False).

        Raises:
            NotFound: no such live memory of the actor.
            InvalidInput: bad text or expiry.
        """
        clean = check_memory_text(text)
        now = self._clock.now()
        expiry = _future(expires_at, now)
        (embedding,) = self._embedder.embed([clean])
        with self._uow.transaction(actor=actor.user_id):
            self._store.claim_user(actor.user_id)
            existing = self._live(actor.user_id, memory_id, now)
            if expiry is None and keep_expiry:
                expiry = existing.expires_at
            updated = evolve(
                existing,
                text=clean,
                embedding=embedding,
                updated_at=now,
                expires_at=expiry,
                version=existing.version + 1,
            )
            self._store.replace(updated)
            self._history(updated, MemoryEvent.UPDATED, previous=existing.text, at=now)
            return updated

    def forget(self, actor: Actor, memory_id: str) -> None:
        """Forget a memory: it is deleted, and its history keeps the events but not the texts.

        Raises:
            NotFound: no such memory of the actor (forgetting twice is a 404 the second time).
        """
        now = self._clock.now()
        with self._uow.transaction(actor=actor.user_id):
            self._store.claim_user(actor.user_id)
            existing = self._store.get(actor.user_id, _memory_id(memory_id))
            if existing is None:
                raise NotFound(f"no memory {memory_id!r}", field="memory_id")
            self._erase(existing, MemoryEvent.FORGOTTEN, now)

    def prune_expired(self, *, limit: int = 1000) -> int:
        """Delete memories whose expiry has passed (the periodic job; system role). Returns how many."""
        now = self._clock.now()
        with self._uow.transaction():
            expired = self._store.expired(now, limit)
            for memory in sorted(expired, key=lambda each: each.user_id):
                self._store.claim_user(memory.user_id)
                self._erase(memory, MemoryEvent.EXPIRED, now)
            return len(expired)

    # -- reads -----------------------------------------------------------------------------

    def recall(self, actor: Actor, query: str, k: int = 10) -> list[RecallHit]:
        """The actor's ``k`` live memories most similar to ``query``: exact, by score then id.

        Raises:
            InvalidInput: an empty or too long query, or ``k`` outside 1..100.
        """
        _check_k(k)
        return self.recall_embedding(actor, self.embed_query(query), k)

    def embed_query(self, query: str) -> bytes:
        """The embedding recall would compare ``query`` by (made before any transaction opens).

        Raises:
            InvalidInput: an empty or too long query.
        """
        clean = check_memory_text(query, "query")
        (embedding,) = self._embedder.embed([clean])
        return embedding

    def recall_embedding(self, actor: Actor, embedding: bytes, k: int) -> list[RecallHit]:
        """Recall by an embedding the caller already has (the chat's context step)."""
        _check_k(k)
        now = self._clock.now()
        dims = dims_of(embedding)
        with self._uow.transaction(actor=actor.user_id):
            version = self._store.version(actor.user_id)
            vectors = self._cache.get(actor.user_id, version, dims)
            if vectors is None:
                vectors = prepare(self._store.vectors(actor.user_id, dims))
                self._cache.put(actor.user_id, version, vectors)
            ranked = top_k(vectors, embedding, k, now)
            if not ranked:
                return []
            found = {memory.id: memory for memory in self._store.get_many(actor.user_id, [i for i, _ in ranked])}
        # A memory forgotten after the version was read is simply not returned.
        return [RecallHit(found[memory_id], score) for memory_id, score in ranked if memory_id in found]

    def forget_cached(self) -> None:
        """Drop the cached vectors (after mock mode's reset)."""
        self._cache.clear()

    def mark(self, actor: Actor) -> str:
        """Changes whenever the actor's visible memories do: every write bumps the version, expiry the count."""
        with self._uow.transaction(actor=actor.user_id):
            return f"{self._store.version(actor.user_id)}:{self._store.live_count(actor.user_id, self._clock.now())}"

    def get(self, actor: Actor, memory_id: str) -> Memory:
        """One live memory of the actor.

        Raises:
            NotFound: none with this id (or another user's).
        """
        with self._uow.transaction(actor=actor.user_id):
            return self._live(actor.user_id, memory_id, self._clock.now())

    def memories(self, actor: Actor, *, cursor: str | None = None, limit: int = 50) -> MemoryPage:
        """The actor's live memories, newest first, cursor paged."""
        _check_limit(limit)
        scope = f"assistant:memories:{actor.user_id}"
        after = None
        if cursor is not None:
            position = self._cursors.decode(scope, cursor)
            after = (datetime.fromisoformat(position["at"]), str(position["id"]))
        with self._uow.transaction(actor=actor.user_id):
            rows = self._store.page(actor.user_id, self._clock.now(), after, limit + 1)
        page, more = rows[:limit], len(rows) > limit
        next_cursor = (
            self._cursors.encode(scope, {"at": page[-1].created_at.isoformat(), "id": page[-1].id}) if more else None
        )
        return MemoryPage(page, next_cursor)

    def history(
        self, actor: Actor, memory_id: str | None = None, *, cursor: str | None = None, limit: int = 50
    ) -> HistoryPage:
        """What happened to the actor's memories (or one of them), newest first, cursor paged."""
        _check_limit(limit)
        wanted = None if memory_id is None else _memory_id(memory_id)
        scope = f"assistant:memory-history:{actor.user_id}:{wanted or '*'}"
        after = None if cursor is None else int(self._cursors.decode(scope, cursor)["seq"])
        with self._uow.transaction(actor=actor.user_id):
            rows = self._store.history(actor.user_id, wanted, after, limit + 1)
        page, more = rows[:limit], len(rows) > limit
        return HistoryPage(page, self._cursors.encode(scope, {"seq": page[-1].seq}) if more else None)

    def similarity(self, a: bytes, b: bytes) -> float:
        return similarity(a, b)

    # -- helpers ---------------------------------------------------------------------------

    def _live(self, user_id: str, memory_id: str, now: datetime) -> Memory:
        memory = self._store.get(user_id, _memory_id(memory_id))
        if memory is None or not memory.is_live(now):
            raise NotFound(f"no memory {memory_id!r}", field="memory_id")
        return memory

    def _erase(self, memory: Memory, event: MemoryEvent, at: datetime) -> None:
        self._store.delete(memory.user_id, memory.id)
        self._store.scrub_history(memory.user_id, memory.id)
        self._history(memory, event, previous=None, at=at, text="")

    def _history(
        self, memory: Memory, event: MemoryEvent, *, previous: str | None, at: datetime, text: str | None = None
    ) -> None:
        self._store.record(
            MemoryHistoryEntry(
                seq=0,
                memory_id=memory.id,
                user_id=memory.user_id,
                event=event,
                text=memory.text if text is None else text,
                previous_text=previous,
                at=at,
            )
        )


def _check_k(k: object) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise InvalidInput(f"k must be an integer from 1 to {MAX_K}, got {k!r}", field="k")


def _check_limit(limit: object) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be an integer from 1 to {MAX_PAGE}, got {limit!r}", field="limit")


def _memory_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except (ValueError, TypeError, AttributeError):
        raise NotFound(f"no memory {value!r}", field="memory_id") from None


def _future(when: datetime | None, now: datetime) -> datetime | None:
    if when is None:
        return None
    if when.tzinfo is None:
        raise InvalidInput("expires_at needs a time zone (e.g. Z)", field="expires_at")
    if when <= now:
        raise InvalidInput("expires_at must be in the future", field="expires_at")
    return when
