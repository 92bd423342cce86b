"""Domain models to response bodies: one projection instead of a field-by-field copy per body."""

from __future__ import annotations

from enum import Enum
from typing import Any, TypeVar

import attrs
from attrs import AttrsInstance

Body = TypeVar("Body", bound=AttrsInstance)


def project(model: object, body: type[Body], **overrides: Any) -> Body:
    """Build ``body`` from the same-named attributes (fields or properties) of ``model``.

    Enums become their values; ``overrides`` supply the fields that need more than a copy
    (nested bodies, renamed or reshaped values).
    """
    values: dict[str, Any] = {}
    for field in attrs.fields(body):
        if field.name in overrides:
            values[field.name] = overrides[field.name]
            continue
        value = getattr(model, field.name)
        values[field.name] = value.value if isinstance(value, Enum) else value
    return body(**values)
