"""Media for drafts: images checked by their content (Pillow), re-encoded without metadata, stored
under the SHA-256 of what is stored, and given a thumbnail by a job.

What is checked, in order, before anything is stored (docs/composer.md):

1. size: at most :data:`MAX_IMAGE_BYTES`;
2. the format Pillow reads from the bytes (JPEG, PNG, GIF, WebP), whatever the client says;
3. the pixel count from the header, before decoding: at most :data:`MAX_PIXELS` (a
   decompression bomb is refused without being decoded), and each side at most 12,000;
4. a full decode (truncated or corrupt files are refused).

Then the orientation tag is applied to the pixels and the image is encoded afresh in its own
format with no metadata at all (no EXIF, so no GPS position, no XMP, no comments). Animated
GIF and WebP keep their first frame only.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from datetime import datetime

from attrs import frozen
from PIL import Image, ImageOps, UnidentifiedImageError

from townsquare.core.errors import InvalidInput

MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000
MAX_SIDE = 12_000
THUMBNAIL_SIDE = 320
FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp"}


@frozen
class CleanImage:
    """An image as it will be stored: re-encoded, metadata-free, and its content hash."""

    key: str
    data: bytes
    content_type: str
    width: int
    height: int


@frozen
class Media:
    """An uploaded file as its owner sees it.

    Attributes:
        media_key: the SHA-256 (hex) of the stored bytes: the same image stored twice is one file.
        owner_id: who uploaded it (several owners may hold the same key).
        content_type: what the content is (from the content, never the client).
        width, height: pixels.
        size: stored bytes.
        created_at: when it was uploaded.
        thumbnail_key: the thumbnail's key, once the job made it.
    """

    media_key: str
    owner_id: str
    content_type: str
    width: int
    height: int
    size: int
    created_at: datetime
    thumbnail_key: str | None = None


def content_key(data: bytes) -> str:
    """The key of ``data``: its SHA-256 in lowercase hex."""
    return hashlib.sha256(data).hexdigest()


def clean_image(data: bytes) -> CleanImage:
    """Check ``data`` is an image within the limits and return it re-encoded without metadata.

    Raises:
        InvalidInput: naming ``file``: too large, not an image of an accepted format, too many
            pixels, or corrupt.
    """
    if not isinstance(data, bytes | bytearray) or not data:
        raise InvalidInput("file is empty; send the image's bytes as the request body", field="file")
    if len(data) > MAX_IMAGE_BYTES:
        raise InvalidInput(f"file is larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MB", field="file")
    with warnings.catch_warnings():
        # Pillow warns (and past twice its limit raises) on huge images; our own check comes first.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as probe:
                image_format = probe.format or ""
                width, height = probe.size
                if image_format not in FORMATS:
                    raise InvalidInput("file is not a JPEG, PNG, GIF or WebP image", field="file")
                if width * height > MAX_PIXELS or max(width, height) > MAX_SIDE:
                    raise InvalidInput(
                        f"file has {width}x{height} pixels; at most {MAX_PIXELS:,} and {MAX_SIDE} a side",
                        field="file",
                    )
                probe.load()
                upright = ImageOps.exif_transpose(probe)
                encoded = _encode(upright, image_format)
        except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise InvalidInput("file is not a JPEG, PNG, GIF or WebP image within the limits", field="file") from None
        except (OSError, SyntaxError, ValueError):
            raise InvalidInput("file is a damaged or truncated image", field="file") from None
    return CleanImage(content_key(encoded), encoded, FORMATS[image_format], upright.width, upright.height)


def thumbnail(data: bytes) -> bytes:
    """A WebP thumbnail of a stored (already checked) image, at most 320 pixels a side."""
    with Image.open(io.BytesIO(data)) as image:
        image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
        converted = image.convert("RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB")
        out = io.BytesIO()
        converted.save(out, format="WEBP", quality=80)
        return out.getvalue()


def _encode(image: Image.Image, image_format: str) -> bytes:
    # A fresh image from the pixels alone: nothing of the original's info dict (EXIF, XMP,
    # ICC, comments, PNG text chunks) travels with it.
    pixels = image.copy()
    pixels.info = {}
    if image_format == "JPEG" and pixels.mode not in ("RGB", "L", "CMYK"):
        pixels = pixels.convert("RGB")
    out = io.BytesIO()
    options: dict[str, object] = {"quality": 90} if image_format in ("JPEG", "WEBP") else {}
    pixels.save(out, format=image_format, **options)
    return out.getvalue()
