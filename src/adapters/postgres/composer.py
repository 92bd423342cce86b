"""The Postgres draft store: named-parameter statements over ``composer_drafts`` (migration 0014).

Each conditional write is one ``UPDATE``/``DELETE ... WHERE version = :based_on``: Postgres
re-checks the condition on the row a concurrent writer just committed, so of racing saves on
one version exactly one matches.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from townsquare.adapters.postgres.database import PgDatabase
from townsquare.core.composer.media import Media
from townsquare.core.composer.models import Draft, DraftContent, Schedule
from townsquare.core.composer.search import Entity, EntityKind, SearchQuery, Visibility, words_of

_COLUMNS = (
    "draft_id, author_id, version, title, body, attachments, mentions, created_at, updated_at, "
    "publish_at, schedule_local, schedule_zone, schedule_version"
)
_ADD = text(
    f"""
    INSERT INTO composer_drafts ({_COLUMNS})
    VALUES (:draft_id, :author_id, :version, :title, :body, :attachments, :mentions, :created_at, :updated_at,
            NULL, NULL, NULL, NULL)
    ON CONFLICT (draft_id) DO NOTHING
    RETURNING draft_id
    """
)
_GET = text(f"SELECT {_COLUMNS} FROM composer_drafts WHERE draft_id = :draft_id")
_GET_FOR_UPDATE = text(f"SELECT {_COLUMNS} FROM composer_drafts WHERE draft_id = :draft_id FOR UPDATE")
# One call (migration 0027): alone, in autocommit, an autosave is a single round trip.
_SAVE = (
    "SELECT * FROM app.composer_save(%(role)s, %(actor)s, %(draft_id)s, %(author_id)s, %(based_on)s::bigint,"
    " %(title)s, %(body)s, %(attachments)s::text[], %(mentions)s::text[], %(now)s::timestamptz)"
)
_SET_SCHEDULE = text(
    f"""
    UPDATE composer_drafts
    SET version = version + 1, publish_at = :publish_at, schedule_local = :schedule_local,
        schedule_zone = :schedule_zone, schedule_version = :schedule_version, updated_at = :now
    WHERE draft_id = :draft_id AND version = :based_on
    RETURNING {_COLUMNS}
    """
)
_DELETE = text("DELETE FROM composer_drafts WHERE draft_id = :draft_id AND version = :version RETURNING draft_id")
_DELETE_EACH = text(
    """
    DELETE FROM composer_drafts d
    USING unnest(CAST(:draft_ids AS text[]), CAST(:versions AS bigint[])) AS v(id, version)
    WHERE d.draft_id = v.id AND d.version = v.version
    RETURNING d.draft_id
    """
)
# Index composer_drafts_due (migration 0035) in publish order; SKIP LOCKED: a batch never
# waits behind a draft another worker is publishing.
_DUE_FOR_UPDATE = text(
    f"""
    SELECT {_COLUMNS} FROM composer_drafts WHERE publish_at IS NOT NULL AND publish_at <= :now
    ORDER BY publish_at, draft_id LIMIT :limit FOR UPDATE SKIP LOCKED
    """
)
_FIRST_PAGE = text(
    f"""
    SELECT {_COLUMNS} FROM composer_drafts WHERE author_id = :author_id
    ORDER BY created_at DESC, draft_id DESC LIMIT :limit
    """
)
_NEXT_PAGE = text(
    f"""
    SELECT {_COLUMNS} FROM composer_drafts
    WHERE author_id = :author_id AND (created_at, draft_id) < (:created_at, :draft_id)
    ORDER BY created_at DESC, draft_id DESC LIMIT :limit
    """
)
_COUNT_SCHEDULED = text("SELECT count(*) FROM composer_drafts WHERE author_id = :author_id AND publish_at IS NOT NULL")
# Transaction-scoped, keyed by the author: two schedules of one author count in turn.
_LOCK_AUTHOR = text("SELECT pg_advisory_xact_lock(hashtextextended('composer.author:' || :author_id, 0))")

COMPOSER_TABLES = ("composer_drafts", "composer_entities", "composer_media")
"""Every table of the composer (for TRUNCATE in benchmarks)."""


class PgDraftStore:
    """Implements :class:`townsquare.core.composer.DraftStore` on Postgres."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    def add(self, draft: Draft) -> bool:
        params = {
            "draft_id": draft.draft_id,
            "author_id": draft.author_id,
            "version": draft.version,
            "created_at": draft.created_at,
            "updated_at": draft.updated_at,
            **_content(draft.content),
        }
        return self._db.connection().execute(_ADD, params).one_or_none() is not None

    def get(self, draft_id: str) -> Draft | None:
        return self._one(_GET, {"draft_id": draft_id})

    def get_for_update(self, draft_id: str) -> Draft | None:
        return self._one(_GET_FOR_UPDATE, {"draft_id": draft_id})

    def save(self, draft_id: str, author_id: str, based_on: int, content: DraftContent, now: datetime) -> Draft | None:
        params = {"draft_id": draft_id, "author_id": author_id, "based_on": based_on, "now": now, **_content(content)}
        rows = self._db.call(_SAVE, params)
        return Draft.from_row(rows[0]._asdict()) if rows else None

    def set_schedule(self, draft_id: str, based_on: int, schedule: Schedule | None, now: datetime) -> Draft | None:
        params = {
            "draft_id": draft_id,
            "based_on": based_on,
            "now": now,
            "publish_at": None if schedule is None else schedule.publish_at,
            "schedule_local": None if schedule is None else schedule.local_time,
            "schedule_zone": None if schedule is None else schedule.time_zone,
            "schedule_version": None if schedule is None else schedule.version,
        }
        return self._one(_SET_SCHEDULE, params)

    def delete(self, draft_id: str, version: int) -> bool:
        row = self._db.connection().execute(_DELETE, {"draft_id": draft_id, "version": version}).one_or_none()
        return row is not None

    def delete_each(self, versions: Sequence[tuple[str, int]]) -> list[str]:
        if not versions:
            return []
        params = {"draft_ids": [draft_id for draft_id, _ in versions], "versions": [v for _, v in versions]}
        return [row.draft_id for row in self._db.connection().execute(_DELETE_EACH, params)]

    def due_for_update(self, now: datetime, limit: int) -> list[Draft]:
        rows = self._db.connection().execute(_DUE_FOR_UPDATE, {"now": now, "limit": limit})
        return [Draft.from_row(row) for row in rows.mappings()]

    def list_by_author(self, author_id: str, *, after: tuple[datetime, str] | None, limit: int) -> list[Draft]:
        if after is None:
            rows = self._db.connection().execute(_FIRST_PAGE, {"author_id": author_id, "limit": limit})
        else:
            params = {"author_id": author_id, "created_at": after[0], "draft_id": after[1], "limit": limit}
            rows = self._db.connection().execute(_NEXT_PAGE, params)
        return [Draft.from_row(row) for row in rows.mappings()]

    def count_scheduled(self, author_id: str) -> int:
        return int(self._db.connection().execute(_COUNT_SCHEDULED, {"author_id": author_id}).scalar_one())

    def lock_author(self, author_id: str) -> None:
        self._db.connection().execute(_LOCK_AUTHOR, {"author_id": author_id})

    def _one(self, statement: Any, params: dict[str, Any]) -> Draft | None:
        row = self._db.connection().execute(statement, params).mappings().one_or_none()
        return None if row is None else Draft.from_row(row)


def _content(content: DraftContent) -> dict[str, Any]:
    return {
        "title": content.title,
        "body": content.body,
        "attachments": list(content.attachments),
        "mentions": list(content.mentions),
    }


_ENTITY_COLUMNS = "e.kind, e.entity_id, e.handle, e.name, e.owner_id, e.visibility, e.name_lower, e.words"
_SHOWN = "e.kind = ANY(:kinds) AND (e.visibility = 'public' OR e.owner_id = :searcher)"
_ORDER = "ORDER BY e.handle, e.kind, e.entity_id LIMIT :limit"
_PUT_ENTITY = text(
    """
    INSERT INTO composer_entities (kind, entity_id, handle, name, name_lower, words, owner_id, visibility)
    VALUES (:kind, :entity_id, :handle, :name, :name_lower, array_to_tsvector(CAST(:words AS text[])), :owner_id,
            :visibility)
    ON CONFLICT (kind, entity_id) DO UPDATE SET
        handle = EXCLUDED.handle, name = EXCLUDED.name, name_lower = EXCLUDED.name_lower, words = EXCLUDED.words,
        owner_id = EXCLUDED.owner_id, visibility = EXCLUDED.visibility
    """
)
_GET_ENTITY = text(
    f"SELECT {_ENTITY_COLUMNS} FROM composer_entities e WHERE e.kind = :kind AND e.entity_id = :entity_id"
)
_REMOVE_ENTITY = text("DELETE FROM composer_entities WHERE kind = :kind AND entity_id = :entity_id RETURNING kind")
_EXACT = text(f"SELECT {_ENTITY_COLUMNS} FROM composer_entities e WHERE e.handle = :handle AND {_SHOWN} {_ORDER}")
_FOLLOWED = text(
    f"""
    SELECT {_ENTITY_COLUMNS} FROM feed_follows f
    JOIN composer_entities e ON e.kind = 'creator' AND e.entity_id = f.creator_id
    WHERE f.follower_id = :searcher AND {_SHOWN}
      AND (e.handle LIKE CAST(:prefix AS text) ESCAPE '\\' OR e.words @@ CAST(:words AS tsquery))
    {_ORDER}
    """
)
_HANDLE_PREFIX = text(
    f"SELECT {_ENTITY_COLUMNS} FROM composer_entities e WHERE e.handle LIKE :prefix ESCAPE '\\' AND {_SHOWN} {_ORDER}"
)
# psycopg prepares a statement after five runs, and Postgres may then keep a generic plan:
# one that knows neither the prefix nor the fragment, so it walks the whole handle index
# filtering (10 s over 1,000,000 entities for a rare fragment). With the values in hand the
# planner picks per query: the handle index's range for a prefix, the index walk when a
# fragment is common, the trigram bitmap when it is rare.
# And no parallel workers: the row-level security on the table hides its statistics from
# non-leakproof operators (LIKE, trigram, tsquery), so the planner guesses 40,000 matches and
# launches workers (30 ms) for a read of at most 50 rows.
_CUSTOM_PLANS = text(
    "SELECT set_config('plan_cache_mode', 'force_custom_plan', true), "
    "set_config('max_parallel_workers_per_gather', '0', true)"
)


WALK = 5_000
"""Entities the adaptive tiers walk before using the match's index (about sqrt(limit x size))."""


def _walk_then_match(match: str) -> Any:
    """A tier whose match no index returns in handle order: walk first, match by index if rare.

    The planner cannot tell a common word prefix (``a:*`` matches 8% of a million names) from a
    rare one, and guessing wrong costs either way: sorting 80,000 bitmap hits (300 ms) or
    walking the whole handle index for a word nobody has (seconds). So the statement walks
    the first :data:`WALK` shown entities in handle order and filters them; if that fills the
    page it is the answer (nothing earlier in the order was skipped). Otherwise fewer than
    ``limit`` in ``WALK`` match, the match is rare, and the match's own index (GIN) finds
    them all for a sort; the second branch runs only then (a one-time filter).
    """
    return text(
        f"""
        WITH walked AS MATERIALIZED (
            SELECT e.kind, e.entity_id, e.handle FROM (
                SELECT kind, entity_id, handle, words, name_lower FROM composer_entities e WHERE {_SHOWN}
                ORDER BY e.handle, e.kind, e.entity_id LIMIT {WALK}
            ) e
            WHERE {match}
            ORDER BY e.handle, e.kind, e.entity_id LIMIT :limit
        ), filled AS (SELECT count(*) = :limit AS filled FROM walked)
        SELECT {_ENTITY_COLUMNS} FROM walked w JOIN composer_entities e USING (kind, entity_id)
        WHERE (SELECT filled FROM filled)
        UNION ALL
        (SELECT {_ENTITY_COLUMNS} FROM composer_entities e
         WHERE NOT (SELECT filled FROM filled) AND {match} AND {_SHOWN}
         ORDER BY e.handle || '', e.kind, e.entity_id LIMIT :limit)
        ORDER BY handle, kind, entity_id
        """
    )


_WORD_PREFIXES = _walk_then_match("e.words @@ CAST(:words AS tsquery)")
_CONTAINING = _walk_then_match("(e.handle LIKE :fragment ESCAPE '\\' OR e.name_lower LIKE :fragment ESCAPE '\\')")


class PgEntityIndex:
    """Implements :class:`townsquare.core.composer.EntityIndex` on Postgres (migration 0015).

    Every tier is one statement in the order of the ``(handle, kind, entity_id)`` btree; the
    query's words become a prefix tsquery built from letters and digits only, and handles and
    fragments are LIKE patterns with ``\\``, ``%`` and ``_`` escaped, so no input is syntax.
    Each statement carries the searcher's visibility rule itself: the service searches as the
    system, where the text indexes are usable (see ``EntitySearchService.search``).
    """

    def __init__(self, db: PgDatabase) -> None:
        self._db = db
        # The transactions' connections that have the custom-plan settings (each transaction
        # gets a Connection of its own, so one set_config serves every tier of a search).
        self._planned: weakref.WeakSet[Connection] = weakref.WeakSet()

    def put(self, entity: Entity) -> None:
        self._db.connection().execute(
            _PUT_ENTITY,
            {
                "kind": entity.kind.value,
                "entity_id": entity.entity_id,
                "handle": entity.handle,
                "name": entity.name,
                "name_lower": entity.name_lower,
                "words": list(entity.words),
                "owner_id": entity.owner_id,
                "visibility": entity.visibility.value,
            },
        )

    def get(self, kind: EntityKind, entity_id: str) -> Entity | None:
        row = self._db.connection().execute(_GET_ENTITY, {"kind": kind.value, "entity_id": entity_id}).mappings()
        found = row.one_or_none()
        return None if found is None else entity_from_row(found)

    def remove(self, kind: EntityKind, entity_id: str) -> bool:
        params = {"kind": kind.value, "entity_id": entity_id}
        return self._db.connection().execute(_REMOVE_ENTITY, params).one_or_none() is not None

    def exact(self, query: SearchQuery, limit: int) -> list[Entity]:
        if query.handle is None:
            return []
        return self._tier(_EXACT, query, limit, handle=query.handle)

    def followed(self, query: SearchQuery, limit: int) -> list[Entity]:
        prefix = None if query.handle is None else _like_escape(query.handle) + "%"
        return self._tier(_FOLLOWED, query, limit, prefix=prefix, words=_tsquery(query.words))

    def handle_prefix(self, query: SearchQuery, limit: int) -> list[Entity]:
        if query.handle is None:
            return []
        return self._tier(_HANDLE_PREFIX, query, limit, prefix=_like_escape(query.handle) + "%")

    def word_prefixes(self, query: SearchQuery, limit: int) -> list[Entity]:
        if not query.words:
            return []
        return self._tier(_WORD_PREFIXES, query, limit, words=_tsquery(query.words))

    def containing(self, query: SearchQuery, limit: int) -> list[Entity]:
        fragment = query.contains_text
        if fragment is None:
            return []
        return self._tier(_CONTAINING, query, limit, fragment="%" + _like_escape(fragment) + "%")

    def _tier(self, statement: Any, query: SearchQuery, limit: int, **params: Any) -> list[Entity]:
        kinds = [kind.value for kind in query.kinds]
        conn = self._db.connection()
        if conn not in self._planned:  # once a transaction: set_config(..., true) lasts until it ends
            conn.execute(_CUSTOM_PLANS)
            self._planned.add(conn)
        rows = conn.execute(statement, {"kinds": kinds, "searcher": query.searcher, "limit": limit, **params})
        return [entity_from_row(row) for row in rows.mappings()]


def entity_from_row(row: Any) -> Entity:
    """An :class:`Entity` from a ``composer_entities`` row (the tsvector read back as its words)."""
    return Entity(
        kind=EntityKind(row["kind"]),
        entity_id=row["entity_id"],
        handle=row["handle"],
        name=row["name"],
        owner_id=row["owner_id"],
        visibility=Visibility(row["visibility"]),
        name_lower=row["name_lower"],
        words=words_of(row["name"]),
    )


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _tsquery(words: tuple[str, ...]) -> str | None:
    # Words are letters and digits only (core), so quoting each makes it a plain lexeme.
    return " & ".join(f"'{word}':*" for word in words) if words else None


_MEDIA_COLUMNS = "owner_id, media_key, content_type, width, height, size, created_at, thumbnail_key"
_ADD_MEDIA = text(
    f"""
    WITH added AS (
        INSERT INTO composer_media ({_MEDIA_COLUMNS})
        VALUES (:owner_id, :media_key, :content_type, :width, :height, :size, :created_at, NULL)
        ON CONFLICT (owner_id, media_key) DO NOTHING
        RETURNING {_MEDIA_COLUMNS}
    )
    SELECT {_MEDIA_COLUMNS} FROM added
    UNION ALL
    SELECT {_MEDIA_COLUMNS} FROM composer_media WHERE owner_id = :owner_id AND media_key = :media_key
    LIMIT 1
    """
)
_GET_MEDIA = text(f"SELECT {_MEDIA_COLUMNS} FROM composer_media WHERE owner_id = :owner_id AND media_key = :media_key")
_OWNED_MEDIA = text("SELECT media_key FROM composer_media WHERE owner_id = :owner_id AND media_key = ANY(:keys)")
_SET_THUMBNAIL = text(
    "UPDATE composer_media SET thumbnail_key = :thumbnail_key "
    "WHERE media_key = :media_key AND thumbnail_key IS DISTINCT FROM :thumbnail_key"
)


class PgMediaRecords:
    """Implements :class:`townsquare.core.composer.MediaRecords` on Postgres (migration 0016)."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    def add(self, media: Media) -> Media:
        params = {
            "owner_id": media.owner_id,
            "media_key": media.media_key,
            "content_type": media.content_type,
            "width": media.width,
            "height": media.height,
            "size": media.size,
            "created_at": media.created_at,
        }
        return media_from_row(self._db.connection().execute(_ADD_MEDIA, params).mappings().one())

    def get(self, owner_id: str, media_key: str) -> Media | None:
        row = self._db.connection().execute(_GET_MEDIA, {"owner_id": owner_id, "media_key": media_key}).mappings()
        found = row.one_or_none()
        return None if found is None else media_from_row(found)

    def owned(self, owner_id: str, media_keys: Sequence[str]) -> set[str]:
        rows = self._db.connection().execute(_OWNED_MEDIA, {"owner_id": owner_id, "keys": list(media_keys)})
        return {str(key) for key in rows.scalars()}

    def set_thumbnail(self, media_key: str, thumbnail_key: str) -> int:
        result = self._db.connection().execute(_SET_THUMBNAIL, {"media_key": media_key, "thumbnail_key": thumbnail_key})
        return int(result.rowcount)


def media_from_row(row: Any) -> Media:
    """A :class:`Media` record from a ``composer_media`` row."""
    return Media(
        media_key=row["media_key"],
        owner_id=row["owner_id"],
        content_type=row["content_type"],
        width=row["width"],
        height=row["height"],
        size=row["size"],
        created_at=row["created_at"],
        thumbnail_key=row["thumbnail_key"],
    )
