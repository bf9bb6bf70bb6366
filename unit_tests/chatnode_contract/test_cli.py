"""`chatnode-contract` on the command line: flags, the key from the environment, usage errors
(exit 2), `--help`, and the program run as a module and as the installed console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from chatnode_contract.calls import CHECKED_OPERATIONS, PROBES
from chatnode_contract.checker import API_KEY_ENV
from chatnode_contract.report import JSON_SCHEMA, Kind
from mock_server.server import MockServer
from unit_tests.chatnode_contract.runs import (
    KEY,
    REPO_ROOT,
    assert_report_schema,
    bot_args,
    mock_config,
    run_cli,
)


def test_an_api_key_from_the_environment_works(
    capsys: Any, router: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(API_KEY_ENV, KEY)
    assert run_cli(capsys, *bot_args("bot-alpha"), key=None).code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "--bot"),
        (["--bot", "a/b"], "has no '/'"),
        (["--bot", "a", "--timeout", "0"], "more than 0 seconds"),
        (["--bot", "a", "--timeout", "nan"], "more than 0 seconds"),
        (["--bot", "a", "--timeout", "soon"], "invalid float value: 'soon'"),
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


def test_help_documents_options_calls_kinds_exit_codes_the_json_and_examples(capsys: Any) -> None:
    run = run_cli(capsys, "--help", key=None)
    assert run.code == 0
    shown = " ".join(run.out.split())  # a table cell may wrap
    for text in ("--base-url", "--api-key", "--bot", "--json", "--strict", "--timeout", "--no-probes",
                 "--send-test-message", API_KEY_ENV, "exit codes (code, when):", "examples:", "python -m chatnode_contract",
                 *(c.title for c in CHECKED_OPERATIONS), *(p.name for p in PROBES),
                 *Kind, "ASSUMED", "WRITES INTO THE LIVE ACCOUNT"):  # fmt: skip
        assert text in shown, text
    assert " ".join(JSON_SCHEMA.split()) in shown
    assert "mock_server" not in run.out


def test_the_cli_runs_as_a_module_with_the_key_from_the_environment() -> None:
    with MockServer(mock_config()) as mock:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "chatnode_contract",
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
