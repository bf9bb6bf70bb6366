"""Judging one response: openapi-core's errors classified by schema keyword, and the additive
drift it cannot see (unknown fields, timestamp forms, order), one example per kind of finding.

The property test draws leads from the shared strategies (built from the spec's `Conversation`
schema), breaks some of them one way, and checks the finding is counted once per broken lead
with the first as its example.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openapi_schema_validator import OAS30Validator

from chatnode_contract.judge import (
    field_label,
    identity_field,
    json_type,
    judge,
    schema_findings,
)
from chatnode_contract.report import BODY, ITEM, Kind, Severity, TargetResult
from chatnode_spec import SpecRequest, component_schema, operation_at
from unit_tests.chatnode_contract.runs import BASE_URL, spec_chat, spec_lead
from unit_tests.strategies import json_values, spec_conversations, values_not_of_type

LEADS = operation_at("/get-conversation-ids/{bot_id}")
CHATS = operation_at("/get-chats/{bot_id}")
PROPERTIES: Mapping[str, Any] = component_schema("Conversation")["properties"]
REQUIRED = list(component_schema("Conversation")["required"])


def judged(
    body: Any, status: int = 200, content_type: str = "application/json", path: str = "leads"
) -> TargetResult:
    """The judgement of a response with this body to a leads (or chats) request."""
    operation = LEADS if path == "leads" else CHATS
    url = f"{BASE_URL}{operation.path_template.replace('{bot_id}', 'b')}"
    request = httpx.Request(operation.method, url, headers={"Authorization": "Bearer k"})
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    response = httpx.Response(status, content=content, headers={"content-type": content_type})
    target = TargetResult("bot", None, path, operation.path_template, expected_status=200)
    return judge(SpecRequest.from_httpx(request, BASE_URL), response, operation, target)


def only(result: TargetResult, kind: Kind) -> Any:
    [found] = [f for f in result.findings if f.kind is kind]
    return found


# --- openapi-core's errors, by keyword --------------------------------------------------------

BREAKAGES: dict[str, tuple[Kind, list[str]]] = {
    "null": (Kind.NULL_NOT_NULLABLE, [n for n, s in PROPERTIES.items() if not s.get("nullable")]),
    "drop": (Kind.MISSING_REQUIRED, REQUIRED),
    "retype": (Kind.TYPE_MISMATCH, list(PROPERTIES)),
    "garble": (Kind.INVALID_DATE_TIME, [n for n, s in PROPERTIES.items() if s.get("format")]),
    "unknown": (Kind.UNKNOWN_FIELD, ["*"]),
}


@st.composite
def broken_leads(draw: st.DrawFn) -> tuple[list[dict[str, Any]], Kind, str, list[int]]:
    """Conforming leads, some broken one way: (leads, expected kind, field, broken indices)."""
    leads = draw(st.lists(spec_conversations(), min_size=1, max_size=6))
    breakage = draw(st.sampled_from(list(BREAKAGES)))
    kind, names = BREAKAGES[breakage]
    name = draw(st.text(min_size=1, max_size=8).filter(lambda n: n not in PROPERTIES))
    name = name if breakage == "unknown" else draw(st.sampled_from(names))
    indices = sorted(draw(st.sets(st.integers(0, len(leads) - 1), min_size=1)))
    for index in indices:
        lead = leads[index]
        if breakage == "drop":
            lead.pop(name, None)
        elif breakage == "null":
            lead[name] = None
        elif breakage == "retype":
            lead[name] = draw(values_not_of_type(PROPERTIES[name]["type"]))
        else:
            lead[name] = (
                "x" + draw(st.text(max_size=8)) if breakage == "garble" else draw(json_values)
            )
    return leads, kind, name, indices


@settings(max_examples=40)
@given(broken_leads())
def test_each_breakage_is_counted_once_per_lead_with_the_first_as_example(
    case: tuple[list[dict[str, Any]], Kind, str, list[int]],
) -> None:
    leads, kind, name, indices = case
    found = [f for f in judged(leads).findings if f.kind is kind and f.field == name]
    assert sum(f.count for f in found) == len(indices)
    first = min(found, key=lambda f: f.example_index)
    assert first.example_index == indices[0]
    session = leads[indices[0]].get("session_id")
    assert first.example_id == (session if isinstance(session, str) else None)


@settings(max_examples=25)
@given(st.lists(spec_conversations(), max_size=6))
def test_leads_the_spec_allows_show_no_breaking_drift(leads: list[dict[str, Any]]) -> None:
    result = judged(leads)
    assert {f.kind for f in result.findings} <= {Kind.TIMESTAMP_FORM}
    assert result.items_checked == len(leads)


def test_the_spec_examples_make_a_conforming_lead() -> None:
    result = judged([spec_lead(), spec_lead()])
    assert result.findings == () and result.items_checked == 2
    assert result.timestamp_forms["created_at"].fraction_digits["3"] == 2


def test_null_where_the_spec_has_no_nullable_is_breaking_and_counted_once() -> None:
    found = only(judged([spec_lead(), spec_lead(enduser_email=None)]), Kind.NULL_NOT_NULLABLE)
    assert (found.field, found.count, found.example_index, found.example_id) == (
        "enduser_email", 1, 1, spec_lead()["session_id"],
    )  # fmt: skip
    assert found.kind.severity is Severity.BREAKING


def test_a_type_mismatch_names_the_types_not_the_value() -> None:
    found = only(judged([spec_lead(for_agent="false")]), Kind.TYPE_MISMATCH)
    assert (found.field, found.detail, found.example_value) == (
        "for_agent", "expected boolean, got string", None,
    )  # fmt: skip


def test_a_date_time_field_of_another_type_shows_its_value() -> None:
    found = only(judged([spec_lead(created_at=1719768773518)]), Kind.TYPE_MISMATCH)
    assert found.detail == "expected string, got integer" and found.example_value == "1719768773518"


def test_each_missing_required_field_is_breaking_and_counted_once() -> None:
    incomplete = {k: v for k, v in spec_lead().items() if k not in REQUIRED}
    result = judged([spec_lead(), incomplete, incomplete])
    found = [f for f in result.findings if f.kind is Kind.MISSING_REQUIRED]
    assert sorted((f.field, f.count, f.example_index) for f in found) == [
        (name, 2, 1) for name in sorted(REQUIRED)
    ]


@pytest.mark.parametrize(
    "created_at", ["30/06/2024 17:32", "2023-06-30T23:59:60Z", "2024-06-30 17:32:53.518+00:00"]
)
def test_a_date_time_openapi_core_rejects_is_breaking_shown_and_unparseable(
    created_at: str,
) -> None:
    result = judged([spec_lead(created_at=created_at)])
    found = only(result, Kind.INVALID_DATE_TIME)
    assert found.example_value == created_at and found.kind.severity is Severity.BREAKING
    assert result.timestamp_forms["created_at"].unparseable == 1


def test_a_body_that_is_not_an_array_or_an_item_that_is_not_an_object_is_breaking() -> None:
    body = only(judged({"leads": []}), Kind.TYPE_MISMATCH)
    assert (body.field, body.detail) == (BODY, "expected array, got object")
    item = only(judged([spec_lead(), "oops"]), Kind.TYPE_MISMATCH)
    assert (item.field, item.detail, item.example_index) == (ITEM, "expected object, got string", 1)


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"<html>token=hunter2</html>", "not JSON (Expecting value, line 1, column 1)"),
        (orjson.dumps([spec_lead()] * 3)[:-10], "not JSON (Unterminated string"),
        (b"[NaN]", "not JSON (NaN is not JSON)"),  # openapi-core's parser takes it
        (b"", "not JSON (an empty body)"),
    ],
    ids=["html", "truncated", "nan", "empty"],
)
def test_a_body_that_is_not_strict_json_is_breaking_and_not_echoed(
    body: bytes, detail: str
) -> None:
    result = judged(body)
    assert [f.kind for f in result.findings] == [Kind.NON_JSON_BODY]
    assert result.findings[0].detail.startswith(detail) and result.items_checked == 0


def test_wide_integers_are_json() -> None:
    result = judged(b"[18446744073709551616]")
    assert only(result, Kind.TYPE_MISMATCH).detail == "expected object, got integer"


def test_a_body_under_another_content_type_is_still_judged_as_json() -> None:
    result = judged([spec_lead(for_agent=1)], content_type="text/plain")
    assert {(f.field, f.kind) for f in result.findings} == {
        ("(content-type)", Kind.CONTENT_TYPE_MISMATCH),
        ("for_agent", Kind.TYPE_MISMATCH),
    }
    html = judged(b"<html>", content_type="text/html")
    assert {f.kind for f in html.findings} == {Kind.CONTENT_TYPE_MISMATCH, Kind.NON_JSON_BODY}


SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "a": {"type": "string", "enum": ["x"]},
        "b": {"type": "string", "pattern": "^b"},
    },
}


@pytest.mark.parametrize(
    ("instance", "expected"),
    [
        ({"a": "x", "c": 1}, ("c", Kind.FORBIDDEN_FIELD, "not in the spec, which forbids other fields; integer values")),
        ({"a": "y"}, ("a", Kind.SCHEMA_VIOLATION, "openapi-core: enum ['x'] failed")),
        ({"b": "c"}, ("b", Kind.SCHEMA_VIOLATION, "openapi-core: pattern '^b' failed")),
    ],
    ids=["additionalProperties", "enum", "pattern"],
)  # fmt: skip
def test_other_keywords_map_to_one_kind_each(instance: Any, expected: tuple[Any, ...]) -> None:
    [error] = OAS30Validator(SCHEMA).iter_errors(instance)
    [(path, kind, detail, _)] = schema_findings(error)
    assert (field_label(path), kind, detail) == expected


def test_a_documented_status_other_than_expected_is_unexpected_and_its_body_still_checked() -> None:
    result = judged({"message": "Bearer token missing or unknown", "code": 7}, status=401)
    assert {(f.field, f.kind, f.detail) for f in result.findings} == {
        ("(status)", Kind.UNEXPECTED_STATUS, "expected 200, got 401"),
        ("code", Kind.UNKNOWN_FIELD, "not in the spec; integer values"),
    }
    missing = judged({"detail": "nope"}, status=401)
    assert {(f.field, f.kind) for f in missing.findings} == {
        ("(status)", Kind.UNEXPECTED_STATUS),
        ("message", Kind.MISSING_REQUIRED),
        ("detail", Kind.UNKNOWN_FIELD),
    }


@pytest.mark.parametrize(
    ("status", "hint"),
    [
        (500, "; may be transient, rerun to confirm"),
        (429, "; may be transient, rerun to confirm"),
        (302, "; redirects are not followed: check --base-url"),
        (404, ""),
    ],
)
def test_an_undocumented_status_names_the_documented_ones_and_what_it_may_mean(
    status: int, hint: str
) -> None:
    result = judged({"message": "nope"}, status=status)
    [finding] = result.findings  # no schema to judge the body by
    assert finding.kind is Kind.UNDOCUMENTED_STATUS
    assert finding.detail == f"HTTP {status} is not documented (the spec has 200, 401, 403){hint}"


# --- What openapi-core allows: unknown fields, timestamp forms, order --------------------------


def test_an_unknown_field_is_additive_and_names_the_value_type_only() -> None:
    result = judged([spec_lead(visitor_country="DE"), spec_lead(), spec_lead(visitor_country="FR")])
    found = only(result, Kind.UNKNOWN_FIELD)
    assert (found.field, found.count, found.example_index) == ("visitor_country", 2, 0)
    assert found.kind.severity is Severity.ADDITIVE and found.example_value is None
    assert found.detail == "not in the spec; string values"


def test_a_chats_free_form_message_object_holds_anything() -> None:
    message = {"data": {"type": "system", "content": "", "extra": [1]}, "type": "system", "x": 1}
    result = judged([spec_chat(message=message), spec_chat(id="m2", sentiment=1)], path="chats")
    [found] = result.findings
    assert (found.field, found.kind, found.example_id) == ("sentiment", Kind.UNKNOWN_FIELD, "m2")


@pytest.mark.parametrize(
    ("created_at", "details"),
    [
        ("2024-06-30T17:32:53.518+00:00", set()),
        ("2024-06-30T17:32:53Z", {"fraction digits: 0 (spec example: 3)", "offset: Z (spec example: +00:00)"}),
        ("2024-06-30T17:32:53.518000+00:00", {"fraction digits: 6+ (spec example: 3)"}),
        ("2024-06-30T17:32:53.123456789+00:00", {"fraction digits: 6+ (spec example: 3)"}),
        ("2024-06-30T23:02:53.518+05:30", {"offset: non-UTC (spec example: +00:00)"}),
        ("2024-06-30T17:32:53.518-00:00", {"offset: non-UTC (spec example: +00:00)"}),
        ("2024-06-30t17:32:53.518z", {"offset: Z (spec example: +00:00)"}),
    ],
)  # fmt: skip
def test_valid_timestamps_in_another_form_than_the_example_are_additive(
    created_at: str, details: set[str]
) -> None:
    result = judged([spec_lead(created_at=created_at)])
    assert {f.detail for f in result.findings} == details
    assert all(f.kind is Kind.TIMESTAMP_FORM for f in result.findings)
    assert all(f.example_value == created_at for f in result.findings)


def test_timestamp_form_counts_bucket_digits_and_offsets() -> None:
    stamps = ["2024-06-30T17:32:53Z", "2024-06-30T17:32:53.5+00:00", "2024-06-30T17:32:53.1234567-07:00", "nope"]  # fmt: skip
    forms = judged([spec_lead(created_at=s) for s in stamps]).timestamp_forms["created_at"]
    assert asdict(forms) == {
        "fraction_digits": {"0": 1, "1": 1, "2": 0, "3": 0, "4": 0, "5": 0, "6+": 1},
        "offsets": {"Z": 1, "+00:00": 1, "other": 1},
        "unparseable": 1,
    }


@pytest.mark.parametrize(
    ("stamps", "order"),
    [
        (["2024-01-01T01:30:00+02:00", "2024-01-01T00:00:00Z", "2024-01-01T00:00:01Z"], ("ascending", 2, 0)),
        (["2024-01-01T00:00:02Z", "2024-01-01T00:00:01Z"], ("descending", 0, 1)),
        (["2024-01-01T00:00:01Z", "2024-01-01T00:00:03Z", "2024-01-01T00:00:02Z", "2024-01-01T00:00:04Z"], ("unordered", 2, 1)),
        (["2024-01-01T00:00:02Z", "garbage"], ("n/a", 0, 0)),
    ],
)  # fmt: skip
def test_order_is_judged_on_instants_not_text(
    stamps: list[str], order: tuple[str, int, int]
) -> None:
    """01:30:00+02:00 sorts after 00:00:00Z as text, but is the earlier instant."""
    result = judged([spec_lead(created_at=s) for s in stamps]).order
    assert (result.field, result.direction, result.steps_up, result.steps_down) == (
        "created_at", *order,
    )  # fmt: skip


def test_items_are_named_by_their_identity_field() -> None:
    assert identity_field(component_schema("Chat")) == "id"
    assert identity_field(component_schema("Conversation")) == "session_id"
    assert identity_field({"required": ["id"], "properties": {"id": {"type": "integer"}}}) is None


def test_field_labels_read_like_the_lead() -> None:
    labels = [field_label(p) for p in ([], [0], [3, "created_at"], ["a", 1, "b"])]
    assert labels == [BODY, ITEM, "created_at", "a[].b"]


def test_json_types_tell_booleans_from_integers() -> None:
    values = (True, 1, 1.5, "s", None, [], {})
    assert [json_type(v) for v in values] == [
        "boolean", "integer", "number", "string", "null", "array", "object",
    ]  # fmt: skip
