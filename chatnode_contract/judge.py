"""Judging one response: openapi-core, the only judge of conformance, and its schema errors
classified by the keyword that failed; then one walk of the body for what a conforming body may
still hold (fields the spec does not list, `date-time` values written unlike the spec's example,
the items' order).

Lead values are personal data, so a finding carries no value but a `date-time` one, which is
what a reader needs to see to fix a parser.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from itertools import pairwise
from typing import Any

import httpx
from openapi_core.templating.media_types.exceptions import MediaTypeNotFound
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_core.validation.schemas.exceptions import InvalidSchemaValue

from chatnode_contract.report import (
    BODY,
    ITEM,
    OFFSETS,
    Finding,
    FormCounts,
    Kind,
    Order,
    TargetResult,
)
from chatnode_spec import Operation, SpecRequest, SpecResponse, openapi, response_schema
from chatnode_spec.operations import resolved

EXAMPLE_VALUE_CHARS = 64
"""Example values are cut to this length: enough to see a timestamp's form, no more."""
_FORM = re.compile(r"(?:\.(\d+))?([Zz]|[+-]\d\d:\d\d)$")
"""The fraction and offset at the end of a date-time openapi-core accepted as RFC 3339."""


def judge(
    spec_request: SpecRequest, response: httpx.Response, operation: Operation, target: TargetResult
) -> TargetResult:
    """The target (labelled, with its expected status) completed with what the response to
    `spec_request`, a call of `operation`, showed."""
    spec_response = SpecResponse.from_httpx(response)
    causes = _causes(spec_request, spec_response)
    status, walk = response.status_code, _Walk(replace(target, status=response.status_code))
    if any(isinstance(e, ResponseNotFound) for e in causes):
        documented = ", ".join(operation.definition.get("responses", {}))
        detail = f"HTTP {status} is not documented (the spec has {documented}){_hint(status)}"
        walk.note("(status)", Kind.UNDOCUMENTED_STATUS, detail)
        return walk.judged()  # no schema to judge the body by
    if status != target.expected_status:
        detail = f"expected {target.expected_status}, got {status}"
        walk.note("(status)", Kind.UNEXPECTED_STATUS, detail)
    for cause in causes:
        if isinstance(cause, MediaTypeNotFound) and cause.availableMimetypes:
            got, documented = cause.mimetype or "no content type", cause.availableMimetypes
            detail = f"got {got!r}; the spec has {', '.join(documented)}"
            walk.note("(content-type)", Kind.CONTENT_TYPE_MISMATCH, detail)
            # Judge the body as the JSON the spec documents, whatever it was labelled.
            as_documented = replace(spec_response, content_type=documented[0])
            causes = _causes(spec_request, as_documented)
    schema = response_schema(operation, status)
    if schema is None:
        return walk.judged()
    try:
        walk.start(json.loads(response.content, parse_constant=_refuse_constant), schema)
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError included
        walk.note(BODY, Kind.NON_JSON_BODY, _not_json(response.content, exc))
        return walk.judged()
    previous: tuple[Any, ...] = ()
    for cause in causes:
        if not isinstance(cause, InvalidSchemaValue | MediaTypeNotFound):
            walk.note(BODY, Kind.SCHEMA_VIOLATION, f"openapi-core: {type(cause).__name__}")
        for error in getattr(cause, "schema_errors", ()):
            if (where := (error.validator, *error.absolute_path)) == previous:
                continue  # a null draws two `type` errors, N missing fields N `required` ones
            previous = where
            walk.rejected.add(tuple(error.absolute_path))
            for path, kind, detail, value in schema_findings(error):
                walk.note(field_label(path), kind, detail, walk.example(path, value))
    return walk.run()


def _causes(request: SpecRequest, response: SpecResponse) -> list[BaseException]:
    """openapi-core's errors on a response, each as the exception that says what failed."""
    return [e.__cause__ or e for e in openapi().iter_response_errors(request, response)]


def schema_findings(error: Any) -> Iterator[tuple[list[str | int], Kind, str, Any]]:
    """The one table from the keyword that failed in one of openapi-core's schema errors (a
    jsonschema `ValidationError`) to findings: (path, kind, detail, example value). Details
    name the keyword, never the value (it may be personal data)."""
    path, rule, instance = list(error.absolute_path), error.validator_value, error.instance
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    shown = None
    if schema.get("format") == "date-time":
        shown = instance if isinstance(instance, str) else json.dumps(instance)
    if error.validator == "required" and isinstance(instance, Mapping):
        for name in (n for n in rule if n not in instance):
            yield [*path, name], Kind.MISSING_REQUIRED, "required by the spec, absent", None
    elif error.validator == "additionalProperties" and isinstance(instance, Mapping):
        for name in instance.keys() - schema.get("properties", {}).keys():
            detail = f"not in the spec, which forbids other fields; {json_type(instance[name])}"
            yield [*path, name], Kind.FORBIDDEN_FIELD, f"{detail} values", None
    elif error.validator == "type" and instance is None:
        yield path, Kind.NULL_NOT_NULLABLE, "null, but the spec has no `nullable: true`", None
    elif error.validator == "type":
        yield path, Kind.TYPE_MISMATCH, f"expected {rule}, got {json_type(instance)}", shown
    elif error.validator == "format" and rule == "date-time":
        yield path, Kind.INVALID_DATE_TIME, "not an RFC 3339 date-time", shown
    else:
        detail = f"openapi-core: {error.validator} {rule!r:.60} failed"
        yield path, Kind.SCHEMA_VIOLATION, detail, None


class _Walk:
    """Findings aggregated per (field, kind, detail) with a count and the first example (an array
    item's index and identity), and the walk of the parsed body."""

    def __init__(self, target: TargetResult) -> None:
        self.target = target
        self.rows: dict[tuple[str, Kind, str], list[Any]] = {}
        self.forms: dict[str, FormCounts] = {}
        self.rejected: set[tuple[str | int, ...]] = set()
        """Paths openapi-core rejected: their date-times count as unparseable."""
        self.body: Any = None
        self.schema: Mapping[str, Any] = {}
        self.array, self.id_field, self.order_field = False, None, None
        self.instants: list[datetime] = []
        """Each item's order field, in item order, where openapi-core accepted it."""

    def note(self, label: str, kind: Kind, detail: str, example: tuple[Any, ...] = ()) -> None:
        row = self.rows.setdefault((label, kind, detail), [0, *example])
        row[0] += 1

    def judged(self, items: int = 0, order: Order | None = None) -> TargetResult:
        found = tuple(Finding(*key, *row) for key, row in self.rows.items())
        return replace(self.target, findings=found, items_checked=items,
                       timestamp_forms=self.forms, order=order or Order())  # fmt: skip

    def start(self, body: Any, schema: Mapping[str, Any]) -> None:
        self.body, self.schema = body, resolved(schema)
        self.array = isinstance(body, list) and self.schema.get("type") == "array"
        items = resolved(self.schema.get("items", {})) if self.array else {}
        self.id_field = identity_field(items)
        # Items are ordered by their first date-time property, a required one if there is one.
        dates = [
            n for n, s in items.get("properties", {}).items() if s.get("format") == "date-time"
        ]
        required = items.get("required", [])
        self.order_field = min(dates, key=lambda n: n not in required, default=None)

    def run(self) -> TargetResult:
        self.visit(self.body, self.schema, [])
        if not self.array:
            return self.judged(1)
        return self.judged(len(self.body), order_of(self.instants, self.order_field))

    def visit(self, value: Any, schema: Mapping[str, Any], path: list[str | int]) -> None:
        schema = resolved(schema)
        if isinstance(value, dict) and "properties" in schema:
            extra = schema.get("additionalProperties", True)
            for name, item in value.items():
                if name in schema["properties"] or isinstance(extra, Mapping):
                    self.visit(item, schema["properties"].get(name, extra), [*path, name])
                elif extra is True:
                    detail = f"not in the spec; {json_type(item)} values"
                    label = field_label([*path, name])
                    self.note(label, Kind.UNKNOWN_FIELD, detail, self.example(path))
        elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
            for index, element in enumerate(value):
                self.visit(element, schema["items"], [*path, index])
        elif isinstance(value, str) and schema.get("format") == "date-time":
            self.date_time(value, schema, path)

    def date_time(self, value: str, schema: Mapping[str, Any], path: list[str | int]) -> None:
        counts = self.forms.setdefault(field_label(path), FormCounts())
        if tuple(path) in self.rejected:
            counts.unparseable += 1
            return
        if self.array and path[1:] == [self.order_field]:
            self.instants.append(datetime.fromisoformat(value.upper()))  # RFC 3339, as checked
        digits, offset = _form(value)
        counts.fraction_digits[digits] += 1
        counts.offsets[offset] += 1
        example = schema.get("example")
        if not isinstance(example, str) or _FORM.search(example) is None:
            return
        forms = zip(("fraction digits", "offset"), (digits, offset), _form(example), strict=True)
        for what, got, spec in forms:
            if got != spec:
                detail = f"{what}: {'non-UTC' if got == 'other' else got} (spec example: {spec})"
                self.note(field_label(path), Kind.TIMESTAMP_FORM, detail, self.example(path, value))

    def example(self, path: Sequence[str | int], value: Any = None) -> tuple[Any, Any, Any]:
        """(index, id, value) of the item at the head of `path`, for a finding's example."""
        shown = None if value is None else str(value)[:EXAMPLE_VALUE_CHARS]
        if not self.array or not path or not isinstance(path[0], int):
            return None, None, shown
        item = self.body[path[0]]
        item_id = item.get(self.id_field) if isinstance(item, dict) and self.id_field else None
        return path[0], item_id if isinstance(item_id, str) else None, shown


def _form(text: str) -> tuple[str, str]:
    """(fraction digits bucket, offset) of a valid RFC 3339 date-time: `3`, `+00:00`. The offset
    is `Z`, `+00:00` or `other` (`-00:00` included: RFC 3339 reads it as "offset unknown")."""
    match = _FORM.search(text)
    digits, offset = (match.group(1) or "", match.group(2).upper()) if match else ("", "other")
    return (str(len(digits)) if len(digits) < 6 else "6+"), offset if offset in OFFSETS else "other"


def order_of(instants: Sequence[datetime], field_name: str | None) -> Order:
    """Direction of consecutive instants (of the items that have one)."""
    up = sum(b > a for a, b in pairwise(instants))
    down = sum(b < a for a, b in pairwise(instants))
    if len(instants) < 2:
        return Order(field_name)
    direction = "ascending" if not down else "descending" if not up else "unordered"
    return Order(field_name, direction, up, down)


def identity_field(item_schema: Mapping[str, Any]) -> str | None:
    """The property that names an item in examples: the first required string property named
    `id` or ending in `_id` (a lead's `session_id`, a chat message's `id`)."""
    properties = item_schema.get("properties", {})
    names = [n for n in item_schema.get("required", []) if n == "id" or n.endswith("_id")]
    return next((n for n in names if properties.get(n, {}).get("type") == "string"), None)


def field_label(path: Sequence[str | int]) -> str:
    """A readable field name for a path into the body: array indices collapse to `[]`, and the
    leading `[]` of an array body is dropped, so a lead's field is just `created_at`."""
    parts = ["[]" if isinstance(p, int) else p for p in path]
    if parts[:1] == ["[]"]:
        parts = parts[1:] or [ITEM]
    return ".".join(parts).replace(".[]", "[]") or BODY


def json_type(value: Any) -> str:
    """The JSON Schema type name of a parsed JSON value (`true` is a boolean, not an integer)."""
    names = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array"}
    return "null" if value is None else names.get(type(value), "object")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _not_json(data: bytes, error: ValueError) -> str:
    """Why the body is no JSON, without echoing it (it could be anything, even a secret)."""
    if isinstance(error, json.JSONDecodeError):
        where = f"{error.msg}, line {error.lineno}, column {error.colno}"
        return f"not JSON ({where if data else 'an empty body'})"
    return f"not JSON ({error})" if "is not JSON" in str(error) else "not JSON (not UTF-8)"


def _hint(status: int) -> str:
    """What an undocumented status most likely means, for the finding's detail."""
    if status == 429 or status >= 500:
        return "; may be transient, rerun to confirm"
    return "; redirects are not followed: check --base-url" if 300 <= status < 400 else ""
