"""The check run end to end through `main()`: against the respx router in-process and the live
mock server over real HTTP, in normal and quirks modes; what it calls, what it finds, how it
stops."""

from __future__ import annotations

import socket
from typing import Any

import orjson
import pytest

from chatnode_contract import checker
from chatnode_contract.checker import CheckConfig, redact
from chatnode_spec import component_schema
from mock_server import faults
from mock_server.respx_router import chatnode_respx_router
from mock_server.server import MockServer
from unit_tests.chatnode_contract.runs import (
    BASE_URL,
    BOTS,
    KEY,
    assert_report_schema,
    bot_args,
    findings,
    mock_config,
    operation_findings,
    run_cli,
    spec_chat,
    spec_lead,
)

# --- Exit 0: conforming, or additive drift only -----------------------------------------------


def test_a_conforming_api_exits_0_after_checking_bots_and_probes(capsys: Any, router: Any) -> None:
    run = run_cli(capsys, *bot_args(*BOTS))
    assert run.code == 0, run.out
    assert "Result: conforms to the spec; exit 0" in run.out
    assert "Bot bot-alpha: HTTP 200, 5 leads checked" in run.out
    served = len(router.chatnode.chats("bot-alpha", _session_ids(router, "bot-alpha")))
    assert f"Bot bot-alpha chats: HTTP 200, {served} messages checked" in run.out
    journal = router.chatnode.journal()
    assert [(e["path"].removeprefix("/v1/"), e["status"]) for e in journal][:6] == [
        ("get-conversation-ids/bot-alpha", 200),
        ("get-chats/bot-alpha", 200),
        ("auth_me", 200),
        ("get-conversation-ids/bot-beta", 200),
        ("get-chats/bot-beta", 200),
        ("auth_me", 200),
    ]
    assert "Bot bot-alpha auth: HTTP 200, 1 team checked" in run.out
    assert [(e["status"], e["auth"]) for e in journal[6:]] == [
        (401, "missing"),
        (401, "unknown"),
        (403, "forbidden"),
    ]


def _leads_call(bot: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in bot["operations"] if c["operation"] == "leads"]


def _session_ids(router: Any, bot: str) -> list[str]:
    return [lead["session_id"] for lead in router.chatnode.leads(bot)]


def test_no_probes_calls_only_the_given_bots(capsys: Any, router: Any) -> None:
    assert run_cli(capsys, *bot_args("bot-alpha"), "--no-probes").code == 0
    assert [e["bot"] for e in router.chatnode.journal()] == ["bot-alpha", "bot-alpha", None]


# --- The chats call ----------------------------------------------------------------------------


def test_chats_ask_for_the_first_20_of_the_bots_own_session_ids(capsys: Any, router: Any) -> None:
    router.chatnode.set_leads("bot-alpha", count=30)
    assert run_cli(capsys, *bot_args("bot-alpha"), "--no-probes").code == 0
    [chats_call] = [c for c in router.calls if c.request.url.path.endswith("/get-chats/bot-alpha")]
    assert orjson.loads(chats_call.request.content) == _session_ids(router, "bot-alpha")[:20]
    assert chats_call.request.headers["content-type"] == "application/json"


def test_a_bot_without_leads_skips_its_chats_and_never_sends_an_empty_array(
    capsys: Any, router: Any
) -> None:
    router.chatnode.set_leads("bot-beta", [])
    run = run_cli(capsys, *bot_args(*BOTS), "--no-probes", "--json")
    assert run.code == 0 and run.report["conforms"] is True
    beta = next(b for b in run.report["bots"] if b["bot"] == "bot-beta")
    assert beta["operations"][1] == {
        "operation": "chats", "call": "POST /get-chats/{bot_id}", "status": None,
        "skipped": "no session ids to ask for: the bot has no leads", "item": "message",
        "items_checked": 0, "order": {"field": None, "direction": "n/a", "steps_up": 0,
        "steps_down": 0}, "timestamp_forms": {}, "breaking_findings": 0, "additive_findings": 0,
    }  # fmt: skip
    assert not [c for c in router.calls if c.request.url.path.endswith("/get-chats/bot-beta")]
    text = run_cli(capsys, *bot_args("bot-beta"), "--no-probes")
    assert (
        "Bot bot-beta chats: skipped, no session ids to ask for: the bot has no leads" in text.out
    )


def test_chat_message_drift_is_reported_under_the_chats_call(capsys: Any) -> None:
    """A message without `id` is breaking, an extra field additive; a message type other than
    human/ai, or any content, is what the spec's free-form `message` object allows."""
    with chatnode_respx_router(mock_config(messages_per_session=(0, 0))) as mocked:
        store = mocked.chatnode
        store.set_leads("bot-alpha", [spec_lead()])
        session = spec_lead()["session_id"]
        no_id = {k: v for k, v in spec_chat().items() if k != "id"}
        for raw in (no_id, spec_chat(id="m2", sentiment="positive"), spec_chat(id="m3")):
            store.append_message("bot-alpha", session, raw=raw)
        store.append_message("bot-alpha", session, type="system", content="Agent joined ✅\n")
        run = run_cli(capsys, *bot_args("bot-alpha"), "--no-probes", "--json")
    assert run.code == 1
    assert operation_findings(run) == {
        ("bot-alpha", "chats", "id", "missing_required", "breaking"),
        ("bot-alpha", "chats", "sentiment", "unknown_field", "additive"),
    }
    example = {f["field"]: f["example"] for f in run.report["findings"]}
    assert example["sentiment"] == {"index": 1, "id": "m2", "value": None}
    assert example["id"]["index"] == 0
    [alpha] = run.report["bots"]
    assert (alpha["operations"][0]["items_checked"], alpha["breaking_findings"], alpha["additive_findings"]) == (
        1, 1, 1,
    )  # fmt: skip
    assert [(c["operation"], c["items_checked"]) for c in alpha["operations"]] == [
        ("leads", 1),
        ("chats", 4),
        ("auth", 1),
    ]
    assert "positive" not in run.out and "Agent joined" not in run.out  # values are not printed


def test_a_fault_on_the_chats_route_is_breaking_drift_of_the_chats_call(
    capsys: Any, router: Any
) -> None:
    router.chatnode.faults.add(faults.status(502, route="chats", bot="bot-beta"))
    run = run_cli(capsys, *bot_args(*BOTS), "--no-probes", "--json")
    assert run.code == 1
    assert operation_findings(run) == {
        ("bot-beta", "chats", "(status)", "undocumented_status", "breaking")
    }
    beta = next(b for b in run.report["bots"] if b["bot"] == "bot-beta")
    assert [c["status"] for c in beta["operations"]] == [200, 502, 200]


def test_additive_drift_warns_with_exit_0_and_fails_under_strict(capsys: Any, router: Any) -> None:
    router.chatnode.set_leads("bot-alpha", [spec_lead(), spec_lead(visitor_country="DE")])
    run = run_cli(capsys, *bot_args("bot-alpha"), "--json")
    assert run.code == 0
    assert findings(run) == {("bot-alpha", "visitor_country", "unknown_field", "additive")}
    assert run.report["conforms"] is False and run.report["breaking"] is False
    text = run_cli(capsys, *bot_args("bot-alpha"))
    assert "WARNINGS: 1 additive findings; exit 0 (--strict would exit 1)" in text.out
    strict = run_cli(capsys, *bot_args("bot-alpha"), "--strict", "--json")
    assert strict.code == 1 and strict.report["exit_code"] == 1


def test_a_single_lead_is_counted_in_the_singular(capsys: Any, router: Any) -> None:
    router.chatnode.set_leads("bot-alpha", [spec_lead()])
    run = run_cli(capsys, *bot_args("bot-alpha"), "--no-probes")
    assert "Bot bot-alpha: HTTP 200, 1 lead checked" in run.out


# --- Exit 1: breaking drift ---------------------------------------------------------------


def test_breaking_drift_exits_1_with_a_row_per_field(capsys: Any, router: Any) -> None:
    leads = [spec_lead(), spec_lead(for_agent="yes"), spec_lead(enduser_phone=None)]
    router.chatnode.set_leads("bot-alpha", leads)
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
        (faults.status(429, retry_after=0, bot="bot-alpha"), {("(status)", "undocumented_status")}),
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
    # A leads answer that is no array of leads gives no session ids: the chats are skipped.
    # One element that is not a lead leaves the others' ids, and the chats meet the fault too.
    alpha = next(b for b in run.report["bots"] if b["bot"] == "bot-alpha")
    called = alpha["operations"][1]["skipped"] is None
    assert called == (fault.kind == "non_object")
    assert {b["bot"]: b["breaking_findings"] > 0 for b in run.report["bots"]} == {
        "bot-alpha": True,
        "bot-beta": False,
    }


@pytest.mark.parametrize(
    ("arrange", "kind"),
    [
        (lambda service: service.add_bot("ghost", count=0), "unexpected_status"),
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


def test_the_key_is_redacted_from_any_message_and_from_the_config_repr() -> None:
    assert redact(f"boom: Authorization: Bearer {KEY}", KEY) == "boom: Authorization: Bearer ***"
    assert redact("no secret here", "") == "no secret here"
    assert KEY not in repr(CheckConfig(BASE_URL, KEY, ("a",)))


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
    leads = [(b["bot"], *_leads_call(b)) for b in report["bots"]]
    assert [(bot, c["status"], c["items_checked"]) for bot, c in leads] == [
        ("bot-alpha", 200, 50),
        ("bot-beta", 200, 50),
    ]
    assert {c["order"]["direction"] for _, c in leads} == {"ascending"}
    chats = [b["operations"][1] for b in report["bots"]]
    assert [(c["operation"], c["status"], c["skipped"]) for c in chats] == [
        ("chats", 200, None)
    ] * 2
    assert all(c["items_checked"] > 20 for c in chats)  # 20 sessions of 0-8 messages each
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
    leads = [f for f in report["findings"] if f["operation"] == "leads"]
    kinds = {(f["kind"], f["severity"]) for f in leads}
    assert kinds == {
        ("null_not_nullable", "breaking"),
        ("unknown_field", "additive"),
        ("timestamp_form", "additive"),
    }
    schema = component_schema("Conversation")
    optional = set(schema["properties"]) - set(schema["required"])
    nulls = {f["field"] for f in leads if f["kind"] == "null_not_nullable"}
    assert nulls == optional
    unknown = {f["field"] for f in leads if f["kind"] == "unknown_field"}
    assert unknown and not unknown & set(schema["properties"])
    # Quirky messages add fields; their other quirks (timestamp forms, order, a `system` type)
    # are what the Chat schema allows: its created_at has no `format`, `message` is free-form.
    chats = [f for f in report["findings"] if f["operation"] == "chats"]
    assert {(f["kind"], f["severity"]) for f in chats} == {("unknown_field", "additive")}
    assert not {f["field"] for f in chats} & set(component_schema("Chat")["properties"])
    assert "Bot bot-alpha chats: HTTP 200" in text.out
    [bot] = report["bots"]
    [leads_call] = _leads_call(bot)
    forms = leads_call["timestamp_forms"]["created_at"]
    assert all(forms["fraction_digits"].values()) and all(forms["offsets"].values())
    assert forms["unparseable"] == 0 and sum(forms["offsets"].values()) == 300
    assert leads_call["order"]["direction"] == "unordered"
    for finding in report["findings"]:
        example = finding["example"]
        assert isinstance(example["index"], int) and isinstance(example["id"], str)
    assert "unordered by created_at" in text.out and "null_not_nullable" in text.out


def test_send_test_message_is_off_unless_asked_and_writes_nothing(capsys: Any, router: Any) -> None:
    assert run_cli(capsys, *bot_args("bot-alpha"), "--no-probes").code == 0
    assert len(router.chatnode.leads("bot-alpha")) == 5
    assert not [e for e in router.chatnode.journal() if e["path"] == "/v1/bot-alpha"]


def test_send_test_message_finds_the_message_in_the_chat_history(capsys: Any, router: Any) -> None:
    run = run_cli(capsys, *bot_args("bot-alpha"), "--no-probes", "--send-test-message", "--json")
    assert run.code == 0, run.out
    operations = {c["operation"]: c for c in run.report["bots"][0]["operations"]}
    assert (operations["send"]["status"], operations["send"]["items_checked"]) == (200, 1)
    assert (operations["sent"]["status"], operations["sent"]["items_checked"]) == (200, 2)
    assert operations["sent"]["breaking_findings"] == 0
    (lead,) = router.chatnode.leads("bot-alpha")[5:]
    (sent,) = [e for e in router.chatnode.journal() if e["path"] == "/v1/bot-alpha"]
    assert sent["status"] == 200 and lead["session_id"].startswith("bot-alpha-")


def test_a_history_without_the_sent_message_is_breaking_drift(capsys: Any, router: Any) -> None:
    service = router.chatnode
    service.send_message = lambda bot, text, session=None, **kw: _forgetful(service, bot, text)
    run = run_cli(capsys, *bot_args("bot-alpha"), "--no-probes", "--send-test-message", "--json")
    assert run.code == 1
    kinds = {(f["operation"], f["kind"]) for f in run.report["findings"]}
    assert ("sent", "missing_sent_message") in kinds


def _forgetful(service: Any, bot: str, text: str) -> Any:
    """Send Message that answers but records the conversation under another session id."""
    exchange = type(service).send_message(service, bot, text)
    return type(exchange)(
        "elsewhere", exchange.question, exchange.answer, exchange.reply, exchange.lead
    )
