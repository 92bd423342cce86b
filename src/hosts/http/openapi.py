"""How the HTTP host describes itself: the OpenAPI document's settings, operation ids, and
schemas of attrs bodies that carry their docstrings.

Every description in the document comes from the code it describes: an operation's from its
handler's docstring (its summary from the decorator), a body's from its class docstring, a
field's from the class's ``Attributes:`` section (or ``attrs.field(metadata={"description":
...})``). ``tests/http/test_openapi.py`` checks that nothing is left undescribed.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable
from enum import Enum
from typing import Any

import attrs
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, OpenAPIType, Reference, Schema, SecurityScheme
from litestar.params import KwargDefinition
from litestar.plugins.attrs import AttrsSchemaPlugin
from litestar.typing import FieldDefinition

BEARER = "BearerToken"

API_DESCRIPTION = """\
The HTTP API of townsquare: notifications, the fused home feed, the earnings ledger and the
job queue.

**Authentication.** Every operation that declares the `BearerToken` requirement needs
`Authorization: Bearer <JWT>` (HS256; the user id in `sub`, roles in `app_metadata.roles` or
`role`); operations marked *admin* need the `admin` role. `/health`, `/ready`, the schema and
mock mode's `/api/v1/testing/*` take no token.

**Errors** are RFC 9457 problem documents (`application/problem+json`) naming the field at
fault; each operation lists the statuses it can answer. A refused request changes nothing.

**Lists** page by opaque cursors: pass a page's `next_cursor` as `cursor` to get the next one;
`null` means the last page. A cursor belongs to one list and expires after 24 hours; a
malformed, tampered, foreign or expired cursor is a 400.

**Retries.** Writes a client may retry take an `idempotency_key`: the same key gives the same
result (and the same id) and writes nothing twice; for earnings, the same key with different
content is a 409.

**Rate limits** apply to every caller (user, or address when anonymous): a 429 carries
`Retry-After` seconds.
"""


def values_of(choices: type[Enum] | Iterable[str], *, nullable: bool = False) -> dict[str, Any]:
    """``schema_extra`` declaring a closed set: ``QueryParameter(..., schema_extra=values_of(Lane))``."""
    values: list[Any] = [c.value if isinstance(c, Enum) else c for c in choices]
    return {"enum": [*values, None] if nullable else values}


def one_of(choices: type[Enum] | Iterable[str], *, nullable: bool = False) -> KwargDefinition:
    """Document a text field as one of a closed set: ``kind: Annotated[str, one_of(ItemKind)]``.

    The value stays a string on the wire and in the body class; the core refuses anything
    else with its own specific problem (naming the field and the allowed values).
    """
    return KwargDefinition(schema_extra=values_of(choices, nullable=nullable))


def list_of(choices: type[Enum] | Iterable[str]) -> dict[str, Any]:
    """``schema_extra`` of an optional query parameter that repeats, each value from a closed set."""
    items = Schema(type=OpenAPIType.STRING, enum=values_of(choices)["enum"])
    return {"one_of": [Schema(type=OpenAPIType.ARRAY, items=items), Schema(type=OpenAPIType.NULL)]}


def openapi_config(version: str) -> OpenAPIConfig:
    """The document's settings: operations described by their handlers' docstrings, ids by handler name."""
    return OpenAPIConfig(
        title="townsquare",
        version=version,
        description=API_DESCRIPTION,
        path="/schema",
        components=Components(
            security_schemes={
                BEARER: SecurityScheme(
                    type="http",
                    scheme="bearer",
                    bearer_format="JWT",
                    description="An HS256 JWT: the user id in `sub`, roles in `app_metadata.roles` or `role`.",
                )
            }
        ),
        use_handler_docstrings=True,
        operation_id_creator=_operation_ids(),
        create_examples=False,
    )


def _operation_ids() -> Any:
    # The handler's name (``home``, ``counts``) makes readable client functions; a name taken
    # already in this document gets its area's tag in front.
    taken: set[str] = set()

    def operation_id(route_handler: HTTPRouteHandler, http_method: Any, path_components: Any) -> str:
        del http_method, path_components
        name = route_handler.handler_name
        if name in taken:
            tags = route_handler.resolve_tags()
            name = f"{tags[0] if tags else 'api'}_{name}"
        taken.add(name)
        return name

    return operation_id


def require_token(route_handler: HTTPRouteHandler, public: bool) -> None:
    """Declare the bearer token on a handler that needs one; public ones declare nothing."""
    route_handler.security = None if public else [{BEARER: []}]


class DocumentedAttrsSchemaPlugin(AttrsSchemaPlugin):
    """Litestar's attrs schemas, with descriptions from the class docstring and its ``Attributes:``."""

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: Any) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        cls = field_definition.type_
        summary, fields = parse_docstring(cls)
        if summary:
            schema.description = summary
        for name, attribute in attrs.fields_dict(cls).items():
            text = attribute.metadata.get("description") or fields.get(name)
            prop = (schema.properties or {}).get(name)
            if text and isinstance(prop, Schema | Reference):
                prop.description = text
        return schema


_ENTRY = re.compile(r"^(\w+(?:\s*,\s*\w+)*)\s*:\s*(.*)$")


def parse_docstring(cls: type) -> tuple[str, dict[str, str]]:
    """A class docstring's text before its sections, and its ``Attributes:`` entries by name.

    An entry may name several attributes (``since, until: the period covered``) and go on over
    more indented lines.
    """
    doc = inspect.cleandoc(cls.__doc__ or "")
    if not doc:
        return "", {}
    head, _, rest = doc.partition("\nAttributes:\n")
    for section in ("\nArgs:\n", "\nRaises:\n", "\nExamples:\n"):
        head = head.split(section, 1)[0]
    fields: dict[str, str] = {}
    names: list[str] = []
    for line in rest.splitlines():
        if not line.strip():
            continue
        if not line.startswith(" "):
            break  # the next section
        entry = _ENTRY.match(line.strip()) if not line.startswith("        ") else None
        if entry:
            names = [name.strip() for name in entry.group(1).split(",")]
            for name in names:
                fields[name] = entry.group(2).strip()
        else:
            for name in names:
                fields[name] = f"{fields[name]} {line.strip()}".strip()
    return head.strip(), fields


_RESERVED = {"self", "request", "state", "scope", "socket", "headers", "cookies", "body", "data"}


def problems_of(route_handler: HTTPRouteHandler, path_parameters: set[str], *, public: bool) -> set[int]:
    """The error statuses an operation can answer, from what it takes and who may call it.

    Every request is rate limited (429); one that needs a token can lack it (401); a guarded
    one can be refused (403); any input can be malformed (400); a body can be too large (413);
    one that reads the stores can find the database down (503, postgres mode). The domain's
    refusals beyond these (a 404 for an unknown id, a 409 conflict, a 403 from a rule in the
    core) are declared on the handler: ``@post(..., problems=[404, 409])``.
    """
    signature = set(route_handler.parsed_fn_signature.parameters)
    dependencies = set(route_handler.resolve_dependencies())
    query = signature - dependencies - _RESERVED - path_parameters
    statuses = {429}
    if not public:
        statuses.add(401)
    if route_handler.resolve_guards():
        statuses.add(403)
    if "data" in signature:
        statuses |= {400, 413}
    if query or path_parameters:
        statuses.add(400)
    if signature & {"services", "actor"}:
        statuses.add(503)
    statuses |= set(route_handler.opt.get("problems", ()))
    return statuses
