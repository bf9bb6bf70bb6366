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


LEADS_CALL = {"operation": "leads", "call": "POST /get-conversation-ids/{bot_id}", "item": "lead"}
CHATS_CALL = {"operation": "chats", "call": "POST /get-chats/{bot_id}", "item": "message"}


def bot(*findings: Finding, name: str = "bot-alpha") -> TargetResult:
    return TargetResult(Target.BOT, name, 200, 200, findings, 3, **LEADS_CALL)


def chats(*findings: Finding, name: str = "bot-alpha", checked: int = 7) -> TargetResult:
    return TargetResult(Target.BOT, name, 200, 200, findings, checked, **CHATS_CALL)


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


def test_a_bots_calls_are_listed_under_it_and_the_old_keys_keep_their_meaning() -> None:
    """schema_version 1 stays readable: `bots` has one entry per bot whose original keys are
    its leads call's, while its finding counts include the chats call."""
    skipped = TargetResult(
        Target.BOT, "bot-beta", 200, None, skipped="no session ids to ask for: the bot has no leads",
        **CHATS_CALL,
    )  # fmt: skip
    report = Report(
        BASE_URL,
        False,
        (bot(ADDITIVE), chats(BREAKING), bot(name="bot-beta"), skipped),
    )
    document = to_json(report)
    assert_report_schema(document)
    alpha, beta = document["bots"]
    assert (alpha["bot"], alpha["leads_checked"], alpha["status"]) == ("bot-alpha", 3, 200)
    assert (alpha["breaking_findings"], alpha["additive_findings"]) == (1, 1)
    assert [(c["operation"], c["item"], c["items_checked"]) for c in alpha["operations"]] == [
        ("leads", "lead", 3),
        ("chats", "message", 7),
    ]
    assert alpha["operations"][1]["call"] == "POST /get-chats/{bot_id}"
    assert (beta["operations"][1]["status"], beta["operations"][1]["skipped"]) == (
        None,
        "no session ids to ask for: the bot has no leads",
    )
    assert [(f["bot"], f["operation"]) for f in document["findings"]] == [
        ("bot-alpha", "leads"),
        ("bot-alpha", "chats"),
    ]
    assert document["breaking"] is True and document["exit_code"] == EXIT_DRIFT


def test_the_text_report_labels_a_bots_chats_after_its_leads() -> None:
    skipped = TargetResult(
        Target.BOT, "bot-beta", 200, None, skipped="no session ids to ask for: the bot has no leads",
        **CHATS_CALL,
    )  # fmt: skip
    report = Report(BASE_URL, False, (bot(), chats(checked=1), bot(name="bot-beta"), skipped))
    lines = render_text(report, "leads, chats").splitlines()
    heads = [line for line in lines if line.startswith("Bot ")]
    assert heads == [
        "Bot bot-alpha: HTTP 200, 3 leads checked",
        "Bot bot-alpha chats: HTTP 200, 1 message checked",
        "Bot bot-beta: HTTP 200, 3 leads checked",
        "Bot bot-beta chats: skipped, no session ids to ask for: the bot has no leads",
    ]
