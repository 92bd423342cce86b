"""The assistant's edges that need no database: cattrs for tool arguments and cached contexts,
and the context caches (in process with cachetools, or Redis when REDIS_URL is set).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, TypeVar

import cattrs
from cachetools import TTLCache

from townsquare.core.assistant.context import CompiledContext
from townsquare.core.errors import InvalidInput

P = TypeVar("P")
CONTEXT_TTL_SECONDS = 3600
"""A compiled context is kept this long at most (its key changes anyway when a source does)."""


def _converter() -> cattrs.Converter:
    converter = cattrs.Converter(forbid_extra_keys=True)
    converter.register_structure_hook(datetime, lambda value, _type: datetime.fromisoformat(value))
    converter.register_structure_hook(date, lambda value, _type: _day(value))
    converter.register_unstructure_hook(datetime, lambda value: value.isoformat())
    return converter


def _day(value: object) -> date:
    """A day from its ISO form (YYYY-MM-DD) only: a time or another shape is refused."""
    if not isinstance(value, str) or len(value) != 10:
        raise ValueError(f"a day is written YYYY-MM-DD, got {value!r}")
    return date.fromisoformat(value)


class CattrsArgumentParser:
    """Builds tool arguments with cattrs; anything it refuses is an :class:`InvalidInput` naming the field."""

    def __init__(self) -> None:
        self._converter = _converter()

    def parse(self, raw: Mapping[str, Any], params: type[P]) -> P:
        try:
            return self._converter.structure(dict(raw), params)
        except (cattrs.BaseValidationError, ValueError, TypeError) as error:
            messages = cattrs.transform_error(error) if isinstance(error, cattrs.BaseValidationError) else [str(error)]
            detail = "; ".join(messages)
            field = None
            for message in messages:
                if " @ $." in message:
                    field = message.rsplit(" @ $.", 1)[1].split(".")[0].split("[")[0]
                    break
            if field is None and "extra fields" in detail:
                field = detail.split("extra fields found (", 1)[-1].split(")")[0].strip("'\" ") or None
            raise InvalidInput(f"invalid tool arguments: {detail}", field=field) from None


class CattrsContextCodec:
    """Compiled contexts as JSON, for the cache."""

    def __init__(self) -> None:
        self._converter = _converter()

    def dumps(self, context: CompiledContext) -> str:
        return json.dumps(self._converter.unstructure(context), separators=(",", ":"))

    def loads(self, text: str) -> CompiledContext:
        return self._converter.structure(json.loads(text), CompiledContext)


class ProcessContextCache:
    """Compiled contexts in this process: at most ``size``, each for at most an hour (cachetools)."""

    def __init__(self, size: int = 4096, ttl: float = CONTEXT_TTL_SECONDS) -> None:
        self._entries: TTLCache[str, str] = TTLCache(maxsize=size, ttl=ttl)

    def get(self, key: str) -> str | None:
        return self._entries.get(key)

    def put(self, key: str, value: str) -> None:
        self._entries[key] = value

    def clear(self) -> None:
        self._entries.clear()


class RedisContextCache:
    """Compiled contexts in Redis, shared by every host process; an unreachable Redis is a miss."""

    def __init__(self, url: str, ttl: int = CONTEXT_TTL_SECONDS) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._errors = (redis.RedisError,)
        self._ttl = ttl

    def get(self, key: str) -> str | None:
        try:
            value = self._redis.get(key)
        except self._errors:
            return None  # the cache is an optimisation: compile afresh
        return None if value is None else bytes(value).decode()  # type: ignore[arg-type]

    def put(self, key: str, value: str) -> None:
        try:
            self._redis.set(key, value, ex=self._ttl)
        except self._errors:
            return

    def close(self) -> None:
        self._redis.close()
