"""The local-filesystem media store: one file per content key, under a directory from settings."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

_KEY = re.compile(r"^[0-9a-f]{64}$")


class LocalMediaStore:
    """Implements :class:`townsquare.core.composer.MediaStore` in a directory (``MEDIA_PATH``).

    Files live at ``<root>/<k[0:2]>/<k[2:4]>/<key>``; a write goes to a temporary file in the
    same directory and is renamed into place, so a reader never sees half a file and two
    writers of one key (the same bytes) cannot corrupt it. Keys are checked to be SHA-256 hex,
    so no key names a path outside the root.
    """

    def __init__(self, root: str | Path) -> None:
        self._root = Path(root)
        self._root.mkdir(parents=True, exist_ok=True)

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        if path.exists():
            return  # content-addressed: the same key holds the same bytes
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def _path(self, key: str) -> Path:
        if not _KEY.match(key):
            raise ValueError("a media key is 64 lowercase hex digits")
        return self._root / key[:2] / key[2:4] / key
