"""The tables of what the checker calls stay in step with the spec."""

from __future__ import annotations

import httpx
import pytest

from chatnode_contract.calls import (
    CHATS_SESSIONS_PER_CHECK,
    CHECKED_OPERATIONS,
    LEADS,
    PROBES,
    Skip,
    leads_session_ids,
)
from chatnode_spec import SpecRequest, openapi


def test_every_checked_operation_is_declared_by_the_spec_with_its_expected_status() -> None:
    names = [call.name for call in CHECKED_OPERATIONS]
    assert len(names) == len(set(names))
    for call in CHECKED_OPERATIONS:
        assert call.expected_status in call.operation.documented_statuses, call.name
        assert call.title == f"{call.operation.method} {call.path_template}"


def test_the_leads_operation_is_checked_with_no_request_body() -> None:
    assert LEADS.title == "POST /get-conversation-ids/{bot_id}"
    assert (LEADS.expected_status, LEADS.item, LEADS.body({})) == (200, "lead", None)


def test_every_probe_calls_a_checked_operation_that_needs_no_earlier_response() -> None:
    assert [probe.name for probe in PROBES] == ["missing_key", "invalid_key", "unknown_bot"]
    for probe in PROBES:
        assert probe.call in CHECKED_OPERATIONS and not isinstance(probe.call.body({}), Skip)


def test_the_chats_operation_comes_after_the_leads_it_takes_session_ids_from() -> None:
    assert [call.name for call in CHECKED_OPERATIONS] == ["leads", "chats", "auth", "send", "sent"]
    assert [call.name for call in CHECKED_OPERATIONS if call.writes] == ["send", "sent"]
    chats = CHECKED_OPERATIONS[1]
    assert chats.title == "POST /get-chats/{bot_id}"
    assert (chats.expected_status, chats.item) == (200, "message")


def leads_response(leads: object, status: int = 200) -> dict[str, httpx.Response]:
    return {"leads": httpx.Response(status, json=leads)}


def test_chats_ask_for_the_first_distinct_session_ids_of_the_leads() -> None:
    leads = [{"session_id": f"s{i % 30}"} for i in range(60)]
    leads[1:1] = [{"session_id": None}, "not-a-lead", {"created_at": "x"}]
    body = leads_session_ids(leads_response(leads))
    assert body == [f"s{i}" for i in range(CHATS_SESSIONS_PER_CHECK)]
    assert leads_session_ids(leads_response([{"session_id": "only"}])) == ["only"]


def test_the_chats_request_the_checker_builds_is_one_the_spec_allows() -> None:
    body = leads_session_ids(leads_response([{"session_id": "a"}, {"session_id": "b"}]))
    request = httpx.Request(
        "POST",
        "https://api.public.chatnode.ai/v1/get-chats/bot-1",
        headers={"Authorization": "Bearer k"},
        json=body,
    )
    spec_request = SpecRequest.from_httpx(request, "https://api.public.chatnode.ai/v1")
    assert list(openapi().iter_request_errors(spec_request)) == []


@pytest.mark.parametrize(
    ("earlier", "reason"),
    [
        (leads_response([]), "the bot has no leads"),
        (leads_response([{"session_id": 7}, {"name": "x"}]), "the bot has no leads"),
        (leads_response({"message": "boom"}, 500), "the leads call gave no array of leads"),
        (leads_response({"leads": []}), "the leads call gave no array of leads"),
        ({"leads": httpx.Response(200, content=b"<html>")}, "the leads call gave no array"),
        ({}, "the leads call gave no array of leads"),
    ],
    ids=["no-leads", "no-string-ids", "500", "object", "html", "not-called"],
)
def test_chats_are_skipped_rather_than_asked_with_an_empty_array(
    earlier: dict[str, httpx.Response], reason: str
) -> None:
    skip = leads_session_ids(earlier)
    assert isinstance(skip, Skip) and reason in skip.reason
