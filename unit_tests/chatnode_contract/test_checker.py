"""The check run end to end through `main()`: against the respx router in-process and the live
mock server over real HTTP, in normal and quirks modes; what it calls, what it finds, how it
stops."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from chatnode_contract import checker
from chatnode_spec import component_schema
from mock_server import faults
from mock_server.respx_router import chatnode_respx_router
from mock_server.server import MockServer
from unit_tests.chatnode_contract.runs import (
    BOTS,
    KEY,
    assert_report_schema,
    bot_args,
    findings,
    mock_config,
    run_cli,
    spec_lead,
)

# --- Exit 0: conforming, or additive drift only -----------------------------------------------


def test_a_conforming_api_exits_0_after_checking_bots_and_probes(capsys: Any, router: Any) -> None:
    run = run_cli(capsys, *bot_args(*BOTS))
    assert run.code == 0, run.out
    assert "Result: conforms to the spec; exit 0" in run.out
    assert "Bot bot-alpha: HTTP 200, 5 leads checked" in run.out
    journal = router.chatnode.journal.entries()
    assert [(e["bot"], e["status"], e["auth"]) for e in journal][:2] == [
        ("bot-alpha", 200, "ok"),
        ("bot-beta", 200, "ok"),
    ]
    assert [(e["status"], e["auth"]) for e in journal[2:]] == [
        (401, "missing"),
        (401, "unknown"),
        (403, "forbidden"),
    ]


def test_no_probes_calls_only_the_given_bots(capsys: Any, router: Any) -> None:
    assert run_cli(capsys, *bot_args("bot-alpha"), "--no-probes").code == 0
    assert [e["bot"] for e in router.chatnode.journal.entries()] == ["bot-alpha"]


def test_additive_drift_warns_with_exit_0_and_fails_under_strict(capsys: Any, router: Any) -> None:
    router.chatnode.store.set_leads("bot-alpha", [spec_lead(), spec_lead(visitor_country="DE")])
    run = run_cli(capsys, *bot_args("bot-alpha"), "--json")
    assert run.code == 0
    assert findings(run) == {("bot-alpha", "visitor_country", "unknown_field", "additive")}
    assert run.report["conforms"] is False and run.report["breaking"] is False
    text = run_cli(capsys, *bot_args("bot-alpha"))
    assert "WARNINGS: 1 additive findings; exit 0 (--strict would exit 1)" in text.out
    strict = run_cli(capsys, *bot_args("bot-alpha"), "--strict", "--json")
    assert strict.code == 1 and strict.report["exit_code"] == 1


def test_a_single_lead_is_counted_in_the_singular(capsys: Any, router: Any) -> None:
    router.chatnode.store.set_leads("bot-alpha", [spec_lead()])
    run = run_cli(capsys, *bot_args("bot-alpha"), "--no-probes")
    assert "Bot bot-alpha: HTTP 200, 1 lead checked" in run.out


# --- Exit 1: breaking drift ---------------------------------------------------------------


def test_breaking_drift_exits_1_with_a_row_per_field(capsys: Any, router: Any) -> None:
    leads = [spec_lead(), spec_lead(for_agent="yes"), spec_lead(enduser_phone=None)]
    router.chatnode.store.set_leads("bot-alpha", leads)
    run = run_cli(capsys, *bot_args("bot-alpha"))
    assert run.code == 1
    rows = {tuple(line.split()[:4]) for line in run.out.splitlines()}
    assert ("for_agent", "type_mismatch", "breaking", "1") in rows
    assert ("enduser_phone", "null_not_nullable", "breaking", "1") in rows
    assert "Result: BREAKING drift (2 breaking, 0 additive findings); exit 1" in run.out
    assert "yes" not in run.out  # lead values are not printed


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (faults.status(500, bot="bot-alpha"), {("(status)", "undocumented_status")}),
        (faults.status(429, retry_after=1, bot="bot-alpha"), {("(status)", "undocumented_status")}),
        (
            faults.html(bot="bot-alpha"),
            {("(content-type)", "content_type_mismatch"), ("(body)", "non_json_body")},
        ),
        (faults.truncated(bot="bot-alpha"), {("(body)", "non_json_body")}),
        (faults.non_object(bot="bot-alpha"), {("(item)", "type_mismatch")}),
    ],
    ids=["500", "429", "html", "truncated", "non_object"],
)
def test_a_bad_response_is_breaking(
    capsys: Any, router: Any, fault: faults.FaultRule, expected: set[tuple[str, str]]
) -> None:
    router.chatnode.faults.add(fault)  # the mock faults before the key check: skip the probes
    run = run_cli(capsys, *bot_args(*BOTS), "--json", "--no-probes")
    assert run.code == 1 and run.report["breaking"] is True
    assert {(b, f, k) for b, f, k, _ in findings(run)} == {("bot-alpha", *e) for e in expected}
    assert {b["bot"]: b["breaking_findings"] > 0 for b in run.report["bots"]} == {
        "bot-alpha": True,
        "bot-beta": False,
    }


@pytest.mark.parametrize(
    ("arrange", "kind"),
    [
        (lambda service: service.store.add_bot("ghost", count=0), "unexpected_status"),
        (
            lambda service: service.faults.add(faults.status(404, bot="ghost")),
            "undocumented_status",
        ),
    ],
    ids=["200-for-an-unknown-bot", "404-for-an-unknown-bot"],
)
def test_a_probe_answered_otherwise_than_documented_is_breaking(
    capsys: Any, router: Any, monkeypatch: pytest.MonkeyPatch, arrange: Any, kind: str
) -> None:
    monkeypatch.setattr(checker, "_unknown_bot_id", lambda: "ghost")
    arrange(router.chatnode)
    run = run_cli(capsys, *bot_args("bot-alpha"), "--json")
    assert run.code == 1
    assert findings(run) == {("unknown_bot", "(status)", kind, "breaking")}
    probe = next(p for p in run.report["probes"] if p["probe"] == "unknown_bot")
    assert probe["expected_status"] == 403 and probe["status"] != 403


# --- Exit 2: could not check ----------------------------------------------------------------


def test_a_rejected_key_exits_2_and_says_what_to_do(capsys: Any, router: Any) -> None:
    wrong = "cn-live-WRONG-key-0123456789"
    run = run_cli(capsys, *bot_args("bot-alpha"), key=wrong)
    assert run.code == 2
    assert "API key rejected by ChatNode (401): check --api-key" in run.err
    assert "Result: check did not complete (auth error, see stderr); exit 2" in run.out


def test_a_bot_the_key_cannot_read_exits_2(capsys: Any) -> None:
    with chatnode_respx_router(mock_config(api_keys={KEY: ["bot-alpha"]})):
        run = run_cli(capsys, *bot_args("bot-alpha", "bot-beta"), "--json")
    assert run.code == 2
    assert run.report["error"]["kind"] == "auth" and "'bot-beta'" in run.report["error"]["message"]
    assert "(403): check --bot" in run.err
    assert [b["bot"] for b in run.report["bots"]] == ["bot-alpha"]  # what was checked is kept


def test_a_dropped_connection_exits_2(capsys: Any, router: Any) -> None:
    router.chatnode.faults.add(faults.drop())
    run = run_cli(capsys, *bot_args("bot-alpha"), "--json")
    assert run.code == 2 and run.report["error"]["kind"] == "connection"


def test_connection_refused_exits_2_with_a_clear_message(capsys: Any) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    run = run_cli(capsys, *bot_args("bot-alpha", base_url=f"http://127.0.0.1:{port}/v1"))
    assert run.code == 2
    assert f"could not connect to http://127.0.0.1:{port}/v1" in run.err
    assert "check --base-url" in run.err


def test_a_silent_server_times_out_with_exit_2(capsys: Any) -> None:
    with socket.socket() as sock:  # accepts connections (backlog), never answers
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        base_url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
        run = run_cli(
            capsys, *bot_args("bot-alpha", base_url=base_url), "--timeout", "0.2", "--json"
        )
    assert run.code == 2 and run.report["error"]["kind"] == "timeout"
    assert "did not answer within 0.2 s" in run.err and "raise --timeout" in run.err


# --- The live mock server over real HTTP ------------------------------------------------------


def test_live_server_in_normal_mode_conforms(capsys: Any) -> None:
    with MockServer(mock_config(leads_per_bot=50)) as mock:
        run = run_cli(capsys, *bot_args(*BOTS, base_url=mock.base_url), "--json")
    assert run.code == 0
    report = run.report
    assert_report_schema(report)
    assert (report["conforms"], report["breaking"], report["findings"]) == (True, False, [])
    assert [(b["bot"], b["status"], b["leads_checked"]) for b in report["bots"]] == [
        ("bot-alpha", 200, 50),
        ("bot-beta", 200, 50),
    ]
    assert {b["order"]["direction"] for b in report["bots"]} == {"ascending"}
    assert [(p["probe"], p["status"]) for p in report["probes"]] == [
        ("missing_key", 401),
        ("invalid_key", 401),
        ("unknown_bot", 403),
    ]


def test_live_server_in_quirks_mode_reports_every_quirk_as_drift(capsys: Any) -> None:
    """Quirks: nulls where the spec has no `nullable` (breaking, so exit 1), unknown fields and
    timestamps in other valid forms (additive), records out of order (reported, not drift)."""
    with MockServer(mock_config(leads_per_bot=300, quirks=True)) as mock:
        run = run_cli(capsys, *bot_args("bot-alpha", base_url=mock.base_url), "--json")
        text = run_cli(capsys, *bot_args("bot-alpha", base_url=mock.base_url), "--no-probes")
    assert run.code == 1 and text.code == 1
    report = run.report
    assert_report_schema(report)
    kinds = {(f["kind"], f["severity"]) for f in report["findings"]}
    assert kinds == {
        ("null_not_nullable", "breaking"),
        ("unknown_field", "additive"),
        ("timestamp_form", "additive"),
    }
    schema = component_schema("Conversation")
    optional = set(schema["properties"]) - set(schema["required"])
    nulls = {f["field"] for f in report["findings"] if f["kind"] == "null_not_nullable"}
    assert nulls == optional
    unknown = {f["field"] for f in report["findings"] if f["kind"] == "unknown_field"}
    assert unknown and not unknown & set(schema["properties"])
    [bot] = report["bots"]
    forms = bot["timestamp_forms"]["created_at"]
    assert all(forms["fraction_digits"].values()) and all(forms["offsets"].values())
    assert forms["unparseable"] == 0 and sum(forms["offsets"].values()) == 300
    assert bot["order"]["direction"] == "unordered"
    for finding in report["findings"]:
        example = finding["example"]
        assert isinstance(example["index"], int) and isinstance(example["id"], str)
    assert "unordered by created_at" in text.out and "null_not_nullable" in text.out
