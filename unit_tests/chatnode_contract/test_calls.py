"""The tables of what the checker calls stay in step with the spec."""

from __future__ import annotations

import pytest

from chatnode_contract.calls import CHECKED_OPERATIONS, PROBES, checked_operation


def test_every_checked_operation_is_declared_by_the_spec_with_its_expected_status() -> None:
    names = [call.name for call in CHECKED_OPERATIONS]
    assert len(names) == len(set(names))
    for call in CHECKED_OPERATIONS:
        assert call.expected_status in call.operation.documented_statuses, call.name
        assert call.title == f"{call.operation.method} {call.path_template}"


def test_the_leads_operation_is_checked_with_no_request_body() -> None:
    leads = checked_operation("leads")
    assert leads.title == "POST /get-conversation-ids/{bot_id}"
    assert (leads.expected_status, leads.item, leads.body({})) == (200, "lead", None)


def test_every_probe_calls_a_checked_operation() -> None:
    assert [probe.name for probe in PROBES] == ["missing_key", "invalid_key", "unknown_bot"]
    for probe in PROBES:
        assert checked_operation(probe.operation).name == probe.operation


def test_an_unknown_operation_name_is_refused() -> None:
    with pytest.raises(LookupError, match="no checked operation named 'chats'"):
        checked_operation("chats")
