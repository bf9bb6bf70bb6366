"""Shared by the checker's tests: running `chatnode-contract` the way a user does, through
`main()`, and reading what it printed.

Every run goes through `run_cli`, which fails the test if the API key shows up in stdout or
stderr, whatever the test is about.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chatnode_contract.cli import main
from chatnode_contract.report import Kind
from chatnode_spec import api_document, component_schema
from mock_server.config import MockConfig

KEY = "cn-live-7Hq2Zx9Wm4Rt-contract-test-secret"
BASE_URL = api_document()["servers"][0]["url"]
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


def spec_lead(**changes: Any) -> dict[str, Any]:
    """A lead made of the spec's own examples, changed as a test needs."""
    properties = component_schema("Conversation")["properties"]
    return {n: s["example"] for n, s in properties.items()} | changes


def spec_chat(**changes: Any) -> dict[str, Any]:
    """A chat message made of the spec's own examples, changed as a test needs."""
    properties = component_schema("Chat")["properties"]
    return {n: s["example"] for n, s in properties.items()} | changes


def findings(run: Run) -> set[tuple[str | None, str, str, str]]:
    return {
        (f["bot"] or f["probe"], f["field"], f["kind"], f["severity"])
        for f in run.report["findings"]
    }


def operation_findings(run: Run) -> set[tuple[str | None, str, str, str, str]]:
    """(bot or probe, operation, field, kind, severity) of every finding."""
    return {
        (f["bot"] or f["probe"], f["operation"], f["field"], f["kind"], f["severity"])
        for f in run.report["findings"]
    }


def assert_report_schema(report: dict[str, Any]) -> None:
    """The documented schema (`report.JSON_SCHEMA`), checked key by key and type by type."""
    assert report.keys() == {
        "schema_version", "base_url", "strict", "conforms", "breaking", "exit_code", "error",
        "bots", "probes", "findings",
    }  # fmt: skip
    assert report["schema_version"] == 2 and report["exit_code"] in (0, 1, 2)
    assert all(isinstance(report[k], bool) for k in ("strict", "conforms", "breaking"))
    assert report["error"] is None or report["error"].keys() == {"kind", "message"}
    for bot in report["bots"]:
        assert bot.keys() == {"bot", "breaking_findings", "additive_findings", "operations"}
        calls = bot["operations"]
        for severity in ("breaking_findings", "additive_findings"):
            assert bot[severity] == sum(call[severity] for call in calls)
        for call in calls:
            assert call.keys() == {
                "operation", "call", "status", "skipped", "item", "items_checked", "order",
                "timestamp_forms", "breaking_findings", "additive_findings",
            }  # fmt: skip
            assert call["skipped"] is None or (call["status"] is None and call["skipped"])
            _assert_order_and_forms(call)
    for probe in report["probes"]:
        assert probe.keys() == {
            "probe", "description", "expected_status", "status", "breaking_findings",
            "additive_findings", "operation",
        }  # fmt: skip
    for finding in report["findings"]:
        assert finding.keys() == {
            "bot", "probe", "operation", "field", "kind", "severity", "count", "detail",
            "example",
        }  # fmt: skip
        assert (finding["bot"] is None) != (finding["probe"] is None)
        assert finding["severity"] == Kind(finding["kind"]).severity and finding["count"] >= 1
        assert finding["example"].keys() == {"index", "id", "value"}


def _assert_order_and_forms(call: dict[str, Any]) -> None:
    assert call["order"].keys() == {"field", "direction", "steps_up", "steps_down"}
    assert call["order"]["direction"] in ("ascending", "descending", "unordered", "n/a")
    for forms in call["timestamp_forms"].values():
        assert list(forms["fraction_digits"]) == ["0", "1", "2", "3", "4", "5", "6+"]
        assert list(forms["offsets"]) == ["Z", "+00:00", "other"]
        assert isinstance(forms["unparseable"], int)
