"""Domain models to response bodies: one projection instead of a field-by-field copy per body."""

from __future__ import annotations

from enum import Enum
from typing import Any, TypeVar

import attrs
from attrs import AttrsInstance

Body = TypeVar("Body", bound=AttrsInstance)


def project(model: object, body: type[Body], *, also: tuple[object, ...] = (), **overrides: Any) -> Body:
    """Build ``body`` from the same-named attributes (fields or properties) of ``model``.

    Enums become their values; ``also`` names further models to read the attributes ``model``
    lacks from (an event's details, a registration's price), in order; ``overrides`` supply the
    fields that need more than a copy (nested bodies, renamed or reshaped values).
    """
    values: dict[str, Any] = {}
    for field in attrs.fields(body):
        if field.name in overrides:
            values[field.name] = overrides[field.name]
            continue
        value = _read(model, field.name, also)
        values[field.name] = value.value if isinstance(value, Enum) else value
    return body(**values)


def _read(model: object, name: str, also: tuple[object, ...]) -> Any:
    if not also:
        return getattr(model, name)
    for source in (model, *also):
        if hasattr(source, name):
            return getattr(source, name)
    raise AttributeError(f"no {name!r} on {type(model).__name__} or {[type(each).__name__ for each in also]}")
