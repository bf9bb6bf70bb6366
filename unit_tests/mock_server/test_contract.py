"""`chatnode-contract` used the way a user runs it: through `main()` and as a subprocess, against
the respx router in-process and the live mock server over real HTTP.

Every run goes through `run_cli`, which fails the test if the API key shows up in stdout or
stderr, whatever the test is about.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from mock_server import contract, faults, spec
from mock_server.config import MockConfig
from mock_server.contract import (
    API_KEY_ENV,
    CheckConfig,
    OpenAPIRequest,
    OpenAPIResponse,
    _core_findings,
    main,
    redact,
)
from mock_server.drift import Kind
from mock_server.respx_router import chatnode_respx_router
from mock_server.server import MockServer

KEY = "cn-live-7Hq2Zx9Wm4Rt-contract-test-secret"
BASE_URL = spec.spec_document()["servers"][0]["url"]
BOTS = ("bot-alpha", "bot-beta")
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    @property
    def report(self) -> dict[str, Any]:
        return json.loads(self.out)


def run_cli(capsys: pytest.CaptureFixture[str], *args: str, key: str | None = KEY) -> Run:
    """`main()` with these arguments (and `--api-key` unless key is None); the key must never
    appear in what it prints."""
    argv = [*args, *(["--api-key", key] if key is not None else [])]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's usage errors and --help
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    for secret in {KEY, key} - {None}:
        assert secret not in captured.out and secret not in captured.err
    return Run(code, captured.out, captured.err)


def bot_args(*bots: str, base_url: str = BASE_URL) -> list[str]:
    return ["--base-url", base_url, *(a for b in bots for a in ("--bot", b))]


def mock_config(**overrides: Any) -> MockConfig:
    return MockConfig(**{"api_keys": {KEY: None}, "leads_per_bot": 5, **overrides})


@pytest.fixture
def router() -> Iterator[Any]:
    """The mock API in-process at ChatNode's real base URL, with KEY reading every bot."""
    with chatnode_respx_router(mock_config()) as mocked:
        yield mocked


def spec_lead(**changes: Any) -> dict[str, Any]:
    """A lead made of the spec's own examples, changed as a test needs."""
    return {n: s["example"] for n, s in spec.conversation_schema()["properties"].items()} | changes


def findings(run: Run) -> set[tuple[str | None, str, str, str]]:
    return {
        (f["bot"] or f["probe"], f["field"], f["kind"], f["severity"])
        for f in run.report["findings"]
    }


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


def test_an_api_key_from_the_environment_works(
    capsys: Any, router: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(API_KEY_ENV, KEY)
    assert run_cli(capsys, *bot_args("bot-alpha"), key=None).code == 0


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
    monkeypatch.setattr(contract, "_unknown_bot_id", lambda: "ghost")
    arrange(router.chatnode)
    run = run_cli(capsys, *bot_args("bot-alpha"), "--json")
    assert run.code == 1
    assert findings(run) == {("unknown_bot", "(status)", kind, "breaking")}
    probe = next(p for p in run.report["probes"] if p["probe"] == "unknown_bot")
    assert probe["expected_status"] == 403 and probe["status"] != 403


def test_openapi_core_errors_drift_cannot_place_still_count_as_breaking() -> None:
    """The safety net: with nothing explained, openapi-core's own errors become findings."""
    base = httpx.URL(BASE_URL)
    request = httpx.Request(
        "POST", f"{BASE_URL}/get-conversation-ids/b", headers={"Authorization": "Bearer x"}
    )
    body = orjson.dumps([spec_lead(for_agent="yes"), spec_lead(for_agent="no")])
    response = httpx.Response(200, content=body, headers={"content-type": "application/json"})
    errors = list(
        spec.openapi().iter_response_errors(
            OpenAPIRequest(request, base), OpenAPIResponse(response)
        )
    )
    [found] = _core_findings(errors, [])
    assert (found.kind, found.field, found.count, found.example_index) == (
        Kind.SCHEMA_VIOLATION,
        "for_agent",
        2,
        0,
    )
    assert "yes" not in found.detail


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


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "--bot"),
        (["--bot", "a/b"], "has no '/'"),
        (["--bot", "a", "--timeout", "0"], "more than 0 seconds"),
        (["--bot", "a", "--timeout", "soon"], "not a number"),
        (["--bot", "a", "--base-url", "ftp://example.com/v1"], "http(s) URL"),
    ],
)
def test_usage_errors_exit_2(capsys: Any, args: list[str], message: str) -> None:
    run = run_cli(capsys, *args)
    assert run.code == 2 and message in run.err


def test_no_key_at_all_is_a_usage_error(capsys: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    run = run_cli(capsys, "--bot", "a", key=None)
    assert run.code == 2 and API_KEY_ENV in run.err


def test_the_key_is_redacted_from_any_message_and_from_the_config_repr() -> None:
    assert redact(f"boom: Authorization: Bearer {KEY}", KEY) == "boom: Authorization: Bearer ***"
    assert KEY not in repr(CheckConfig(BASE_URL, KEY, ("a",)))


def test_help_documents_options_exit_codes_and_examples(capsys: Any) -> None:
    run = run_cli(capsys, "--help", key=None)
    assert run.code == 0
    for text in ("--base-url", "--api-key", "--bot", "--json", "--strict", "--timeout", "--no-probes",
                 API_KEY_ENV, "exit codes:", "examples:", "additive", "breaking", "403"):  # fmt: skip
        assert text in run.out, text


# --- JSON schema -----------------------------------------------------------------------------


def assert_report_schema(report: dict[str, Any]) -> None:
    """The documented schema (contract_report.py), checked key by key and type by type."""
    assert report.keys() == {
        "schema_version", "base_url", "strict", "conforms", "breaking", "exit_code", "error",
        "bots", "probes", "findings",
    }  # fmt: skip
    assert report["schema_version"] == 1 and report["exit_code"] in (0, 1, 2)
    assert all(isinstance(report[k], bool) for k in ("strict", "conforms", "breaking"))
    assert report["error"] is None or report["error"].keys() == {"kind", "message"}
    for bot in report["bots"]:
        assert bot.keys() == {
            "bot", "status", "leads_checked", "order", "timestamp_forms", "breaking_findings",
            "additive_findings",
        }  # fmt: skip
        assert bot["order"].keys() == {"field", "direction", "steps_up", "steps_down"}
        assert bot["order"]["direction"] in ("ascending", "descending", "unordered", "n/a")
        for forms in bot["timestamp_forms"].values():
            assert list(forms["fraction_digits"]) == ["0", "1", "2", "3", "4", "5", "6+"]
            assert list(forms["offsets"]) == ["Z", "+00:00", "other"]
            assert isinstance(forms["unparseable"], int)
    for probe in report["probes"]:
        assert probe.keys() == {
            "probe", "description", "expected_status", "status", "breaking_findings",
            "additive_findings",
        }  # fmt: skip
    for finding in report["findings"]:
        assert finding.keys() == {
            "bot", "probe", "field", "kind", "severity", "count", "detail", "example",
        }  # fmt: skip
        assert (finding["bot"] is None) != (finding["probe"] is None)
        assert finding["kind"] in {k.value for k in Kind}
        assert finding["severity"] in ("breaking", "additive") and finding["count"] >= 1
        assert finding["example"].keys() == {"index", "id", "value"}


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
    schema = spec.conversation_schema()
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


def test_the_cli_runs_as_a_module_with_the_key_from_the_environment() -> None:
    with MockServer(mock_config()) as mock:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "mock_server.contract",
                *bot_args("bot-alpha", base_url=mock.base_url),
                "--json",
            ],
            env={**os.environ, API_KEY_ENV: KEY},
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    assert KEY not in done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert_report_schema(report)
    assert report["conforms"] is True


def test_the_console_script_is_installed_and_documents_itself() -> None:
    script = Path(sys.executable).parent / "chatnode-contract"
    done = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0 and "usage: chatnode-contract" in done.stdout
