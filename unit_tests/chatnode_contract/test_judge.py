"""Judging one response: openapi-core's verdict, explained per field by drift, with a safety net
for whatever drift cannot place."""

from __future__ import annotations

import httpx
import orjson
import pytest

from chatnode_contract.drift import Kind
from chatnode_contract.judge import core_findings, judge
from chatnode_spec import SpecRequest, SpecResponse, openapi, operation_at
from unit_tests.chatnode_contract.runs import BASE_URL, spec_lead

LEADS = operation_at("/get-conversation-ids/{bot_id}")


def leads_request() -> httpx.Request:
    return httpx.Request(
        "POST", f"{BASE_URL}/get-conversation-ids/b", headers={"Authorization": "Bearer x"}
    )


def test_openapi_core_errors_drift_cannot_place_still_count_as_breaking() -> None:
    """The safety net: with nothing explained, openapi-core's own errors become findings."""
    base = httpx.URL(BASE_URL)
    body = orjson.dumps([spec_lead(for_agent="yes"), spec_lead(for_agent="no")])
    response = httpx.Response(200, content=body, headers={"content-type": "application/json"})
    errors = list(
        openapi().iter_response_errors(
            SpecRequest.from_httpx(leads_request(), base), SpecResponse.from_httpx(response)
        )
    )
    [found] = core_findings(errors, [])
    assert (found.kind, found.field, found.count, found.example_index) == (
        Kind.SCHEMA_VIOLATION,
        "for_agent",
        2,
        0,
    )
    assert "yes" not in found.detail


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
    response = httpx.Response(status, json={"message": "nope"})
    findings, body = judge(leads_request(), response, httpx.URL(BASE_URL), LEADS, 200)
    [status_finding] = [f for f in findings if f.field == "(status)"]
    assert status_finding.kind is Kind.UNDOCUMENTED_STATUS
    assert (
        status_finding.detail
        == f"HTTP {status} is not documented (the spec has 200, 401, 403){hint}"
    )
    assert body is None  # no schema to explain the body by


def test_a_documented_status_other_than_expected_is_unexpected_and_its_body_still_checked() -> None:
    response = httpx.Response(401, json={"message": "Bearer token missing or unknown", "code": 7})
    findings, body = judge(leads_request(), response, httpx.URL(BASE_URL), LEADS, 200)
    assert {(f.field, f.kind, f.detail) for f in findings} == {
        ("(status)", Kind.UNEXPECTED_STATUS, "expected 200, got 401"),
        ("code", Kind.UNKNOWN_FIELD, "not in the spec; integer values"),
    }
    assert body is not None and body.items_checked == 1
