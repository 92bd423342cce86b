"""The composer service: drafts with versioned saves, previews, publishing now and on a schedule."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from townsquare.core.clock import Clock
from townsquare.core.composer.media import Media, clean_image, content_key, thumbnail
from townsquare.core.composer.models import (
    Draft,
    DraftConflict,
    DraftContent,
    DraftPage,
    Schedule,
    check_draft_id,
    check_version,
)
from townsquare.core.composer.ports import DraftStore, EntityIndex, MediaRecords, MediaStore
from townsquare.core.composer.preview import render_preview
from townsquare.core.composer.search import (
    DEFAULT_SEARCH_LIMIT,
    Entity,
    EntityKind,
    Visibility,
    parse_query,
    rank,
)
from townsquare.core.composer.timing import check_lead, resolve_local_time
from townsquare.core.cursor import CursorCodec
from townsquare.core.errors import Conflict, Forbidden, InvalidCursor, InvalidInput, NotFound
from townsquare.core.feed import Draft as FeedDraft
from townsquare.core.feed import FeedItem, FeedService, make_draft
from townsquare.core.identity import Actor, system_actor
from townsquare.core.ids import IdSource, RandomIds
from townsquare.core.jobs import JobService
from townsquare.core.uow import UnitOfWork

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_SCHEDULED_PER_AUTHOR = 50
"""How many scheduled posts one author may have waiting (docs/composer.md)."""
PUBLISH_SCHEDULED = "composer.publish_scheduled"
"""The job type of a scheduled publish; its idempotency key names the draft and the schedule's version."""
PUBLISH_BATCH = 100
"""How many other due scheduled posts one scheduled publish takes along (docs/composer.md)."""
MAKE_THUMBNAIL = "composer.make_thumbnail"
"""The job type that makes an uploaded image's thumbnail (one per content key)."""


def publish_job_key(draft_id: str, version: int) -> str:
    """The idempotency key of the job that publishes ``draft_id`` as scheduled at ``version``."""
    return f"composer.publish:{draft_id}:{version}"


class ComposerService:
    """Drafts, previews and publishing into the feed.

    Args:
        drafts: where drafts live.
        feed: where published posts go (joins the composer's transaction).
        jobs: queues scheduled publishes (transactional enqueue).
        uow: opens the transaction of each operation.
        clock: every time decision.
        cursors: signs the draft list's cursors.
        ids: makes the ids of drafts the client did not name (random by default).
        media: checks that attachments are the author's uploads.
        max_scheduled: the per-author limit on scheduled posts.
    """

    def __init__(
        self,
        *,
        drafts: DraftStore,
        feed: FeedService,
        jobs: JobService,
        uow: UnitOfWork,
        clock: Clock,
        cursors: CursorCodec,
        ids: IdSource | None = None,
        media: MediaService | None = None,
        max_scheduled: int = MAX_SCHEDULED_PER_AUTHOR,
    ) -> None:
        self._media = media
        self._ids = ids if ids is not None else RandomIds()
        self._drafts = drafts
        self._feed = feed
        self._jobs = jobs
        self._uow = uow
        self._clock = clock
        self._cursors = cursors
        self._max_scheduled = max_scheduled

    # -- drafts --------------------------------------------------------------------------

    def create(self, actor: Actor, content: DraftContent, *, draft_id: str | None = None) -> Draft:
        """Start a draft at version 1. With a client-chosen id, creating again returns the existing draft.

        Raises:
            InvalidInput: a malformed ``draft_id``.
            Conflict: the id is another author's draft.
        """
        chosen = self._ids.new_id() if draft_id is None else check_draft_id(draft_id)
        self._check_attachments(actor, content)
        now = self._clock.now()
        draft = Draft(chosen, actor.user_id, 1, content, now, now)
        with self._uow.transaction(actor=actor.user_id):
            if self._drafts.add(draft):
                return draft
            existing = self._drafts.get(chosen)
            if existing is None or existing.author_id != actor.user_id:
                raise Conflict(f"draft id {chosen!r} is taken; choose another", field="draft_id")
            return existing

    def get(self, actor: Actor, draft_id: str) -> Draft:
        """One of the actor's drafts.

        Raises:
            NotFound: no such draft of theirs (another author's draft is not found either).
        """
        with self._uow.transaction(actor=actor.user_id):
            return self._own(actor, draft_id)

    def save(self, actor: Actor, draft_id: str, based_on: int, content: DraftContent) -> Draft:
        """Autosave: write ``content`` as the next version if the draft is still at ``based_on``.

        A save of content the draft already holds (a retry whose answer was lost) returns the
        draft as it is, whatever version it names: one writer saving fast sees no conflict.

        Raises:
            DraftConflict: the draft moved past ``based_on``; it carries the current draft.
            NotFound: no such draft of the actor's.
            InvalidInput: a bad version, or a blank title on a scheduled draft.
        """
        check_version(based_on)
        self._check_attachments(actor, content)
        now = self._clock.now()
        if content.title.strip():
            # The common case: one conditional write, atomic on its own (one round trip). The
            # checks below only run when it wrote nothing (or the title rule needs the draft).
            with self._uow.single_statements(actor=actor.user_id):
                saved = self._drafts.save(draft_id, actor.user_id, based_on, content, now)
            if saved is not None:
                return saved
        with self._uow.transaction(actor=actor.user_id):
            current = self._own(actor, draft_id)
            if current.content == content:
                return current
            if current.version != based_on:
                raise DraftConflict(current)
            if current.schedule is not None and not content.title.strip():
                raise InvalidInput("a scheduled draft needs a title; cancel the schedule first", field="title")
            saved = self._drafts.save(draft_id, actor.user_id, based_on, content, now)
            if saved is None:  # changed since we read it, in this very transaction's snapshot
                raise DraftConflict(self._own(actor, draft_id))
            return saved

    def delete(self, actor: Actor, draft_id: str, version: int) -> None:
        """Delete a draft at ``version`` (a scheduled one never publishes).

        Raises:
            DraftConflict: it moved past ``version``.
            NotFound: no such draft of the actor's.
        """
        check_version(version)
        with self._uow.transaction(actor=actor.user_id):
            current = self._own(actor, draft_id)
            if current.version != version or not self._drafts.delete(draft_id, version):
                raise DraftConflict(current)

    def list_mine(self, actor: Actor, cursor: str | None = None, limit: int = DEFAULT_LIMIT) -> DraftPage:
        """The actor's drafts, newest first, a page at a time.

        Raises:
            InvalidInput: a limit out of 1..100.
            InvalidCursor: a malformed, tampered, expired or foreign cursor.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise InvalidInput(f"limit must be an integer from 1 to {MAX_LIMIT}", field="limit")
        scope = f"composer:drafts:{actor.user_id}"
        after = None if cursor is None else _position_in(self._cursors.decode(scope, cursor))
        with self._uow.transaction(actor=actor.user_id):
            rows = self._drafts.list_by_author(actor.user_id, after=after, limit=limit + 1)
        page, more = rows[:limit], len(rows) > limit
        next_cursor = None
        if more:
            last = page[-1]
            next_cursor = self._cursors.encode(scope, {"c": last.created_at.isoformat(), "d": last.draft_id})
        return DraftPage(tuple(page), next_cursor)

    def preview(self, actor: Actor, draft_id: str) -> str:
        """The sanitized HTML of a draft's body."""
        return render_preview(self.get(actor, draft_id).content.body)

    # -- publishing ----------------------------------------------------------------------

    def publish(self, actor: Actor, draft_id: str, version: int) -> FeedItem:
        """Publish the draft now: its post enters the feed and the draft is gone, in one transaction.

        Raises:
            DraftConflict: the draft moved past ``version``.
            NotFound: no such draft of the actor's.
            InvalidInput: the draft has no title.
        """
        check_version(version)
        with self._uow.transaction(actor=actor.user_id):
            current = self._drafts.get_for_update(draft_id)
            if current is None or current.author_id != actor.user_id:
                raise NotFound(f"no draft {draft_id!r}", field="draft_id")
            if current.version != version:
                raise DraftConflict(current)
            return self._publish(actor, current)

    def schedule(
        self, actor: Actor, draft_id: str, version: int, local_time: datetime, time_zone: str, *, fold: int = 0
    ) -> Draft:
        """Schedule (or reschedule) the draft to publish at ``local_time`` in ``time_zone``.

        The previous schedule's job, if any, finds a newer schedule version and does nothing,
        so a post rescheduled later never fires early.

        Raises:
            DraftConflict: the draft moved past ``version``.
            NotFound: no such draft of the actor's.
            InvalidInput: an unknown zone, a skipped local time, less than a minute or more
                than a year ahead, or no title.
            Conflict: the author already has the most scheduled posts allowed.
        """
        check_version(version)
        now = self._clock.now()
        publish_at = resolve_local_time(local_time, time_zone, fold=fold)
        check_lead(publish_at, now)
        # As the system: the draft's change and its publish job commit together, and the job
        # queue is closed to users' transactions (docs/security.md). _own checks the author
        # before anything is written.
        with self._uow.transaction():
            self._drafts.lock_author(actor.user_id)
            current = self._own(actor, draft_id)
            if current.version != version:
                raise DraftConflict(current)
            if not current.content.title.strip():
                raise InvalidInput("a post needs a title before it can be scheduled", field="title")
            if current.schedule is None and self._drafts.count_scheduled(actor.user_id) >= self._max_scheduled:
                raise Conflict(
                    f"you already have {self._max_scheduled} scheduled posts; publish or cancel one first",
                    field="local_time",
                )
            schedule = Schedule(publish_at, local_time, time_zone, version + 1)
            saved = self._drafts.set_schedule(draft_id, version, schedule, now)
            if saved is None:
                raise DraftConflict(self._own(actor, draft_id))
            self._jobs.enqueue(
                PUBLISH_SCHEDULED,
                {"draft_id": draft_id, "version": schedule.version},
                idempotency_key=publish_job_key(draft_id, schedule.version),
                run_at=publish_at,
                max_attempts=10,
            )
            return saved

    def cancel_schedule(self, actor: Actor, draft_id: str, version: int) -> Draft:
        """Cancel the draft's schedule; its job then does nothing. Cancelling an unscheduled draft is a no-op.

        Raises:
            DraftConflict: the draft moved past ``version``.
            NotFound: no such draft of the actor's.
        """
        check_version(version)
        with self._uow.transaction(actor=actor.user_id):
            current = self._own(actor, draft_id)
            if current.schedule is None:
                return current
            if current.version != version:
                raise DraftConflict(current)
            saved = self._drafts.set_schedule(draft_id, version, None, self._clock.now())
            if saved is None:
                raise DraftConflict(self._own(actor, draft_id))
            return saved

    def publish_scheduled(self, draft_id: str, version: int) -> FeedItem | None:
        """The scheduled-publish job: publish the draft if it is still scheduled at ``version`` and due.

        Runs as the system (no acting user). Returns ``None``, changing nothing, for a job
        whose schedule was replaced or cancelled, whose draft was published or deleted, or
        that runs early; the row lock makes a second run (another worker, a rescued lease)
        wait for the first and then find the draft gone.
        """
        with self._uow.transaction():
            current = self._drafts.get_for_update(draft_id)
            if current is None or current.schedule is None or current.schedule.version != version:
                return None
            now = self._clock.now()
            if current.schedule.publish_at > now:
                return None
            item = self._publish(Actor(current.author_id), current)
            self._publish_due_beside(now)
            return item

    def _publish_due_beside(self, now: datetime) -> None:
        """Publish other due scheduled posts in the running transaction, as one batch.

        A backlog of due posts (many scheduled for the same minute) then drains a batch per
        job: their own jobs run later, find the draft gone and do nothing. Only what is sure
        to publish cleanly joins the batch (drafts no other worker holds, whose post id is
        free; a scheduled draft always has a title, as schedule and save see to it); the
        rest is left to its own job, which publishes it or fails on its own.
        """
        due = self._drafts.due_for_update(now, PUBLISH_BATCH)
        if not due:
            return
        posts = [(draft.author_id, _post_of(draft)) for draft in due]
        published = {item.item_id for item in self._feed.publish_batch(system_actor("composer"), posts)}
        self._drafts.delete_each([(draft.draft_id, draft.version) for draft in due if draft.feed_item_id in published])

    # -- helpers -------------------------------------------------------------------------

    def _check_attachments(self, actor: Actor, content: DraftContent) -> None:
        if content.attachments and self._media is not None:
            self._media.check_attachments(actor, content.attachments)

    def _own(self, actor: Actor, draft_id: str) -> Draft:
        draft = self._drafts.get(draft_id)
        if draft is None or draft.author_id != actor.user_id:
            raise NotFound(f"no draft {draft_id!r}", field="draft_id")
        return draft

    def _publish(self, author: Actor, draft: Draft) -> FeedItem:
        content = draft.content
        if not content.title.strip():
            raise InvalidInput("a post needs a title before it can be published", field="title")
        item = self._feed.publish(author, _post_of(draft))
        if not self._drafts.delete(draft.draft_id, draft.version):
            raise DraftConflict(draft)  # unreachable while the row lock is held; rolls back the post
        return item


def _post_of(draft: Draft) -> FeedDraft:
    """The feed post a draft publishes as (under the id the draft reserved for it)."""
    return make_draft(draft.feed_item_id, "post", draft.content.title, body=draft.content.body)


def _position_in(position: dict[str, Any]) -> tuple[datetime, str]:
    try:
        created, draft_id = position["c"], position["d"]
        if not isinstance(created, str) or not isinstance(draft_id, str):
            raise TypeError
        return datetime.fromisoformat(created), draft_id
    except (KeyError, TypeError, ValueError):
        raise InvalidCursor("cursor body is malformed", field="cursor") from None


class EntitySearchService:
    """The composer's picker: publishers index their creators, products and events; authors search them.

    Args:
        index: the entity index.
        uow: opens the transaction of each operation.
    """

    def __init__(self, index: EntityIndex, uow: UnitOfWork) -> None:
        self._index = index
        self._uow = uow

    def search(
        self, actor: Actor, q: object, *, kinds: Sequence[str] | None = None, limit: object = DEFAULT_SEARCH_LIMIT
    ) -> list[Entity]:
        """Entities matching ``q``, ranked (see :mod:`townsquare.core.composer.search`).

        Raises:
            InvalidInput: a query over 200 characters or not storable text, an unknown kind,
                a limit out of range; any other text is a search (maybe with no hits).
        """
        query = parse_query(actor.user_id, q, kinds, limit)
        if not query.text:
            return []
        index = self._index
        # As the system, with the searcher's visibility rule in every tier's own condition
        # (Entity visibility: public, or the searcher's own). Under the app role Postgres may
        # not use an index whose operator is not leakproof (LIKE, tsquery and trigram matches)
        # below the row-level security barrier, and each tier became a walk of the whole table.
        with self._uow.transaction():
            return rank(
                query,
                [
                    lambda n: index.exact(query, n),
                    lambda n: index.followed(query, n),
                    lambda n: index.handle_prefix(query, n),
                    lambda n: index.word_prefixes(query, n),
                    lambda n: index.containing(query, n),
                ],
            )

    def put(self, actor: Actor, entity: Entity) -> Entity:
        """Index (or re-index) an entity. Its owner writes it; an admin may write anyone's.

        A creator entity is its owner's own profile: its id is the owner's user id.

        Raises:
            Forbidden: the entity (or the stored one it replaces) belongs to someone else.
            InvalidInput: a creator entity whose id is not its owner's.
        """
        if entity.kind is EntityKind.CREATOR and entity.entity_id != entity.owner_id:
            raise InvalidInput("a creator's entity_id is the creator's own user id (owner_id)", field="entity_id")
        if entity.owner_id != actor.user_id and not actor.is_admin:
            raise Forbidden("you may index only your own creators, products and events")
        # As the system: the owner check below must see another owner's private entity too
        # (row-level security would hide it, and the upsert would then fail on it).
        with self._uow.transaction():
            stored = self._index.get(entity.kind, entity.entity_id)
            if stored is not None and stored.owner_id != actor.user_id and not actor.is_admin:
                raise Forbidden(f"{entity.kind.value} {entity.entity_id!r} belongs to another owner")
            self._index.put(entity)
            return entity

    def remove(self, actor: Actor, kind: str, entity_id: str) -> None:
        """Take an entity out of the picker (its owner or an admin).

        Raises:
            NotFound: no such entity the actor may see.
            Forbidden: it belongs to someone else.
        """
        entity_kind = _kind(kind)
        with self._uow.transaction():  # as in put()
            stored = self._index.get(entity_kind, entity_id)
            if stored is None or (
                stored.visibility is Visibility.PRIVATE and stored.owner_id != actor.user_id and not actor.is_admin
            ):
                raise NotFound(f"no {entity_kind.value} {entity_id!r} in the index", field="entity_id")
            if stored.owner_id != actor.user_id and not actor.is_admin:
                raise Forbidden(f"{entity_kind.value} {entity_id!r} belongs to another owner")
            self._index.remove(entity_kind, entity_id)


def _kind(kind: str) -> EntityKind:
    try:
        return EntityKind(kind)
    except ValueError:
        raise InvalidInput("kind must be one of 'creator', 'product', 'event'", field="kind") from None


class MediaService:
    """Uploads for drafts: images validated by content and stripped of metadata, thumbnails by a job.

    Args:
        store: where the bytes go, by content key.
        records: who uploaded what.
        jobs: queues the thumbnail job.
        uow: opens the transaction of each operation.
        clock: upload times.
    """

    def __init__(
        self, store: MediaStore, records: MediaRecords, jobs: JobService, uow: UnitOfWork, clock: Clock
    ) -> None:
        self._store = store
        self._records = records
        self._jobs = jobs
        self._uow = uow
        self._clock = clock

    def upload_image(self, actor: Actor, data: bytes) -> Media:
        """Check, clean and store an image; its thumbnail follows from a job.

        The bytes are stored before the record commits: a failed record leaves at most an
        unreferenced file under its content key, never a record without its file.

        Raises:
            InvalidInput: naming ``file`` (see :func:`townsquare.core.composer.media.clean_image`).
        """
        clean = clean_image(data)
        self._store.put(clean.key, clean.data)
        media = Media(
            media_key=clean.key,
            owner_id=actor.user_id,
            content_type=clean.content_type,
            width=clean.width,
            height=clean.height,
            size=len(clean.data),
            created_at=self._clock.now(),
        )
        # As the system: the record and its thumbnail job commit together, and the job queue
        # is closed to users' transactions; the owner is the actor, set above.
        with self._uow.transaction():
            stored = self._records.add(media)
            if stored.thumbnail_key is None:
                self._jobs.enqueue(
                    MAKE_THUMBNAIL, {"media_key": clean.key}, idempotency_key=f"{MAKE_THUMBNAIL}:{clean.key}"
                )
            return stored

    def get(self, actor: Actor, media_key: str) -> Media:
        """The actor's record of an upload.

        Raises:
            NotFound: the actor has not uploaded it.
        """
        with self._uow.transaction(actor=actor.user_id):
            media = self._records.get(actor.user_id, media_key)
        if media is None:
            raise NotFound(f"no media {media_key!r} of yours", field="media_key")
        return media

    def content(self, actor: Actor, media_key: str, *, thumbnail: bool = False) -> tuple[Media, bytes]:
        """An upload's bytes (or its thumbnail's), for its owner.

        Raises:
            NotFound: not the actor's, or the thumbnail is not made yet.
        """
        media = self.get(actor, media_key)
        key = media.thumbnail_key if thumbnail else media.media_key
        data = None if key is None else self._store.get(key)
        if data is None:
            raise NotFound("the thumbnail is not ready yet" if thumbnail else "the file is missing", field="media_key")
        return media, data

    def make_thumbnail(self, media_key: str) -> str | None:
        """The thumbnail job: store a WebP thumbnail of the image and record it. Idempotent."""
        data = self._store.get(media_key)
        if data is None:
            return None
        small = thumbnail(data)
        key = content_key(small)
        self._store.put(key, small)
        with self._uow.transaction():
            self._records.set_thumbnail(media_key, key)
        return key

    def check_attachments(self, actor: Actor, media_keys: Sequence[str]) -> None:
        """Raise :class:`InvalidInput` (``attachments``) unless the actor uploaded every key."""
        if not media_keys:
            return
        with self._uow.transaction(actor=actor.user_id):
            owned = self._records.owned(actor.user_id, media_keys)
        missing = [key for key in media_keys if key not in owned]
        if missing:
            raise InvalidInput(f"attachments must be your uploads; {missing[0]!r} is not", field="attachments")
