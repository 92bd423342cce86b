"""Text every adapter can store: the one check of client strings that no store may refuse later.

Postgres refuses two things in text and JSON that Python strings may hold: the NUL
character (in ``text`` and in ``jsonb`` strings) and unpaired surrogates (not UTF-8). Memory
mode would keep them, so the core refuses both, and the two modes answer alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from townsquare.core.errors import InvalidInput

MAX_JSON_DEPTH = 32
"""How deeply a client's JSON document (notification data, job payloads) may nest."""


def is_storable(value: str) -> bool:
    """Whether ``value`` holds no NUL character and no unpaired surrogate."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_storable(value: str, field: str) -> str:
    """Return ``value``, or raise :class:`InvalidInput` naming ``field`` when no store can keep it."""
    if not is_storable(value):
        raise InvalidInput(f"{field} must not contain NUL characters or unpaired surrogates", field=field)
    return value


def check_storable_json(value: Any, field: str, _depth: int = 0) -> None:
    """Check every string of a JSON document (keys included) with :func:`check_storable`.

    Raises:
        InvalidInput: naming ``field``, also when the document nests deeper than :data:`MAX_JSON_DEPTH`.
    """
    if isinstance(value, str):
        check_storable(value, field)
    elif isinstance(value, Mapping | list | tuple):
        if _depth >= MAX_JSON_DEPTH:
            raise InvalidInput(f"{field} must nest at most {MAX_JSON_DEPTH} levels deep", field=field)
        if isinstance(value, Mapping):
            for key, item in value.items():
                if isinstance(key, str):
                    check_storable(key, field)
                check_storable_json(item, field, _depth + 1)
        else:
            for item in value:
                check_storable_json(item, field, _depth + 1)
