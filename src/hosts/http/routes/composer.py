"""Composer endpoints under /api/v1/composer: the caller's own drafts, previews, publishing and schedules.

One router declares the path, tags and the stale-version handler once; each handler is a
call into the composer service with the acting user.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import anyio.to_thread
from attrs import field, frozen
from litestar import Request, Response, Router
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody, PathParameter, QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from townsquare.core.composer import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Draft,
    DraftConflict,
    Entity,
    EntityKind,
    Visibility,
    make_content,
    make_entity,
)
from townsquare.core.composer import render_preview as render
from townsquare.core.composer.media import MAX_IMAGE_BYTES, Media
from townsquare.core.composer.timing import parse_local_time
from townsquare.hosts.http.deps import ActorDep, ServicesDep
from townsquare.hosts.http.openapi import list_of, one_of, values_of
from townsquare.hosts.http.problems import PROBLEM_JSON, ProblemDocument, problem
from townsquare.hosts.http.routes.declare import API, delete, get, post, put
from townsquare.hosts.http.routes.feed import ItemOut

PATH = f"{API}/composer"
DraftId = Annotated[str, PathParameter(description="the draft's id")]
MediaKey = Annotated[str, PathParameter(description="the upload's media key (SHA-256 hex)")]
EntityId = Annotated[str, PathParameter(description="the entity's id within its kind")]
TAGS = ["composer"]


@frozen
class ScheduleOut:
    """When a draft publishes itself.

    Attributes:
        publish_at: the instant (UTC) the local time resolved to.
        local_time: the wall-clock time chosen, ``YYYY-MM-DDTHH:MM:SS`` without an offset.
        time_zone: the IANA zone of ``local_time``.
    """

    publish_at: datetime
    local_time: str
    time_zone: str


@frozen
class DraftOut:
    """A draft as its author sees it; send ``version`` back with the next change.

    Attributes:
        draft_id: the draft's id.
        version: the current version (1 when created, one more per change).
        title: the headline (may be blank until publishing).
        body: Markdown text.
        attachments: media keys of the author's uploads.
        mentions: user ids of mentioned creators.
        created_at: when it was created (its place in the list).
        updated_at: when it last changed.
        schedule: when it publishes itself, or null.
    """

    draft_id: str
    version: int
    title: str
    body: str
    attachments: list[str]
    mentions: list[str]
    created_at: datetime
    updated_at: datetime
    schedule: ScheduleOut | None

    @classmethod
    def from_draft(cls, draft: Draft) -> DraftOut:
        schedule = draft.schedule
        content = draft.content
        return cls(
            draft_id=draft.draft_id,
            version=draft.version,
            title=content.title,
            body=content.body,
            attachments=list(content.attachments),
            mentions=list(content.mentions),
            created_at=draft.created_at,
            updated_at=draft.updated_at,
            schedule=None
            if schedule is None
            else ScheduleOut(schedule.publish_at, schedule.local_time.isoformat(), schedule.time_zone),
        )


@frozen
class StaleVersionProblem(ProblemDocument):
    """A 409 for a change based on an old version: ``current`` is the draft as it is now.

    Attributes:
        type: a URI naming the kind of problem.
        title: the status's short title.
        status: the HTTP status code.
        detail: what exactly is wrong, for a person to read.
        instance: the request's path.
        request_id: the request's id (the ``X-Request-ID`` header); quote it when reporting.
        field: ``version``.
        errors: unused here.
        current: the draft as it is now: merge with it and send its version.
    """

    current: DraftOut | None = None


@frozen
class NewDraft:
    """A draft to start. With a ``draft_id``, creating again returns the same draft.

    Attributes:
        title: the headline, at most 100 characters (may be blank).
        body: Markdown, at most 2,000 characters.
        attachments: media keys of your uploads, at most 10.
        mentions: user ids of mentioned creators, at most 20.
        draft_id: your own id for it (1..64 of letters, digits, ``_`` and ``-``), or omitted.
    """

    title: str = ""
    body: str = ""
    attachments: list[str] = field(factory=list)
    mentions: list[str] = field(factory=list)
    draft_id: str | None = None


@frozen
class DraftChange:
    """The whole new content of a draft and the version it was based on.

    Attributes:
        version: the version you last saw.
        title: the headline, at most 100 characters.
        body: Markdown, at most 2,000 characters.
        attachments: media keys of your uploads, at most 10.
        mentions: user ids of mentioned creators, at most 20.
    """

    version: int
    title: str = ""
    body: str = ""
    attachments: list[str] = field(factory=list)
    mentions: list[str] = field(factory=list)


@frozen
class VersionOnly:
    """The version an operation is based on.

    Attributes:
        version: the version you last saw.
    """

    version: int


@frozen
class ScheduleIn:
    """When to publish: a wall-clock time in an IANA time zone.

    Attributes:
        version: the version you last saw.
        local_time: ``YYYY-MM-DDTHH:MM[:SS]`` without an offset, 1 minute to 1 year ahead.
        time_zone: an IANA zone such as ``Europe/Paris``.
        fold: 0 for the first of a local time that happens twice (clocks falling back), 1 for the second.
    """

    version: int
    local_time: str
    time_zone: str
    fold: int = 0


@frozen
class DraftList:
    """A page of your drafts, newest first.

    Attributes:
        drafts: the page's drafts.
        next_cursor: pass it back for the next page; null on the last.
    """

    drafts: list[DraftOut]
    next_cursor: str | None


@frozen
class MarkdownIn:
    """Markdown to render.

    Attributes:
        body: Markdown, at most 2,000 characters.
    """

    body: str


@frozen
class Preview:
    """Sanitized HTML of a Markdown body.

    Attributes:
        html: the HTML: no script, no event handlers, links marked nofollow.
    """

    html: str


_STALE = {
    409: ResponseSpec(
        data_container=StaleVersionProblem,
        description="Stale version: the draft changed since the version sent; `current` holds it",
        media_type=PROBLEM_JSON,
        generate_examples=False,
    )
}


def stale_version_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    assert isinstance(exc, DraftConflict)
    current = DraftOut.from_draft(exc.current)
    return problem(request, 409, exc.code, exc.detail, field=exc.field, current=current)


@post("/drafts", summary="Start a draft", status_code=HTTP_201_CREATED, problems=[400, 409])
def create_draft(services: ServicesDep, actor: ActorDep, data: JSONBody[NewDraft]) -> DraftOut:
    """Start a draft at version 1; with a draft_id of your own, creating again returns the same draft."""
    content = make_content(data.title, data.body, data.attachments, data.mentions)
    return DraftOut.from_draft(services.composer.create(actor, content, draft_id=data.draft_id))


@get("/drafts", summary="Your drafts, newest first", problems=[400])
def list_drafts(
    services: ServicesDep,
    actor: ActorDep,
    *,
    cursor: Annotated[str | None, QueryParameter(description="the previous page's next_cursor", required=False)] = None,
    limit: Annotated[int, QueryParameter(description=f"page size, 1..{MAX_LIMIT}")] = DEFAULT_LIMIT,
) -> DraftList:
    """Your drafts, newest first by creation, a page at a time (a bad cursor is a 400)."""
    page = services.composer.list_mine(actor, cursor, limit)
    return DraftList([DraftOut.from_draft(draft) for draft in page.drafts], page.next_cursor)


@get("/drafts/{draft_id:str}", summary="One of your drafts", problems=[404])
def get_draft(services: ServicesDep, actor: ActorDep, draft_id: DraftId) -> DraftOut:
    """One of your drafts; another author's draft is a 404."""
    return DraftOut.from_draft(services.composer.get(actor, draft_id))


@put(
    "/drafts/{draft_id:str}",
    summary="Autosave: the new content, based on a version",
    responses=_STALE,
    problems=[400, 404, 409],
)
def save_draft(services: ServicesDep, actor: ActorDep, draft_id: DraftId, data: JSONBody[DraftChange]) -> DraftOut:
    """Autosave: write the whole new content if the draft is still at `version`; a stale version is a 409 holding the
    current draft, and nothing is written.
    """
    content = make_content(data.title, data.body, data.attachments, data.mentions)
    return DraftOut.from_draft(services.composer.save(actor, draft_id, data.version, content))


@delete(
    "/drafts/{draft_id:str}",
    summary="Delete a draft at a version",
    status_code=HTTP_204_NO_CONTENT,
    responses=_STALE,
    problems=[404, 409],
)
def delete_draft(
    services: ServicesDep,
    actor: ActorDep,
    draft_id: DraftId,
    version: Annotated[int, QueryParameter(description="the version you saw")],
) -> None:
    """Delete a draft at `version` (a scheduled one never publishes)."""
    services.composer.delete(actor, draft_id, version)


@get("/drafts/{draft_id:str}/preview", summary="The sanitized HTML of a draft's body", problems=[404])
def preview_draft(services: ServicesDep, actor: ActorDep, draft_id: DraftId) -> Preview:
    """The draft's body as sanitized HTML (no script, no event handlers, links nofollow)."""
    return Preview(services.composer.preview(actor, draft_id))


@post("/preview", summary="Render Markdown as sanitized HTML", status_code=200, problems=[400])
def preview_markdown(actor: ActorDep, data: JSONBody[MarkdownIn]) -> Preview:
    """Any Markdown body as sanitized HTML."""
    del actor  # signed-in callers only, like every composer route
    return Preview(render(make_content(body=data.body).body))


@post(
    "/drafts/{draft_id:str}/publish",
    summary="Publish a draft now: its post enters the feed, the draft is gone",
    status_code=HTTP_201_CREATED,
    responses=_STALE,
    problems=[400, 404, 409],
)
def publish_draft(services: ServicesDep, actor: ActorDep, draft_id: DraftId, data: JSONBody[VersionOnly]) -> ItemOut:
    """Publish now: the post enters the feed and the draft is deleted, in one transaction."""
    return ItemOut.from_item(services.composer.publish(actor, draft_id, data.version))


@put(
    "/drafts/{draft_id:str}/schedule",
    summary="Schedule (or reschedule) a draft at a local time in a time zone",
    responses=_STALE,
    problems=[400, 404, 409],
)
def schedule_draft(services: ServicesDep, actor: ActorDep, draft_id: DraftId, data: JSONBody[ScheduleIn]) -> DraftOut:
    """Schedule or reschedule at a local time in an IANA zone, 1 minute to 1 year ahead; a skipped local time is a 400,
    an ambiguous one means its first occurrence unless fold=1.
    """
    scheduled = services.composer.schedule(
        actor, draft_id, data.version, parse_local_time(data.local_time), data.time_zone, fold=data.fold
    )
    return DraftOut.from_draft(scheduled)


@post(
    "/drafts/{draft_id:str}/unschedule",
    summary="Cancel a draft's schedule",
    status_code=200,
    responses=_STALE,
    problems=[404, 409],
)
def unschedule_draft(
    services: ServicesDep, actor: ActorDep, draft_id: DraftId, data: JSONBody[VersionOnly]
) -> DraftOut:
    """Cancel the schedule: its publish job then does nothing."""
    return DraftOut.from_draft(services.composer.cancel_schedule(actor, draft_id, data.version))


@frozen
class EntityOut:
    """A search hit: mention creators as ``@handle``, link products and events by kind and id.

    Attributes:
        kind: creator, product or event.
        entity_id: its id (a creator's user id, a product's or event's item id).
        handle: its handle or slug.
        name: its display name.
    """

    kind: Annotated[str, one_of(EntityKind)]
    entity_id: str
    handle: str
    name: str

    @classmethod
    def from_entity(cls, entity: Entity) -> EntityOut:
        return cls(entity.kind.value, entity.entity_id, entity.handle, entity.name)


@frozen
class SearchResults:
    """Ranked hits: exact handle, followed creators, then handle prefixes, name words, fragments.

    Attributes:
        hits: the hits, best first.
    """

    hits: list[EntityOut]


@frozen
class EntityIn:
    """An entity for the picker, written by its owner (or an admin).

    Attributes:
        kind: creator, product or event.
        entity_id: its id; a creator's is the owner's user id.
        handle: 1..50 of a-z, 0-9, ``_``, ``.``, ``-``.
        name: its display name, at most 100 characters.
        owner_id: who owns it (default: you; only admins name another).
        visibility: public, or private (found by its owner only).
    """

    kind: Annotated[str, one_of(EntityKind)]
    entity_id: str
    handle: str
    name: str
    owner_id: str | None = None
    visibility: Annotated[str, one_of(Visibility)] = "public"


@get("/search", summary="Find creators, products and events to mention or link", problems=[400])
def search_entities(
    services: ServicesDep,
    actor: ActorDep,
    q: Annotated[str, QueryParameter(description="a handle prefix (with or without @) or words; any text")],
    kinds: Annotated[
        list[str] | None,
        QueryParameter(description="kinds to find (default: all)", required=False, schema_extra=list_of(EntityKind)),
    ] = None,
    limit: Annotated[int, QueryParameter(description="hits, 1..50")] = 10,
) -> SearchResults:
    """Find creators, products and events: exact handle, followed creators, handle prefixes, name words, fragments;
    only what you may see.
    """
    hits = services.entity_search.search(actor, q, kinds=kinds, limit=limit)
    return SearchResults([EntityOut.from_entity(entity) for entity in hits])


@put("/entities", summary="Index (or re-index) your creator profile, product or event", problems=[400, 403])
def put_entity(services: ServicesDep, actor: ActorDep, data: JSONBody[EntityIn]) -> EntityOut:
    """Index (or re-index) your creator profile, product or event for the picker."""
    owner = actor.user_id if data.owner_id is None else data.owner_id
    entity = make_entity(data.kind, data.entity_id, data.handle, data.name, owner, visibility=data.visibility)
    return EntityOut.from_entity(services.entity_search.put(actor, entity))


@delete(
    "/entities/{kind:str}/{entity_id:str}",
    summary="Take your entity out of the picker",
    status_code=HTTP_204_NO_CONTENT,
    problems=[400, 403, 404],
)
def delete_entity(
    services: ServicesDep,
    actor: ActorDep,
    kind: Annotated[str, PathParameter(description="creator, product or event", schema_extra=values_of(EntityKind))],
    entity_id: EntityId,
) -> None:
    """Take your entity out of the picker."""
    services.entity_search.remove(actor, kind, entity_id)


@frozen
class MediaOut:
    """An upload: attach it to a draft by ``media_key``.

    Attributes:
        media_key: the SHA-256 (hex) of the stored, metadata-free file.
        content_type: what the content is, read from the bytes.
        width: pixels.
        height: pixels.
        size: stored bytes.
        created_at: when it was uploaded.
        thumbnail_key: the thumbnail's key once the job made it, else null.
    """

    media_key: str
    content_type: str
    width: int
    height: int
    size: int
    created_at: datetime
    thumbnail_key: str | None

    @classmethod
    def from_media(cls, media: Media) -> MediaOut:
        return cls(
            media.media_key,
            media.content_type,
            media.width,
            media.height,
            media.size,
            media.created_at,
            media.thumbnail_key,
        )


@post(
    "/media",
    summary="Upload an image: the raw request body is the file; its type is read from the content",
    status_code=HTTP_201_CREATED,
    request_max_body_size=MAX_IMAGE_BYTES + 1,
    problems=[400],
)
async def upload_media(request: Request[Any, Any, Any], services: ServicesDep, actor: ActorDep) -> MediaOut:
    """Upload an image as the raw body: validated by content, re-encoded without metadata, stored by SHA-256; a job
    makes its thumbnail.
    """
    # The raw body, whatever its declared content type: the core reads what the bytes are.
    data = await request.body()
    media = await anyio.to_thread.run_sync(services.media.upload_image, actor, data)
    return MediaOut.from_media(media)


@get("/media/{media_key:str}", summary="One of your uploads", problems=[404])
def get_media(services: ServicesDep, actor: ActorDep, media_key: MediaKey) -> MediaOut:
    """One of your uploads."""
    return MediaOut.from_media(services.media.get(actor, media_key))


@get(
    "/media/{media_key:str}/content",
    summary="The stored (metadata-free) file, served with the image type read from its content",
    media_type="application/octet-stream",
    problems=[404],
)
def media_content(services: ServicesDep, actor: ActorDep, media_key: MediaKey) -> Response[bytes]:
    """The stored, metadata-free file of one of your uploads."""
    media, data = services.media.content(actor, media_key)
    return Response(data, media_type=media.content_type)


@get(
    "/media/{media_key:str}/thumbnail",
    summary="The upload's WebP thumbnail (404 until the job made it); served as image/webp",
    media_type="application/octet-stream",
    problems=[404],
)
def media_thumbnail(services: ServicesDep, actor: ActorDep, media_key: MediaKey) -> Response[bytes]:
    """The WebP thumbnail of one of your uploads (404 until the job made it)."""
    _media, data = services.media.content(actor, media_key, thumbnail=True)
    return Response(data, media_type="image/webp")


HANDLERS: list[Any] = [
    upload_media,
    get_media,
    media_content,
    media_thumbnail,
    search_entities,
    put_entity,
    delete_entity,
    create_draft,
    list_drafts,
    get_draft,
    save_draft,
    delete_draft,
    preview_draft,
    preview_markdown,
    publish_draft,
    schedule_draft,
    unschedule_draft,
]


def router() -> Router:
    """The composer's routes under :data:`PATH` (the app documents every problem status)."""
    return Router(
        path=PATH,
        route_handlers=HANDLERS,
        tags=TAGS,
        exception_handlers={DraftConflict: stale_version_handler},
    )
