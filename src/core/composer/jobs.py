"""The composer's job types: the scheduled publish (one job per draft and schedule version) and
the thumbnail of an uploaded image (one per content key)."""

from __future__ import annotations

from townsquare.core.composer.service import MAKE_THUMBNAIL, PUBLISH_SCHEDULED, ComposerService, MediaService
from townsquare.core.jobs import JobContext, JobHandlers


def register_composer_jobs(handlers: JobHandlers, service: ComposerService, media: MediaService) -> None:
    """Register the scheduled-publish and thumbnail handlers."""

    def publish_scheduled(context: JobContext) -> None:
        service.publish_scheduled(str(context.payload["draft_id"]), int(context.payload["version"]))

    handlers.register(
        PUBLISH_SCHEDULED, publish_scheduled, description="publish a scheduled draft if it is still scheduled and due"
    )

    def make_thumbnail(context: JobContext) -> None:
        media.make_thumbnail(str(context.payload["media_key"]))

    handlers.register(MAKE_THUMBNAIL, make_thumbnail, description="make the thumbnail of an uploaded image")
