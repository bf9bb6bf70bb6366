"""The report model: the one exit-code rule, and the JSON document CI jobs parse."""

from __future__ import annotations

import pytest

from chatnode_contract.report import (
    EXIT_ABORTED,
    EXIT_DRIFT,
    EXIT_OK,
    CheckError,
    Finding,
    Kind,
    Report,
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
    return TargetResult(name, None, **LEADS_CALL, expected_status=200, status=200,
                        findings=findings, items_checked=3)  # fmt: skip


def chats(*findings: Finding, name: str = "bot-alpha", checked: int = 7) -> TargetResult:
    return TargetResult(name, None, **CHATS_CALL, expected_status=200, status=200,
                        findings=findings, items_checked=checked)  # fmt: skip


def skipped(name: str) -> TargetResult:
    reason = "no session ids to ask for: the bot has no leads"
    return TargetResult(name, None, **CHATS_CALL, expected_status=200, status=None, skipped=reason)


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
    text = render_text(document)
    assert text.splitlines()[0] == f"chatnode-contract: {BASE_URL} against the bundled OpenAPI spec"
    assert "Bot bot-alpha: HTTP 200, 3 leads checked" in text
    assert text.endswith("Result: check did not complete (auth error, see stderr); exit 2\n")


def test_a_bots_calls_are_listed_under_it_and_its_counts_add_them_up() -> None:
    """schema_version 2: a bot has no figures of its own but the sums of its calls' findings;
    each call, a skipped one included, is listed under `operations` in the order made."""
    report = Report(
        BASE_URL, False, (bot(ADDITIVE), chats(BREAKING), bot(name="bot-beta"), skipped("bot-beta"))
    )
    document = to_json(report)
    assert_report_schema(document)
    alpha, beta = document["bots"]
    assert (alpha["bot"], alpha["breaking_findings"], alpha["additive_findings"]) == (
        "bot-alpha",
        1,
        1,
    )
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


def test_the_text_report_labels_a_bots_other_calls_after_its_leads() -> None:
    report = Report(
        BASE_URL,
        False,
        (bot(), chats(BREAKING, checked=1), bot(name="bot-beta"), skipped("bot-beta")),
    )
    lines = render_text(to_json(report)).splitlines()
    heads = [line for line in lines if line.startswith("Bot ")]
    assert heads == [
        "Bot bot-alpha: HTTP 200, 3 leads checked",
        "Bot bot-alpha chats: HTTP 200, 1 message checked",
        "Bot bot-beta: HTTP 200, 3 leads checked",
        "Bot bot-beta chats: skipped, no session ids to ask for: the bot has no leads",
    ]
    chats_section = lines[lines.index(heads[1]) :]
    assert chats_section[1].split() == ["FIELD", "KIND", "SEVERITY", "COUNT", "DETAIL", "EXAMPLE"]
    assert chats_section[2].split()[:4] == ["for_agent", "type_mismatch", "breaking", "2"]
    assert chats_section[2].endswith("#1 s-2")


def test_the_text_report_lists_the_probes_and_the_findings_of_each() -> None:
    unexpected = Finding("(status)", Kind.UNEXPECTED_STATUS, "expected 403, got 200", 1)
    probes = (
        TargetResult(None, "missing_key", "leads", "POST /x", 401, 401, description="no token"),
        TargetResult(None, "unknown_bot", "leads", "POST /x", 403, 200, (unexpected,),
                     description="a bot that cannot exist"),
    )  # fmt: skip
    lines = render_text(to_json(Report(BASE_URL, False, probes))).splitlines()
    start = lines.index("Probes (the documented error responses):")
    assert [line.split("  ")[-1] for line in lines[start + 1 : start + 3]] == ["ok", "1 finding(s)"]
    assert "Probe unknown_bot:" in lines and "Probe missing_key:" not in lines
    assert lines[-1] == "Result: BREAKING drift (1 breaking, 0 additive findings); exit 1"


def test_each_calls_findings_are_listed_breaking_first_then_in_kind_order() -> None:
    missing = Finding("(test message)", Kind.MISSING_SENT_MESSAGE, "lacks it", 1)
    report = Report(BASE_URL, False, (bot(ADDITIVE, missing, BREAKING),))
    kinds = [f["kind"] for f in to_json(report)["findings"]]
    assert kinds == ["type_mismatch", "missing_sent_message", "unknown_field"]
