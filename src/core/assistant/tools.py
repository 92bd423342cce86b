"""The chat's tools: the project's own operations, each run as the user with the user's permissions.

A tool is a name, a description, an attrs class of arguments and a function of
``(context, arguments)``. The function calls a core service with the conversation's
:class:`Actor` (the caller of the HTTP request, roles included) and nothing else, so a tool
can do exactly what the user's own HTTP call could do: every check those services make
applies. No tool takes another user's id.

Arguments arrive as the model sent them; an :class:`ArgumentParser` (cattrs, at the host's
edge) turns them into the tool's class. Bad arguments, and every refusal a service raises,
become an error *result* the model sees; they never end the turn.
"""

from __future__ import annotations

import hashlib
import json
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from enum import Enum
from typing import Any, Generic, Protocol, TypeVar

import attrs
from attrs import frozen

from townsquare.core.assistant.models import ToolCall
from townsquare.core.assistant.ports import ToolSpec
from townsquare.core.errors import DomainError, InvalidInput
from townsquare.core.identity import Actor

P = TypeVar("P")
MAX_RESULT_CHARS = 16_000
"""A result longer than this is cut (and says so) before it is stored and sent to the model."""
_WORD = re.compile(r"\w+")


class ArgumentParser(Protocol):
    """Builds a tool's argument class from the model's JSON object (cattrs in the adapter)."""

    def parse(self, raw: Mapping[str, Any], params: type[P]) -> P:
        """Raises :class:`InvalidInput` naming the field at fault."""
        ...


@frozen
class ToolContext:
    """Who runs a tool, and for which call (tools derive idempotency keys from it)."""

    actor: Actor
    conversation_id: str
    call_id: str

    def key(self, purpose: str) -> str:
        """A stable key for this call: the same call retried writes once."""
        digest = hashlib.blake2b(f"{self.conversation_id}:{self.call_id}:{purpose}".encode(), digest_size=8)
        return digest.hexdigest()


@frozen
class Tool(Generic[P]):
    """One operation offered to the model.

    Attributes:
        name: what the model calls it (``area_verb``).
        description: what it does, for the model.
        params: the attrs class of its arguments (an empty class when it takes none).
        run: does it, as ``context.actor``; returns JSON-able data.
        keywords: words of a user message that make this tool worth offering.
        writes: whether it changes anything (shown in the explainability panel).
    """

    name: str
    description: str
    params: type[P]
    run: Callable[[ToolContext, P], Any]
    keywords: frozenset[str]
    writes: bool = False


@frozen
class ToolResult:
    """What a tool call returned: ``ok`` and its JSON text, or the error the model is shown."""

    call: ToolCall
    ok: bool
    content: str


@frozen
class NoArguments:
    """For tools that take no arguments."""


class ToolRegistry:
    """The tools of the assistant, and which of them each turn offers.

    Args:
        parser: converts the model's arguments to each tool's class.
        always: tools offered on every turn (when ``select`` has room).
    """

    def __init__(self, parser: ArgumentParser, always: Iterable[str] = ()) -> None:
        self._parser = parser
        self._tools: dict[str, Tool[Any]] = {}
        self._always = tuple(always)
        self._schemas: dict[str, dict[str, Any]] = {}

    def add(self, tool: Tool[Any]) -> None:
        if tool.name in self._tools:
            raise ValueError(f"tool {tool.name!r} is already registered")
        self._tools[tool.name] = tool
        self._schemas[tool.name] = json_schema(tool.params)

    @property
    def names(self) -> list[str]:
        return sorted(self._tools)

    def get(self, name: str) -> Tool[Any] | None:
        return self._tools.get(name)

    def spec(self, name: str) -> ToolSpec:
        tool = self._tools[name]
        return ToolSpec(name=tool.name, description=tool.description, parameters=self._schemas[name])

    def select(self, message: str, limit: int = 8) -> list[str]:
        """The tools worth offering for ``message``: those whose keywords it uses, then the defaults.

        A keyword matches a word of the message that starts with it (``earn`` matches
        ``earnings``). Offering a handful instead of all of them keeps the model's prompt
        short and its choice easier.
        """
        words = _WORD.findall(message.casefold())
        scored: list[tuple[int, str]] = []
        for name, tool in self._tools.items():
            hits = sum(1 for word in words for keyword in tool.keywords if word.startswith(keyword))
            if hits:
                scored.append((-hits, name))
        chosen = [name for _hits, name in sorted(scored)][:limit]
        for name in self._always:
            if len(chosen) >= limit:
                break
            if name in self._tools and name not in chosen:
                chosen.append(name)
        return chosen

    def run(self, context: ToolContext, call: ToolCall, offered: Sequence[str]) -> ToolResult:
        """Run ``call`` as ``context.actor``; refusals and bad arguments are error results.

        Only a tool offered this turn may run: a model that names another gets an error.
        """
        tool = self._tools.get(call.name)
        if tool is None or call.name not in offered:
            return _error(call, "unknown_tool", f"no tool {call.name!r} is offered in this turn")
        if not isinstance(call.arguments, Mapping):
            return _error(call, "invalid_arguments", "the arguments must be a JSON object", field=None)
        try:
            arguments = self._parser.parse(call.arguments, tool.params)
            value = tool.run(context, arguments)
        except DomainError as error:
            code = "invalid_arguments" if isinstance(error, InvalidInput) else error.code
            return _error(call, code, error.detail, field=error.field)
        return ToolResult(call=call, ok=True, content=_dump({"result": plain(value)}))


def _error(call: ToolCall, code: str, detail: str, *, field: str | None = None) -> ToolResult:
    body: dict[str, Any] = {"error": code, "detail": detail}
    if field is not None:
        body["field"] = field
    return ToolResult(call=call, ok=False, content=_dump(body))


def _dump(value: Any) -> str:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    if len(text) <= MAX_RESULT_CHARS:
        return text
    return json.dumps({"truncated": True, "partial": text[: MAX_RESULT_CHARS - 100]}, ensure_ascii=False)


def plain(value: Any) -> Any:
    """JSON-able data from domain values: attrs instances, enums, times, mappings, sequences.

    Embeddings (``bytes``) are left out: they mean nothing to a reader.
    """
    if attrs.has(type(value)):
        return {
            field.name: plain(getattr(value, field.name))
            for field in attrs.fields(type(value))
            if not isinstance(getattr(value, field.name), bytes)
        }
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(plain(key)): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(item) for item in value]
    return value


def json_schema(params: type[Any]) -> dict[str, Any]:
    """The JSON schema of an attrs argument class (the types tools use: str, int, bool, lists, optionals)."""
    hints = typing.get_type_hints(params)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for field in attrs.fields(params):
        properties[field.name] = _schema_of(hints[field.name])
        if field.default is attrs.NOTHING:
            required.append(field.name)
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


_SCALARS: dict[Any, str] = {str: "string", int: "integer", bool: "boolean", float: "number"}


def _schema_of(hint: Any) -> dict[str, Any]:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return _schema_of(options[0]) if len(options) == 1 else {}
    if origin in (list, tuple, Sequence):
        (item, *_rest) = typing.get_args(hint)
        return {"type": "array", "items": _schema_of(item)}
    if hint in _SCALARS:
        return {"type": _SCALARS[hint]}
    return {}
