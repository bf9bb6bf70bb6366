"""Drift analysis: how a response body differs from the schema the spec gives for it.

Pure: a body (bytes or parsed JSON) and a schema in, findings aggregated per field out; no I/O,
no clock, no openapi-core. The checker (`checker.py`) does the HTTP and `judge.py` lets
openapi-core judge the response as a whole; this module explains *what* drifted, per field, with
counts and an example, so one odd lead among thousands shows up as one line, not a thousand.

Everything it knows about the API's shape it reads from the schema it is given (types, `nullable`,
`required`, `properties`, `additionalProperties`, `format: date-time` and the property's
`example`), so a changed spec changes the analysis without touching this file.

Lead values are personal data (names, emails, phones), so a finding never carries a value, except
for `date-time` fields, whose values are what a reader needs to see to fix a parser.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import Any

import orjson


class Severity(StrEnum):
    """Whether a client written against the spec keeps working (additive) or may not (breaking)."""

    BREAKING = "breaking"
    ADDITIVE = "additive"


class Kind(StrEnum):
    """What drifted; the order here is the order findings are listed in."""

    UNDOCUMENTED_STATUS = "undocumented_status"
    UNEXPECTED_STATUS = "unexpected_status"
    CONTENT_TYPE_MISMATCH = "content_type_mismatch"
    NON_JSON_BODY = "non_json_body"
    MISSING_REQUIRED = "missing_required"
    NULL_NOT_NULLABLE = "null_not_nullable"
    TYPE_MISMATCH = "type_mismatch"
    INVALID_DATE_TIME = "invalid_date_time"
    FORBIDDEN_FIELD = "forbidden_field"
    SCHEMA_VIOLATION = "schema_violation"
    MISSING_SENT_MESSAGE = "missing_sent_message"
    UNKNOWN_FIELD = "unknown_field"
    TIMESTAMP_FORM = "timestamp_form"


SEVERITY_OF: Mapping[Kind, Severity] = {
    Kind.UNDOCUMENTED_STATUS: Severity.BREAKING,
    Kind.UNEXPECTED_STATUS: Severity.BREAKING,
    Kind.CONTENT_TYPE_MISMATCH: Severity.BREAKING,
    Kind.NON_JSON_BODY: Severity.BREAKING,
    Kind.MISSING_REQUIRED: Severity.BREAKING,
    Kind.NULL_NOT_NULLABLE: Severity.BREAKING,
    Kind.TYPE_MISMATCH: Severity.BREAKING,
    Kind.INVALID_DATE_TIME: Severity.BREAKING,
    Kind.FORBIDDEN_FIELD: Severity.BREAKING,
    Kind.SCHEMA_VIOLATION: Severity.BREAKING,
    Kind.MISSING_SENT_MESSAGE: Severity.BREAKING,
    Kind.UNKNOWN_FIELD: Severity.ADDITIVE,
    Kind.TIMESTAMP_FORM: Severity.ADDITIVE,
}
"""The one classification table: every kind of drift has exactly one severity."""

_KIND_RANK = {kind: rank for rank, kind in enumerate(Kind)}

BODY = "(body)"
"""The field label of the body itself (e.g. a body that is not an array)."""
ITEM = "(item)"
"""The field label of an array element itself (e.g. a lead that is not an object)."""

EXAMPLE_VALUE_CHARS = 64
"""Example values are cut to this length: enough to see a timestamp's form, no more."""


@dataclass(frozen=True)
class Finding:
    """One kind of drift at one field, aggregated over every item that shows it."""

    field: str
    kind: Kind
    detail: str
    count: int
    example_index: int | None = None
    """Index of the first item (lead) showing it, when the body is an array."""
    example_id: str | None = None
    """That item's identifier (a lead's `session_id`, a message's `id`), when it has one."""
    example_value: str | None = None
    """Only for `date-time` fields; other values may be personal data."""

    @property
    def severity(self) -> Severity:
        return SEVERITY_OF[self.kind]

    def sort_key(self) -> tuple[int, int, str, str]:
        rank = 0 if self.severity is Severity.BREAKING else 1
        return (rank, _KIND_RANK[self.kind], self.field, self.detail)

    def to_json(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "kind": self.kind.value,
            "severity": self.severity.value,
            "count": self.count,
            "detail": self.detail,
            "example": {
                "index": self.example_index,
                "id": self.example_id,
                "value": self.example_value,
            },
        }


# --- RFC 3339 date-times -------------------------------------------------------------------

_DATE_TIME = re.compile(
    r"(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})[Tt]"
    r"(?P<hour>\d{2}):(?P<minute>\d{2}):(?P<second>\d{2})"
    r"(?:\.(?P<fraction>\d+))?"
    r"(?P<offset>[Zz]|[+-](?P<off_hour>\d{2}):(?P<off_minute>\d{2}))",
    re.ASCII,
)
MAX_FRACTION_BUCKET = 6
"""Fraction digit counts from here on share one bucket (`6+`): microseconds and beyond."""


@dataclass(frozen=True)
class TimestampForm:
    """The shape of an RFC 3339 date-time, apart from its instant: what a strict parser trips on."""

    fraction_digits: int
    offset: str
    """`Z` (also for `z`), or the offset as written, e.g. `+00:00`, `-05:00`."""

    @property
    def digits_bucket(self) -> str:
        if self.fraction_digits >= MAX_FRACTION_BUCKET:
            return f"{MAX_FRACTION_BUCKET}+"
        return str(self.fraction_digits)

    @property
    def offset_kind(self) -> str:
        """`Z`, `+00:00`, or `other` (any other offset, `-00:00` included: RFC 3339 reads that
        as "local time, offset unknown")."""
        return self.offset if self.offset in ("Z", "+00:00") else "other"


def parse_date_time(text: str) -> tuple[datetime, TimestampForm] | None:
    """An RFC 3339 `date-time` (as JSON Schema's `format: date-time` reads it) and its form;
    None when it is not one. Leap seconds (`:60`) are refused, as openapi-core refuses them."""
    match = _DATE_TIME.fullmatch(text)
    if match is None:
        return None
    parts = match.groupdict()
    off_hour, off_minute = int(parts["off_hour"] or 0), int(parts["off_minute"] or 0)
    if off_hour > 23 or off_minute > 59:
        return None
    sign = -1 if parts["offset"].startswith("-") else 1
    fraction = parts["fraction"] or ""
    try:
        instant = datetime(
            int(parts["year"]),
            int(parts["month"]),
            int(parts["day"]),
            int(parts["hour"]),
            int(parts["minute"]),
            int(parts["second"]),
            int(fraction[:6].ljust(6, "0")),
            tzinfo=timezone(sign * timedelta(hours=off_hour, minutes=off_minute)),
        )
    except ValueError:
        return None
    offset = "Z" if parts["offset"] in ("Z", "z") else parts["offset"]
    return instant, TimestampForm(len(fraction), offset)


@dataclass
class FormCounts:
    """How the values of one `date-time` field were written, over all items."""

    fraction_digits: Counter[str] = field(default_factory=Counter)
    offsets: Counter[str] = field(default_factory=Counter)
    unparseable: int = 0

    def add(self, form: TimestampForm | None) -> None:
        if form is None:
            self.unparseable += 1
        else:
            self.fraction_digits[form.digits_bucket] += 1
            self.offsets[form.offset_kind] += 1

    @property
    def total(self) -> int:
        return sum(self.offsets.values()) + self.unparseable

    def to_json(self) -> dict[str, Any]:
        """Buckets in a fixed order with zeros, so a CI diff of two runs lines up."""
        buckets = [str(d) for d in range(MAX_FRACTION_BUCKET)] + [f"{MAX_FRACTION_BUCKET}+"]
        return {
            "fraction_digits": {b: self.fraction_digits.get(b, 0) for b in buckets},
            "offsets": {k: self.offsets.get(k, 0) for k in ("Z", "+00:00", "other")},
            "unparseable": self.unparseable,
        }


# --- Schemas -------------------------------------------------------------------------------


def resolve_refs(schema: Any, document: Mapping[str, Any] | None, depth: int = 0) -> Any:
    """A plain copy (dicts and lists) of `schema` with local `$ref`s (`#/components/...`) replaced
    by their targets; reads the spec's read-only views (mappings, tuples) without copying them."""
    if depth > 32:
        raise ValueError("schema $refs nest deeper than 32 levels (a cycle?)")
    if isinstance(schema, Mapping):
        ref = schema.get("$ref")
        if isinstance(ref, str):
            if document is None or not ref.startswith("#/"):
                raise ValueError(f"cannot resolve $ref {ref!r} without the spec document")
            target: Any = document
            for part in ref[2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            return resolve_refs(target, document, depth + 1)
        return {k: resolve_refs(v, document, depth + 1) for k, v in schema.items()}
    if isinstance(schema, list | tuple):
        return [resolve_refs(v, document, depth + 1) for v in schema]
    return schema


def identity_field(item_schema: Mapping[str, Any]) -> str | None:
    """The property that names an item in examples: the first required string property named
    `id` or ending in `_id` (a lead's `session_id`, a chat message's `id`); None when the schema
    has no such property."""
    properties = item_schema.get("properties", {})
    for name in item_schema.get("required", []):
        is_id = name == "id" or name.endswith("_id")
        if is_id and properties.get(name, {}).get("type") == "string":
            return name
    return None


def date_time_fields(item_schema: Mapping[str, Any]) -> list[str]:
    """Properties with `format: date-time`, required ones first (the one leads are ordered by)."""
    properties = item_schema.get("properties", {})
    names = [n for n, s in properties.items() if s.get("format") == "date-time"]
    required = set(item_schema.get("required", []))
    return sorted(names, key=lambda n: n not in required)


def json_type(value: Any) -> str:
    """The JSON Schema type name of a parsed JSON value (`true` is a boolean, not an integer)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _type_matches(expected: str, actual: str) -> bool:
    return expected == actual or (expected == "number" and actual == "integer")


def field_label(path: Sequence[str | int]) -> str:
    """A readable field name for a path into the body: array indices collapse to `[]`, and the
    leading `[]` of an array body is dropped, so a lead's field is just `created_at`."""
    parts = ["[]" if isinstance(p, int) else p for p in path]
    if not parts:
        return BODY
    if parts[0] == "[]":
        parts = parts[1:]
        if not parts:
            return ITEM
    text = ""
    for part in parts:
        text += part if part == "[]" or not text else f".{part}"
    return text


# --- The walk ------------------------------------------------------------------------------


@dataclass
class _Tally:
    count: int = 0
    example_index: int | None = None
    example_id: str | None = None
    example_value: str | None = None


@dataclass(frozen=True)
class _Where:
    """Where in the body a value sits: its path, and the top-level item it belongs to."""

    path: tuple[str | int, ...]
    index: int | None = None
    item_id: str | None = None

    def child(self, key: str | int) -> _Where:
        return _Where((*self.path, key), self.index, self.item_id)


class _Walker:
    """Walks a body against its schema once, tallying findings and date-time forms."""

    def __init__(self) -> None:
        self.tallies: dict[tuple[str, Kind, str], _Tally] = {}
        self.forms: dict[str, FormCounts] = {}

    def note(self, where: _Where, kind: Kind, detail: str, value: str | None = None) -> None:
        tally = self.tallies.setdefault((field_label(where.path), kind, detail), _Tally())
        if tally.count == 0:
            tally.example_index, tally.example_id = where.index, where.item_id
            tally.example_value = None if value is None else value[:EXAMPLE_VALUE_CHARS]
        tally.count += 1

    def walk(self, value: Any, schema: Mapping[str, Any], where: _Where) -> None:
        is_date_time = schema.get("format") == "date-time"
        shown = _shown(value) if is_date_time else None
        if value is None:
            if not schema.get("nullable", False) and schema.get("type") is not None:
                self.note(
                    where, Kind.NULL_NOT_NULLABLE, "null, but the spec has no `nullable: true`"
                )
            return
        expected, actual = schema.get("type"), json_type(value)
        if expected is not None and not _type_matches(expected, actual):
            self.note(where, Kind.TYPE_MISMATCH, f"expected {expected}, got {actual}", shown)
            return
        if actual == "object":
            self.walk_object(value, schema, where)
        elif actual == "array" and isinstance(schema.get("items"), Mapping):
            for i, element in enumerate(value):
                self.walk(element, schema["items"], where.child(i))
        elif actual == "string" and is_date_time:
            self.walk_date_time(value, schema, where)

    def walk_object(
        self, value: Mapping[str, Any], schema: Mapping[str, Any], where: _Where
    ) -> None:
        properties: Mapping[str, Any] = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                self.note(where.child(name), Kind.MISSING_REQUIRED, "required by the spec, absent")
        extra = schema.get("additionalProperties", True)
        if extra is True and "properties" not in schema:
            return  # a free-form object (a chat's `message`): whatever it holds is what it allows
        for name, item in value.items():
            if name in properties:
                self.walk(item, properties[name], where.child(name))
            elif isinstance(extra, Mapping):
                self.walk(item, extra, where.child(name))
            elif extra is False:
                detail = f"not in the spec, which forbids other fields; {json_type(item)} values"
                self.note(where.child(name), Kind.FORBIDDEN_FIELD, detail)
            else:
                detail = f"not in the spec; {json_type(item)} values"
                self.note(where.child(name), Kind.UNKNOWN_FIELD, detail)

    def walk_date_time(self, value: str, schema: Mapping[str, Any], where: _Where) -> None:
        label = field_label(where.path)
        parsed = parse_date_time(value)
        self.forms.setdefault(label, FormCounts()).add(parsed[1] if parsed else None)
        if parsed is None:
            self.note(where, Kind.INVALID_DATE_TIME, "not an RFC 3339 date-time", value)
            return
        example = _example_form(schema)
        if example is None:
            return
        form = parsed[1]
        if form.digits_bucket != example.digits_bucket:
            detail = (
                f"fraction digits: {form.digits_bucket} (spec example: {example.digits_bucket})"
            )
            self.note(where, Kind.TIMESTAMP_FORM, detail, value)
        if form.offset_kind != example.offset_kind:
            shown = "non-UTC" if form.offset_kind == "other" else form.offset
            detail = f"offset: {shown} (spec example: {example.offset})"
            self.note(where, Kind.TIMESTAMP_FORM, detail, value)

    def findings(self) -> tuple[Finding, ...]:
        found = [
            Finding(label, kind, detail, t.count, t.example_index, t.example_id, t.example_value)
            for (label, kind, detail), t in self.tallies.items()
        ]
        return tuple(sorted(found, key=Finding.sort_key))


def _shown(value: Any) -> str | None:
    """A date-time field's value as an example: strings as they are, anything else as JSON."""
    if isinstance(value, str):
        return value
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _example_form(schema: Mapping[str, Any]) -> TimestampForm | None:
    example = schema.get("example")
    parsed = parse_date_time(example) if isinstance(example, str) else None
    return parsed[1] if parsed else None


# --- Order ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Order:
    """How an array body's items are ordered by their first date-time field. The spec promises
    no order; an incremental reader that assumes one needs to know."""

    field: str | None
    direction: str
    """`ascending`, `descending`, `unordered`, or `n/a` (fewer than two comparable items)."""
    steps_up: int = 0
    steps_down: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "direction": self.direction,
            "steps_up": self.steps_up,
            "steps_down": self.steps_down,
        }


def order_of(instants: Iterable[datetime | None], field_name: str | None) -> Order:
    """Direction of consecutive comparable instants; items without one are skipped."""
    up = down = seen = 0
    previous: datetime | None = None
    for instant in instants:
        if instant is None:
            continue
        seen += 1
        if previous is not None:
            up += instant > previous
            down += instant < previous
        previous = instant
    if seen < 2:
        direction = "n/a"
    elif down == 0:
        direction = "ascending"
    elif up == 0:
        direction = "descending"
    else:
        direction = "unordered"
    return Order(field_name, direction, up, down)


# --- Entry points --------------------------------------------------------------------------


@dataclass(frozen=True)
class BodyReport:
    """The drift of one response body."""

    findings: tuple[Finding, ...]
    items_checked: int
    """Array elements for an array body; 1 for any other JSON body; 0 when it is not JSON."""
    timestamp_forms: Mapping[str, FormCounts]
    order: Order

    @property
    def breaking(self) -> bool:
        return any(f.severity is Severity.BREAKING for f in self.findings)

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity is severity)


def analyze_value(
    body: Any, schema: Mapping[str, Any], document: Mapping[str, Any] | None = None
) -> BodyReport:
    """The drift of a parsed JSON body from `schema` (with `$ref`s resolved against `document`)."""
    schema = resolve_refs(schema, document)
    walker = _Walker()
    item_schema = schema.get("items") if schema.get("type") == "array" else None
    if isinstance(body, list) and isinstance(item_schema, Mapping):
        id_field = identity_field(item_schema)
        order_field = next(iter(date_time_fields(item_schema)), None)
        instants: list[datetime | None] = []
        for index, item in enumerate(body):
            item_id = item.get(id_field) if isinstance(item, dict) and id_field else None
            where = _Where((index,), index, item_id if isinstance(item_id, str) else None)
            walker.walk(item, item_schema, where)
            instants.append(_instant(item, order_field))
        return BodyReport(
            walker.findings(), len(body), walker.forms, order_of(instants, order_field)
        )
    walker.walk(body, schema, _Where(()))
    return BodyReport(walker.findings(), 1, walker.forms, Order(None, "n/a"))


def analyze_body(
    data: bytes, schema: Mapping[str, Any], document: Mapping[str, Any] | None = None
) -> BodyReport:
    """The drift of a raw response body: not JSON at all is itself a (breaking) finding."""
    try:
        body = parse_json(data)
    except ValueError as exc:
        finding = Finding(BODY, Kind.NON_JSON_BODY, f"not JSON ({exc})", 1)
        return BodyReport((finding,), 0, {}, Order(None, "n/a"))
    return analyze_value(body, schema, document)


def parse_json(data: bytes) -> Any:
    """Strict JSON: orjson, with a stdlib fallback only for integers wider than 64 bits; `NaN`
    and friends are refused, as they are not JSON."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        first_error = exc
    try:
        return json.loads(data, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError):
        raise ValueError(_short_json_error(first_error)) from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _short_json_error(error: orjson.JSONDecodeError) -> str:
    """orjson's message without echoing the document (which could be anything, even a secret)."""
    return f"{error.msg} at line {error.lineno}, column {error.colno}"


def _instant(item: Any, field_name: str | None) -> datetime | None:
    if field_name is None or not isinstance(item, dict):
        return None
    value = item.get(field_name)
    parsed = parse_date_time(value) if isinstance(value, str) else None
    return parsed[0] if parsed else None
