"""Media uploads on both adapters: images checked by content, stripped of metadata, content-hash
keys, thumbnails by a job, and attachments that must be the author's uploads."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from townsquare.adapters.media.local import LocalMediaStore
from townsquare.bootstrap import Services
from townsquare.core.composer import make_content
from townsquare.core.composer.media import MAX_IMAGE_BYTES
from townsquare.core.errors import InvalidInput, NotFound
from townsquare.core.identity import Actor, system_actor
from townsquare.core.jobs import JobRunner

OPERATOR = system_actor("tests")


ALICE = Actor("alice")
BOB = Actor("bob")


def photo_with_gps(size: tuple[int, int] = (64, 48), *, image_format: str = "JPEG") -> bytes:
    """A photo whose EXIF holds a GPS position and says 'rotate 90 degrees' (orientation 6)."""
    image = Image.new("RGB", size, (200, 30, 30))
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "PhoneMaker"
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 3.0)}
    out = io.BytesIO()
    image.save(out, format=image_format, exif=exif.tobytes())
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb's shape)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


def test_an_image_is_stored_without_its_metadata_under_its_content_hash(services: Services) -> None:
    # Given a photo with a GPS position in its EXIF
    original = photo_with_gps()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(0x8825)
    # When alice uploads it
    media = services.media.upload_image(ALICE, original)
    # Then the stored file has no EXIF at all, is upright, and its key is its SHA-256
    _record, stored = services.media.content(ALICE, media.media_key)
    assert media.media_key == hashlib.sha256(stored).hexdigest()
    kept = Image.open(io.BytesIO(stored))
    assert kept.format == "JPEG" and not kept.getexif() and "exif" not in kept.info
    assert (media.width, media.height, media.content_type) == (48, 64, "image/jpeg")
    assert media.size == len(stored) and media.owner_id == "alice"
    # And uploading it again is the same record
    assert services.media.upload_image(ALICE, original) == media


def test_the_thumbnail_is_made_by_a_job(services: Services) -> None:
    media = services.media.upload_image(ALICE, photo_with_gps((800, 600), image_format="PNG"))
    with pytest.raises(NotFound):
        services.media.content(ALICE, media.media_key, thumbnail=True)
    JobRunner(services.jobs, services.job_handlers).run_due()
    record, small = services.media.content(ALICE, media.media_key, thumbnail=True)
    thumb = Image.open(io.BytesIO(small))
    assert thumb.format == "WEBP" and max(thumb.size) == 320
    assert record.thumbnail_key == hashlib.sha256(small).hexdigest()


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"GIF89a but not really an image",
        b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
        b"%PDF-1.7\n...",
        photo_with_gps()[:200],  # truncated
        png_claiming(100_000, 100_000),  # 10 gigapixels: refused from the header, never decoded
        png_claiming(12_001, 10),
        b"\xff\xd8\xff" + b"\0" * (MAX_IMAGE_BYTES + 1),  # over the size limit
    ],
    ids=["empty", "fake-gif", "svg", "pdf", "truncated", "bomb", "too-wide", "oversized"],
)
def test_files_that_are_not_acceptable_images_are_refused_naming_the_file(services: Services, data: bytes) -> None:
    with pytest.raises(InvalidInput) as caught:
        services.media.upload_image(ALICE, data)
    assert caught.value.field == "file"
    assert "composer.make_thumbnail" not in {entry.job_type for entry in services.jobs.stats(OPERATOR).by_type}


def test_uploads_are_their_owners_and_attachments_must_be_yours(services: Services) -> None:
    media = services.media.upload_image(ALICE, photo_with_gps())
    with pytest.raises(NotFound):
        services.media.get(BOB, media.media_key)
    draft = services.composer.create(ALICE, make_content("with photo", attachments=[media.media_key]))
    assert draft.content.attachments == (media.media_key,)
    with pytest.raises(InvalidInput) as caught:
        services.composer.create(BOB, make_content("stolen", attachments=[media.media_key]))
    assert caught.value.field == "attachments"
    with pytest.raises(InvalidInput):
        services.composer.save(ALICE, draft.draft_id, 1, make_content("x", attachments=["0" * 64]))
    assert services.composer.get(ALICE, draft.draft_id) == draft


def test_the_local_store_writes_whole_files_under_their_key(tmp_path: Path) -> None:
    store = LocalMediaStore(tmp_path / "media")
    key = hashlib.sha256(b"bytes").hexdigest()
    store.put(key, b"bytes")
    store.put(key, b"bytes")
    assert store.get(key) == b"bytes"
    assert (tmp_path / "media" / key[:2] / key[2:4] / key).read_bytes() == b"bytes"
    assert store.get("f" * 64) is None
    assert not list((tmp_path / "media").rglob(".upload-*"))
    with pytest.raises(ValueError):
        store.get("../../etc/passwd")
