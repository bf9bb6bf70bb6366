"""The pure drift analysis: leads in, findings out.

The property tests draw leads from the shared strategies (`unit_tests/strategies.py`), built from
the spec's `Conversation` schema at runtime (its properties, types, `format`, `nullable` and
`required`), so they follow the spec when it changes; the targeted tests pin one example of each
kind of finding on today's spec.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from chatnode_contract.drift import (
    BODY,
    ITEM,
    Kind,
    Severity,
    analyze_body,
    analyze_value,
    date_time_fields,
    field_label,
    identity_field,
    json_type,
    order_of,
    parse_date_time,
    parse_json,
    resolve_refs,
)
from chatnode_contract.judge import judge
from chatnode_spec import (
    SpecRequest,
    SpecResponse,
    api_document,
    component_schema,
    openapi,
    operation_at,
    response_schema,
)
from unit_tests.strategies import (
    chats,
    date_time_lookalikes,
    json_values,
    rfc3339_spellings,
    spec_chats,
    spec_conversations,
    values_not_of_type,
)

DOCUMENT = api_document()
LEAD_SCHEMA = component_schema("Conversation")
PROPERTIES: Mapping[str, Any] = LEAD_SCHEMA["properties"]
REQUIRED: list[str] = list(LEAD_SCHEMA.get("required", []))
LEADS = operation_at("/get-conversation-ids/{bot_id}")
BODY_SCHEMA = response_schema(LEADS, 200)
ID_FIELD = identity_field(LEAD_SCHEMA)
BASE_URL = httpx.URL(DOCUMENT["servers"][0]["url"])

# --- Leads broken on purpose, from the shared strategies -----------------------------------

UNKNOWN_NAMES = st.text(min_size=1, max_size=10).filter(lambda n: n not in PROPERTIES)
LEAD_LISTS = st.lists(spec_conversations(), max_size=8)

# Each mutation: the finding it must produce, the properties it applies to, and how it changes
# one lead (given the property name and a hypothesis draw function).
MUTATIONS: dict[str, tuple[Kind, list[str]]] = {
    "null": (Kind.NULL_NOT_NULLABLE, [n for n, s in PROPERTIES.items() if not s.get("nullable")]),
    "drop": (Kind.MISSING_REQUIRED, REQUIRED),
    "retype": (Kind.TYPE_MISMATCH, list(PROPERTIES)),
    "garble": (Kind.INVALID_DATE_TIME, date_time_fields(LEAD_SCHEMA)),
    "unknown": (Kind.UNKNOWN_FIELD, ["*"]),
}


def mutate(draw: st.DrawFn, lead: dict[str, Any], mutation: str, name: str) -> None:
    if mutation == "null":
        lead[name] = None
    elif mutation == "drop":
        lead.pop(name, None)
    elif mutation == "retype":
        lead[name] = draw(values_not_of_type(PROPERTIES[name]["type"]))
    elif mutation == "garble":
        lead[name] = "x" + draw(st.text(max_size=12))
    else:
        lead[name] = draw(json_values)


@st.composite
def mutated_leads(draw: st.DrawFn) -> tuple[list[dict[str, Any]], str, str, list[int]]:
    """Conforming leads with one mutation applied to some of them: (leads, mutation, field,
    mutated indices)."""
    leads = draw(st.lists(spec_conversations(), min_size=1, max_size=8))
    mutation = draw(st.sampled_from([m for m, (_, names) in MUTATIONS.items() if names]))
    name = (
        draw(UNKNOWN_NAMES)
        if mutation == "unknown"
        else draw(st.sampled_from(MUTATIONS[mutation][1]))
    )
    indices = sorted(draw(st.sets(st.integers(0, len(leads) - 1), min_size=1)))
    for index in indices:
        mutate(draw, leads[index], mutation, name)
    return leads, mutation, name, indices


def openapi_core_errors(leads: Any) -> list[Exception]:
    """openapi-core's verdict on a 200 response carrying these leads."""
    request = httpx.Request(
        "POST", f"{BASE_URL}/get-conversation-ids/b", headers={"Authorization": "Bearer k"}
    )
    response = httpx.Response(
        200, content=orjson.dumps(leads), headers={"content-type": "application/json"}
    )
    return list(
        openapi().iter_response_errors(
            SpecRequest.from_httpx(request, BASE_URL), SpecResponse.from_httpx(response)
        )
    )


def analyze(leads: Any) -> Any:
    return analyze_value(leads, BODY_SCHEMA, DOCUMENT)


# --- Properties ----------------------------------------------------------------------------


@given(LEAD_LISTS)
def test_conforming_leads_show_no_breaking_drift(leads: list[dict[str, Any]]) -> None:
    report = analyze(leads)
    assert not report.breaking
    assert {f.kind for f in report.findings} <= {Kind.TIMESTAMP_FORM}
    assert report.items_checked == len(leads)


@given(st.lists(spec_chats(), max_size=6), st.lists(chats(), max_size=6))
def test_chats_drift_only_where_openapi_core_says_so(
    conforming: list[dict[str, Any]], sloppy: list[dict[str, Any]]
) -> None:
    """Messages as the spec allows them show no drift at all; the API's sloppier ones only
    unknown fields (additive), unless openapi-core too rejects the body (a `created_at` that
    is not a string)."""
    chats_op = operation_at("/get-chats/{bot_id}")
    schema = response_schema(chats_op, 200)
    assert analyze_value(conforming, schema, DOCUMENT).findings == ()
    report = analyze_value(sloppy, schema, DOCUMENT)
    request = SpecRequest(
        "POST", "/get-chats/b", headers=[("Authorization", "Bearer k")], relative=True
    )
    response = SpecResponse.of(200, orjson.dumps(sloppy), "application/json")
    rejected = bool(list(openapi().iter_response_errors(request, response)))
    assert report.breaking == rejected
    assert {f.kind for f in report.findings} - {Kind.UNKNOWN_FIELD} <= {
        Kind.TYPE_MISMATCH, Kind.NULL_NOT_NULLABLE, Kind.MISSING_REQUIRED,
    }  # fmt: skip


@given(mutated_leads())
def test_each_mutation_is_reported_once_per_lead_with_the_first_as_example(
    case: tuple[list[dict[str, Any]], str, str, list[int]],
) -> None:
    leads, mutation, name, indices = case
    kind = MUTATIONS[mutation][0]
    found = [f for f in analyze(leads).findings if f.kind is kind and f.field == name]
    assert sum(f.count for f in found) == len(indices)
    first = min(found, key=lambda f: f.example_index if f.example_index is not None else -1)
    assert first.example_index == indices[0]
    expected_id = leads[indices[0]].get(ID_FIELD) if ID_FIELD else None
    assert first.example_id == (expected_id if isinstance(expected_id, str) else None)


@given(st.one_of(LEAD_LISTS, mutated_leads().map(lambda case: case[0])))
def test_drift_is_breaking_exactly_when_openapi_core_rejects_the_body(
    leads: list[dict[str, Any]],
) -> None:
    assert analyze(leads).breaking == bool(openapi_core_errors(leads))


@given(st.one_of(LEAD_LISTS, mutated_leads().map(lambda case: case[0])))
def test_drift_explains_every_error_openapi_core_finds(leads: list[dict[str, Any]]) -> None:
    """`judge` turns an openapi-core error that drift cannot place into `schema_violation`;
    on this spec there must be none."""
    request = httpx.Request(
        "POST", f"{BASE_URL}/get-conversation-ids/b", headers={"Authorization": "Bearer k"}
    )
    response = httpx.Response(
        200, content=orjson.dumps(leads), headers={"content-type": "application/json"}
    )
    findings, _ = judge(request, response, BASE_URL, LEADS, expected=200)
    assert Kind.SCHEMA_VIOLATION not in {f.kind for f in findings}


@given(st.one_of(LEAD_LISTS, mutated_leads().map(lambda case: case[0])), st.randoms())
def test_findings_do_not_depend_on_lead_order(
    leads: list[dict[str, Any]], rng: random.Random
) -> None:
    shuffled = leads[:]
    rng.shuffle(shuffled)

    def summary(items: list[dict[str, Any]]) -> Counter[tuple[str, Kind, str, int]]:
        return Counter((f.field, f.kind, f.detail, f.count) for f in analyze(items).findings)

    assert summary(shuffled) == summary(leads)


@given(st.one_of(LEAD_LISTS, mutated_leads().map(lambda case: case[0])))
def test_timestamp_forms_count_every_string_in_a_date_time_field(
    leads: list[dict[str, Any]],
) -> None:
    forms = analyze(leads).timestamp_forms
    for name in date_time_fields(LEAD_SCHEMA):
        strings = sum(1 for lead in leads if isinstance(lead.get(name), str))
        counts = forms.get(name)
        assert (counts.total if counts else 0) == strings
        if counts:
            assert sum(counts.fraction_digits.values()) == sum(counts.offsets.values())


@given(rfc3339_spellings())
def test_parsed_date_times_keep_their_instant_and_form(text: str) -> None:
    parsed = parse_date_time(text)
    assert parsed is not None
    instant, form = parsed
    assert instant.tzinfo is not None
    fraction = text[19:].split("+")[0].split("-")[0].rstrip("Zz")
    assert form.fraction_digits == max(len(fraction) - 1, 0)
    assert form.offset == ("Z" if text[-1] in "Zz" else text[-6:])
    wall = instant.replace(tzinfo=None, microsecond=0).isoformat()
    assert wall == f"{text[:10]}T{text[11:19]}"


@given(st.one_of(rfc3339_spellings(), date_time_lookalikes(), st.text(max_size=30)))
@example("2024-02-30T00:00:00Z")  # no such day
@example("2023-06-30T23:59:60Z")  # leap second: openapi-core refuses it
@example("0000-01-01T00:00:00Z")  # year zero
@example("2024-06-30T24:00:00Z")
@example("2024-06-30T17:32:53.+00:00")  # dot without digits
@example("2024-06-30T17:32:53.518+24:00")
@example("2024-06-30 17:32:53.518+00:00")  # space: ISO 8601 and fromisoformat, not RFC 3339
@example("2024-06-30T17:32:53.518")  # no offset
@example("\uff12\uff10\uff12\uff14-06-30T17:32:53Z")  # full-width digits
def test_date_time_parser_agrees_with_openapi_core(text: str) -> None:
    leads = [{**_minimal_conforming_lead(), date_time_fields(LEAD_SCHEMA)[0]: text}]
    assert (parse_date_time(text) is None) == bool(openapi_core_errors(leads))


def _minimal_conforming_lead() -> dict[str, Any]:
    """The schema's examples for the required properties: a lead openapi-core accepts."""
    return {n: PROPERTIES[n]["example"] for n in REQUIRED}


# --- One example per kind of finding -------------------------------------------------------

SPEC_EXAMPLE_LEAD = {n: s["example"] for n, s in PROPERTIES.items()}


def lead(**changes: Any) -> dict[str, Any]:
    return {**SPEC_EXAMPLE_LEAD, **changes}


def only(findings: Any, kind: Kind) -> Any:
    [found] = [f for f in findings if f.kind is kind]
    return found


def test_the_spec_examples_make_a_conforming_lead() -> None:
    report = analyze([SPEC_EXAMPLE_LEAD, SPEC_EXAMPLE_LEAD])
    assert report.findings == ()
    assert report.timestamp_forms["created_at"].to_json()["fraction_digits"]["3"] == 2


def test_an_unknown_field_is_additive_and_names_the_value_type_only() -> None:
    report = analyze([lead(visitor_country="DE"), lead(), lead(visitor_country="FR")])
    found = only(report.findings, Kind.UNKNOWN_FIELD)
    assert (found.field, found.count, found.example_index) == ("visitor_country", 2, 0)
    assert found.severity is Severity.ADDITIVE and found.example_value is None
    assert "string" in found.detail and "DE" not in found.detail
    assert not report.breaking


def test_null_where_the_spec_has_no_nullable_is_breaking() -> None:
    report = analyze([lead(), lead(enduser_email=None)])
    found = only(report.findings, Kind.NULL_NOT_NULLABLE)
    assert (found.field, found.count, found.example_index, found.example_id) == (
        "enduser_email",
        1,
        1,
        SPEC_EXAMPLE_LEAD["session_id"],
    )
    assert found.severity is Severity.BREAKING


def test_null_is_fine_where_the_spec_says_nullable() -> None:
    schema = {
        "type": "array",
        "items": {"type": "object", "properties": {"a": {"type": "string", "nullable": True}}},
    }
    assert analyze_value([{"a": None}], schema).findings == ()


def test_for_agent_as_a_string_is_a_type_mismatch_without_the_value() -> None:
    found = only(analyze([lead(for_agent="false")]).findings, Kind.TYPE_MISMATCH)
    assert (found.field, found.detail) == ("for_agent", "expected boolean, got string")
    assert found.severity is Severity.BREAKING and found.example_value is None


def test_a_missing_required_field_is_breaking() -> None:
    incomplete = lead()
    del incomplete["created_at"]
    found = only(analyze([lead(), incomplete]).findings, Kind.MISSING_REQUIRED)
    assert (found.field, found.count, found.example_index) == ("created_at", 1, 1)
    assert found.severity is Severity.BREAKING


def test_an_unparseable_created_at_is_breaking_and_shown() -> None:
    report = analyze([lead(created_at="30/06/2024 17:32")])
    found = only(report.findings, Kind.INVALID_DATE_TIME)
    assert found.example_value == "30/06/2024 17:32" and found.severity is Severity.BREAKING
    assert report.timestamp_forms["created_at"].unparseable == 1


def test_a_created_at_as_epoch_milliseconds_is_a_type_mismatch_with_its_value() -> None:
    found = only(analyze([lead(created_at=1719768773518)]).findings, Kind.TYPE_MISMATCH)
    assert found.detail == "expected string, got integer" and found.example_value == "1719768773518"


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
    report = analyze([lead(created_at=created_at)])
    assert {f.detail for f in report.findings} == details
    assert all(
        f.kind is Kind.TIMESTAMP_FORM and f.example_value == created_at for f in report.findings
    )
    assert not report.breaking


def test_timestamp_form_counts_bucket_digits_and_offsets() -> None:
    stamps = [
        "2024-06-30T17:32:53Z",
        "2024-06-30T17:32:53.5+00:00",
        "2024-06-30T17:32:53.1234567-07:00",
        "nope",
    ]
    forms = analyze([lead(created_at=s) for s in stamps]).timestamp_forms["created_at"].to_json()
    assert forms == {
        "fraction_digits": {"0": 1, "1": 1, "2": 0, "3": 0, "4": 0, "5": 0, "6+": 1},
        "offsets": {"Z": 1, "+00:00": 1, "other": 1},
        "unparseable": 1,
    }


def test_a_body_that_is_not_an_array_is_breaking() -> None:
    found = only(analyze({"leads": []}).findings, Kind.TYPE_MISMATCH)
    assert (found.field, found.detail) == (BODY, "expected array, got object")


def test_a_lead_that_is_not_an_object_is_breaking() -> None:
    found = only(analyze([lead(), "oops"]).findings, Kind.TYPE_MISMATCH)
    assert (found.field, found.detail, found.example_index) == (
        ITEM,
        "expected object, got string",
        1,
    )


def test_a_body_that_is_not_json_is_breaking_and_not_echoed() -> None:
    report = analyze_body(b"<html>token=hunter2</html>", BODY_SCHEMA, DOCUMENT)
    found = only(report.findings, Kind.NON_JSON_BODY)
    assert found.field == BODY and report.items_checked == 0 and "hunter2" not in found.detail


def test_a_truncated_body_is_not_json() -> None:
    body = orjson.dumps([SPEC_EXAMPLE_LEAD] * 3)[:-10]
    assert only(analyze_body(body, BODY_SCHEMA, DOCUMENT).findings, Kind.NON_JSON_BODY)


def test_json_parsing_takes_wide_integers_and_refuses_nan() -> None:
    assert parse_json(b"[18446744073709551616]") == [2**64]
    with pytest.raises(ValueError, match="line 1, column 2"):
        parse_json(b"[NaN]")


def test_a_field_the_schema_forbids_is_breaking() -> None:
    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"a": {"type": "string"}},
    }
    found = only(analyze_value({"a": "x", "b": 1}, schema).findings, Kind.FORBIDDEN_FIELD)
    assert found.field == "b" and found.severity is Severity.BREAKING


def test_a_free_form_object_holds_anything_but_a_closed_one_still_forbids() -> None:
    """A chat's `message` is `type: object` with no properties: its fields are not drift."""
    chat_schema = component_schema("Chat")
    message = {"data": {"type": "system", "content": "", "extra": [1]}, "type": "system", "x": 1}
    chat = {n: s["example"] for n, s in chat_schema["properties"].items()} | {"message": message}
    assert analyze_value([chat], {"type": "array", "items": chat_schema}).findings == ()
    closed = {"type": "object", "additionalProperties": False}
    assert only(analyze_value({"b": 1}, closed).findings, Kind.FORBIDDEN_FIELD).field == "b"


def test_a_chat_message_is_named_by_its_id_and_a_lead_by_its_session_id() -> None:
    assert identity_field(component_schema("Chat")) == "id"
    assert identity_field(LEAD_SCHEMA) == "session_id"
    assert identity_field({"required": ["id"], "properties": {"id": {"type": "integer"}}}) is None


def test_additional_properties_with_a_schema_are_checked_against_it() -> None:
    schema = {"type": "object", "additionalProperties": {"type": "integer"}}
    found = only(analyze_value({"a": 1, "b": "2"}, schema).findings, Kind.TYPE_MISMATCH)
    assert found.field == "b"


def test_error_bodies_are_checked_against_their_own_schema() -> None:
    schema = response_schema(LEADS, 401)
    extra = analyze_value(
        {"message": "Bearer token missing or unknown", "error": "unauthorized"}, schema, DOCUMENT
    )
    assert [(f.field, f.kind) for f in extra.findings] == [("error", Kind.UNKNOWN_FIELD)]
    missing = analyze_value({"detail": "nope"}, schema, DOCUMENT)
    assert {(f.field, f.kind) for f in missing.findings} == {
        ("message", Kind.MISSING_REQUIRED),
        ("detail", Kind.UNKNOWN_FIELD),
    }


def test_breaking_findings_are_listed_before_additive_ones() -> None:
    kinds = [f.severity for f in analyze([lead(extra=1, for_agent=None)]).findings]
    assert kinds == [Severity.BREAKING, Severity.ADDITIVE]


@pytest.mark.parametrize(
    ("stamps", "direction"),
    [
        (["2024-01-01T00:00:00Z", "2024-01-01T00:00:01Z", "2024-01-01T02:00:01+01:00"], "ascending"),
        (["2024-01-01T00:00:02Z", "2024-01-01T00:00:01Z"], "descending"),
        (["2024-01-01T00:00:02Z", "2024-01-01T00:00:01Z", "2024-01-01T00:00:03Z"], "unordered"),
        (["2024-01-01T00:00:02Z", "garbage"], "n/a"),
    ],
)  # fmt: skip
def test_order_is_judged_on_instants_not_text(stamps: list[str], direction: str) -> None:
    order = analyze([lead(created_at=s) for s in stamps]).order
    assert (order.field, order.direction) == ("created_at", direction)


def test_order_counts_steps_each_way() -> None:
    order = order_of([datetime(2024, 1, d) for d in (1, 3, 2, 4)], "t")
    assert (order.steps_up, order.steps_down, order.direction) == (2, 1, "unordered")


def test_refs_resolve_against_the_document() -> None:
    resolved = resolve_refs(BODY_SCHEMA, DOCUMENT)
    assert resolved["items"] == LEAD_SCHEMA


def test_field_labels_read_like_the_lead() -> None:
    assert [field_label(p) for p in ([], [0], [3, "created_at"], ["a", 1, "b"])] == [
        BODY,
        ITEM,
        "created_at",
        "a[].b",
    ]


def test_json_types_tell_booleans_from_integers() -> None:
    assert [json_type(v) for v in (True, 1, 1.5, "s", None, [], {})] == [
        "boolean",
        "integer",
        "number",
        "string",
        "null",
        "array",
        "object",
    ]
