"""The composer: drafts with versioned autosaves, safe previews, and publishing into the feed
now or at a local time in the author's zone (exactly once, by a job keyed by draft and version).
"""

from townsquare.core.composer.media import Media
from townsquare.core.composer.models import (
    BODY_MAX_GRAPHEMES,
    TITLE_MAX_GRAPHEMES,
    Draft,
    DraftConflict,
    DraftContent,
    DraftPage,
    Schedule,
    grapheme_count,
    make_content,
)
from townsquare.core.composer.ports import DraftStore, EntityIndex, MediaRecords, MediaStore
from townsquare.core.composer.preview import render_preview
from townsquare.core.composer.search import Entity, EntityKind, SearchQuery, Visibility, make_entity, parse_query
from townsquare.core.composer.service import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_SCHEDULED_PER_AUTHOR,
    PUBLISH_SCHEDULED,
    ComposerService,
    EntitySearchService,
    MediaService,
    publish_job_key,
)
from townsquare.core.composer.timing import resolve_local_time

__all__ = [
    "BODY_MAX_GRAPHEMES",
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "MAX_SCHEDULED_PER_AUTHOR",
    "PUBLISH_SCHEDULED",
    "TITLE_MAX_GRAPHEMES",
    "ComposerService",
    "Draft",
    "DraftConflict",
    "DraftContent",
    "DraftPage",
    "DraftStore",
    "Entity",
    "EntityIndex",
    "EntityKind",
    "EntitySearchService",
    "Media",
    "MediaRecords",
    "MediaService",
    "MediaStore",
    "Schedule",
    "SearchQuery",
    "Visibility",
    "grapheme_count",
    "make_content",
    "make_entity",
    "parse_query",
    "publish_job_key",
    "render_preview",
    "resolve_local_time",
]
