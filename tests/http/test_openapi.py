"""The OpenAPI document describes the whole API: every operation and field, closed sets as enums,
typed bodies, the errors each operation can answer, and no token on public routes.

The checks run over every operation in the document, so a new route is checked as soon as it is
registered; each failure names the operation or field and what to add.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from tests.conftest import memory_settings
from townsquare.bootstrap import bootstrap
from townsquare.hosts.http.app import create_app

Document = dict[str, Any]

PUBLIC = re.compile(r"^/(health|ready|schema)(/|$)|^/api/v1/testing/")
"""Routes that take no token (docs/security.md)."""

CLOSED_SETS = {
    "channel",
    "category",
    "lane",
    "mode",
    "kind",
    "status",
    "frequency",
    "weekday",
    "reason",
    "type",
    "role",
}
"""Field and parameter names that hold one of a fixed set of values: their schemas must be enums.

A name here that is free text in some body (a problem document's ``type`` URI, say) is listed in
:data:`FREE_TEXT` with the schema it belongs to.
"""
FREE_TEXT = {
    ("ProblemDocument", "type"),  # a URI
    ("ProblemDocument", "status"),  # the HTTP status code
    ("StaleVersionProblem", "type"),  # a ProblemDocument with the current draft
    ("StaleVersionProblem", "status"),
    ("RefundEarning", "reason"),  # a refund's reason, written by people
    ("EventOut", "reason"),
    ("RegistrationRefund", "reason"),  # a registration refund's reason, written by people
    ("BulkActionIn", "reason"),  # a bulk refund's reason, written by people
    ("BulkActionOut", "reason"),
}

ANY_JSON_FIELDS = {"payload", "data"}
"""Fields that hold the client's own JSON object by design (a job's payload, a notification's data)."""

HOW_TO = {
    "operation": "give the handler a docstring: what it does, its rules",
    "schema": "give the class a docstring",
    "field": "describe it in the class docstring's Attributes: section",
    "enum": "type it with the core's enum (a StrEnum) instead of str",
}


@pytest.fixture(scope="module")
def document() -> Document:
    settings = memory_settings()
    with TestClient(create_app(settings, bootstrap(settings))) as client:
        response = client.get("/schema/openapi.json")
        assert response.status_code == 200, response.text
        body: Document = response.json()
        return body


def operations(document: Document) -> Iterator[tuple[str, str, Document]]:
    for path, item in sorted(document["paths"].items()):
        for method, operation in sorted(item.items()):
            if method in {"get", "put", "post", "patch", "delete"}:
                yield path, method.upper(), operation


def name(path: str, method: str, operation: Document) -> str:
    return f"{method} {path} ({operation.get('operationId')})"


def resolve(document: Document, schema: Document) -> Document:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def alternatives(document: Document, schema: Document) -> list[Document]:
    """The schemas a value may match, ``null`` left out (``X | None`` is ``oneOf: [X, null]``)."""
    found = []
    for option in schema.get("oneOf") or schema.get("anyOf") or schema.get("allOf") or [schema]:
        resolved = resolve(document, option)
        if resolved.get("type") != "null":
            found.append(resolved)
    return found


def is_enum(document: Document, schema: Document) -> bool:
    if "enum" in schema:  # (``X | None`` with the values listed beside the oneOf)
        return True
    options = alternatives(document, schema)
    return bool(options) and all(
        "enum" in option or "const" in option or (option.get("type") == "array" and is_enum(document, option["items"]))
        for option in options
    )


def is_untyped(document: Document, schema: Document) -> bool:
    """``{}`` or an object with neither properties nor typed values."""
    options = alternatives(document, schema)
    return not options or any(
        not option
        or (
            option.get("type") == "object"
            and not option.get("properties")
            and option.get("additionalProperties") in (None, {}, True)
        )
        for option in options
    )


PENDING: dict[str, str] = {
    "assistant": "landed before this test (issue 19): its authors describe it; `-k pending` lists the gaps",
}
"""Areas (operation tags) whose gaps do not fail the checks yet, each with why.

``test_pending_areas_still_have_gaps`` fails once an area has none left: then take it off.
"""


def areas(document: Document) -> dict[str, set[str]]:
    """The areas (first tags) of every operation (``"GET /path"``) and of every schema it uses."""
    found: dict[str, set[str]] = {}
    for path, method, operation in operations(document):
        area = (operation.get("tags") or ["untagged"])[0]
        found[f"{method} {path}"] = {area}
        for schema_name in referenced(document, operation, set()):
            found.setdefault(f"schema {schema_name}", set()).add(area)
    return found


def referenced(document: Document, node: Any, seen: set[str]) -> set[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            schema_name = ref.rsplit("/", 1)[1]
            if schema_name not in seen:
                seen.add(schema_name)
                referenced(document, document["components"]["schemas"][schema_name], seen)
        for value in node.values():
            referenced(document, value, seen)
    elif isinstance(node, list):
        for value in node:
            referenced(document, value, seen)
    return seen


def area_of(document: Document, gap: str) -> set[str]:
    owners = areas(document)
    key = gap.split(",", 1)[0].split(":", 1)[0] if gap.startswith("schema ") else " ".join(gap.split(" ", 2)[:2])
    return owners.get(key, {"untagged"})


def report(problems: list[str]) -> str:
    return f"{len(problems)} gaps in the OpenAPI document:\n  " + "\n  ".join(problems)


def assert_no_gaps(document: Document, problems: list[str]) -> None:
    """Fail on every gap outside the :data:`PENDING` areas, naming each."""
    due = [gap for gap in problems if not area_of(document, gap) <= PENDING.keys()]
    assert not due, report(due)


def pending_gaps(document: Document) -> dict[str, list[str]]:
    checks = [
        operation_gaps,
        description_gaps,
        enum_gaps,
        body_gaps,
        error_gaps,
        security_gaps,
    ]
    gaps: dict[str, list[str]] = {area: [] for area in PENDING}
    for check in checks:
        for gap in check(document):
            for area in area_of(document, gap) & PENDING.keys():
                gaps[area].append(gap)
    return gaps


def operation_gaps(document: Document) -> list[str]:
    problems = []
    for path, method, operation in operations(document):
        if not operation.get("summary"):
            problems.append(f"{name(path, method, operation)}: no summary (the decorator's summary=)")
        if len((operation.get("description") or "").strip()) < 20:
            problems.append(f"{name(path, method, operation)}: no description: {HOW_TO['operation']}")
    return problems


def test_every_operation_says_what_it_does(document: Document) -> None:
    assert_no_gaps(document, operation_gaps(document))


def description_gaps(document: Document) -> list[str]:
    problems = []
    for schema_name, schema in sorted(document["components"]["schemas"].items()):
        if not schema.get("description"):
            problems.append(f"schema {schema_name}: no description: {HOW_TO['schema']}")
        for field, prop in sorted((schema.get("properties") or {}).items()):
            if not prop.get("description"):
                problems.append(f"schema {schema_name}, field {field!r}: no description: {HOW_TO['field']}")
    for path, method, operation in operations(document):
        for parameter in operation.get("parameters", []):
            if not parameter.get("description") and not parameter.get("schema", {}).get("description"):
                problems.append(f"{name(path, method, operation)}: parameter {parameter['name']!r} has no description")
    return problems


def test_every_schema_and_field_is_described(document: Document) -> None:
    assert_no_gaps(document, description_gaps(document))


def enum_gaps(document: Document) -> list[str]:
    problems = []
    for schema_name, schema in sorted(document["components"]["schemas"].items()):
        for field, prop in sorted((schema.get("properties") or {}).items()):
            if field in CLOSED_SETS and (schema_name, field) not in FREE_TEXT and not is_enum(document, prop):
                problems.append(f"schema {schema_name}, field {field!r}: a closed set, not an enum: {HOW_TO['enum']}")
    for path, method, operation in operations(document):
        for parameter in operation.get("parameters", []):
            if parameter["name"] in CLOSED_SETS and not is_enum(document, parameter.get("schema", {})):
                problems.append(f"{name(path, method, operation)}: parameter {parameter['name']!r} is not an enum")
    return problems


def test_closed_sets_are_enums(document: Document) -> None:
    assert_no_gaps(document, enum_gaps(document))


def body_gaps(document: Document) -> list[str]:
    problems = []
    for path, method, operation in operations(document):
        bodies = [("request body", content) for content in operation.get("requestBody", {}).get("content", {}).items()]
        for status, response in operation["responses"].items():
            bodies += [(f"{status} response", content) for content in response.get("content", {}).items()]
        answers = any(kind.endswith("response") for kind, _ in bodies)
        if method != "DELETE" and not answers and not {"201", "204"} & set(operation["responses"]):
            problems.append(f"{name(path, method, operation)}: no success response body")
        for kind, (media_type, content) in bodies:
            if is_untyped(document, content.get("schema", {})):
                problems.append(f"{name(path, method, operation)}: the {kind} ({media_type}) is untyped")
    for schema_name, schema in sorted(document["components"]["schemas"].items()):
        for field, prop in sorted((schema.get("properties") or {}).items()):
            if field not in ANY_JSON_FIELDS and is_untyped(document, prop) and not is_enum(document, prop):
                problems.append(f"schema {schema_name}, field {field!r} is an untyped object")
    return problems


def test_every_body_is_typed(document: Document) -> None:
    assert_no_gaps(document, body_gaps(document))


def test_the_event_stream_is_described_as_one(document: Document) -> None:
    stream = document["paths"]["/api/v1/notifications/stream"]["get"]["responses"]["200"]
    assert list(stream["content"]) == ["text/event-stream"], stream
    assert "counts" in stream["description"]
    assert resolve(document, stream["content"]["text/event-stream"]["schema"])["properties"]["total"]


def error_gaps(document: Document) -> list[str]:
    problems = []
    everywhere = None
    for path, method, operation in operations(document):
        label = name(path, method, operation)
        statuses = {int(status) for status in operation["responses"] if int(status) >= 400}
        everywhere = statuses if everywhere is None else everywhere & statuses
        takes_body = "requestBody" in operation
        if PUBLIC.match(path) and 401 in statuses:
            problems.append(f"{label}: public, yet lists 401")
        if not PUBLIC.match(path) and 401 not in statuses:
            problems.append(f"{label}: needs a token, yet does not list 401")
        if not takes_body and 413 in statuses:
            problems.append(f"{label}: takes no body, yet lists 413")
        if takes_body and 413 not in statuses:
            problems.append(f"{label}: takes a body, yet does not list 413")
        if 429 not in statuses:
            problems.append(f"{label}: every request is rate limited, yet it does not list 429")
        if "admin" in (operation.get("tags") or []) and 403 not in statuses:
            problems.append(f"{label}: admin only, yet does not list 403")
        for status in statuses:
            content = operation["responses"][str(status)].get("content", {})
            if (status != 503 or path != "/ready") and "application/problem+json" not in content:
                problems.append(f"{label}: its {status} is not a problem document")
    assert everywhere == {429}, f"every operation lists {everywhere}: list per operation what it can answer"
    return problems


def test_each_operation_lists_only_the_errors_it_can_answer(document: Document) -> None:
    assert_no_gaps(document, error_gaps(document))


def security_gaps(document: Document) -> list[str]:
    assert "security" not in document, "security is declared per operation, not for the whole document"
    problems = []
    for path, method, operation in operations(document):
        security = operation.get("security")
        if PUBLIC.match(path) and security:
            problems.append(f"{name(path, method, operation)}: public, yet declares {security}")
        if not PUBLIC.match(path) and security != [{"BearerToken": []}]:
            problems.append(f"{name(path, method, operation)}: needs a token, yet declares {security}")
    return problems


def test_public_routes_declare_no_token_and_the_others_the_bearer_token(document: Document) -> None:
    assert_no_gaps(document, security_gaps(document))


def test_pending_areas_still_have_gaps(document: Document) -> None:
    gaps = pending_gaps(document)
    done = [area for area, found in gaps.items() if not found]
    assert not done, f"{done} are fully described now: take them off PENDING in {__name__}"
    for area, found in gaps.items():
        print(f"{area} ({PENDING[area]}):\n  " + "\n  ".join(found))
