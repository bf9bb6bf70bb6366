"""The report model: the one exit-code rule, and the JSON document CI jobs parse."""

from __future__ import annotations

import pytest

from chatnode_contract.drift import Finding, Kind
from chatnode_contract.report import (
    EXIT_ABORTED,
    EXIT_DRIFT,
    EXIT_OK,
    CheckError,
    Report,
    Target,
    TargetResult,
    render_text,
    to_json,
)
from unit_tests.chatnode_contract.runs import BASE_URL, assert_report_schema

ADDITIVE = Finding("extra", Kind.UNKNOWN_FIELD, "not in the spec; string values", 1, 0, "s-1")
BREAKING = Finding("for_agent", Kind.TYPE_MISMATCH, "expected boolean, got string", 2, 1, "s-2")


def bot(*findings: Finding) -> TargetResult:
    return TargetResult(Target.BOT, "bot-alpha", 200, 200, findings, 3, item="lead")


@pytest.mark.parametrize(
    ("results", "strict", "error", "code"),
    [
        ((bot(),), False, None, EXIT_OK),
        ((bot(ADDITIVE),), False, None, EXIT_OK),
        ((bot(ADDITIVE),), True, None, EXIT_DRIFT),
        ((bot(BREAKING, ADDITIVE),), False, None, EXIT_DRIFT),
        ((bot(BREAKING),), False, CheckError("auth", "rejected"), EXIT_ABORTED),
        ((), True, CheckError("timeout", "slow"), EXIT_ABORTED),
    ],
    ids=["clean", "additive", "additive-strict", "breaking", "error-wins", "error-only"],
)
def test_exit_code_is_error_then_breaking_then_strict_drift_then_ok(
    results: tuple[TargetResult, ...], strict: bool, error: CheckError | None, code: int
) -> None:
    report = Report(BASE_URL, strict, results, error)
    assert report.exit_code == code
    assert to_json(report)["exit_code"] == code
    assert_report_schema(to_json(report))


def test_a_stopped_check_keeps_the_bots_checked_and_says_why() -> None:
    report = Report(BASE_URL, False, (bot(ADDITIVE),), CheckError("auth", "Bot 'b' is not ..."))
    document = to_json(report)
    assert document["error"] == {"kind": "auth", "message": "Bot 'b' is not ..."}
    assert [b["bot"] for b in document["bots"]] == ["bot-alpha"]
    assert (document["conforms"], document["breaking"]) == (False, False)
    text = render_text(report, "POST /get-conversation-ids/{bot_id}")
    assert (
        text.splitlines()[0]
        == f"chatnode-contract: POST /get-conversation-ids/{{bot_id}} at {BASE_URL}"
    )
    assert "Bot bot-alpha: HTTP 200, 3 leads checked" in text
    assert text.endswith("Result: check did not complete (auth error, see stderr); exit 2\n")
