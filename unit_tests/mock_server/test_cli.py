"""`chatnode-mock-server` as a user runs it: a subprocess on a free port, stopped by SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from mock_server.cli import ADMIN_TOKEN_ENV, build_parser, config_from_args, main
from mock_server.config import MockConfig
from unit_tests.mock_process import mock_server_process


@contextmanager
def running(*args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    with mock_server_process(
        [sys.executable, "-m", "mock_server", "--port", "0", *args]
    ) as started:
        yield started


def test_serves_what_the_flags_say_then_stops_cleanly_on_sigterm() -> None:
    """One process for every flag that shapes what is served: keys and bots, leads, messages per
    session, faults per route (a zero Retry-After kept), the admin token; then SIGTERM."""
    flags = ["--leads", "3", "--bot", "b1", "--api-key", "k:b1", "--seed", "3", "--messages", "4",
             "--fault", "429:retry_after=0:times=1:route=leads", "--fault", "502:route=chats:times=1",
             "--admin-token", "admin-s3cret"]  # fmt: skip
    with running(*flags) as (process, url):
        headers = {"Authorization": "Bearer k"}
        leads_url, chats = f"{url}/get-conversation-ids/b1", f"{url}/get-chats/b1"
        limited = httpx.post(leads_url, headers=headers)
        assert limited.status_code == 429 and limited.headers["retry-after"] == "0"
        ids = [lead["session_id"] for lead in httpx.post(leads_url, headers=headers).json()]
        assert len(ids) == 3
        assert httpx.post(chats, headers=headers, json=ids).status_code == 502
        messages = httpx.post(chats, headers=headers, json=ids).json()
        assert [m["session_id"] for m in messages] == [s for s in ids for _ in range(4)]
        health = url.removesuffix("/v1") + "/_admin/health"
        assert httpx.get(health).status_code == 401
        assert httpx.get(health, headers={"Authorization": "Bearer admin-s3cret"}).is_success
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
        _, stderr = process.communicate()
        assert "Traceback" not in stderr


def test_sigint_stops_it_too() -> None:
    with running() as (process, _):
        process.send_signal(signal.SIGINT)
        assert process.wait(15) == 0


def test_flags_build_the_config() -> None:
    args = build_parser().parse_args(
        ["--api-key", "a", "--api-key", "b:x,y", "--bot", "x", "--bot", "y", "--leads", "5",
         "--seed", "9", "--quirks", "--fault", "drop:bot=x", "--fault", "latency=0.5",
         "--messages", "3-12", "--fault", "500:route=chats"]
    )  # fmt: skip
    config = config_from_args(args)
    assert dict(config.api_keys) == {"a": None, "b": frozenset({"x", "y"})}
    assert config.bots == ("x", "y") and config.leads_per_bot == 5 and config.seed == 9
    assert config.quirks and [f.kind for f in config.faults] == [
        "drop",
        "latency",
        "status",
    ]
    assert config.faults[2].route == "chats"
    assert config.messages_per_session == (3, 12)
    assert config.host == "127.0.0.1" and config.port == 0
    assert config_from_args(
        build_parser().parse_args(["--messages", "100"])
    ).messages_per_session == (100, 100)


def test_no_flags_is_mock_configs_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ADMIN_TOKEN_ENV, raising=False)
    assert config_from_args(build_parser().parse_args([])) == MockConfig()


def test_admin_token_from_flag_or_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    args = ["--host", "0.0.0.0", "--admin-token", "flag-token"]
    assert config_from_args(build_parser().parse_args(args)).admin_token == "flag-token"
    monkeypatch.setenv(ADMIN_TOKEN_ENV, "env-token")
    config = config_from_args(build_parser().parse_args(["--host", "0.0.0.0"]))
    assert (config.host, config.admin_token) == ("0.0.0.0", "env-token")
    assert config_from_args(build_parser().parse_args(args)).admin_token == "flag-token"


def test_help_documents_every_flag_and_the_fault_syntax(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit, match="0") as info:
        main(["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--host", "--port", "--api-key", "--bot", "--leads", "--seed", "--quirks",
                 "--fault", "--log-level", "--allow-request-body", "--validate-responses",
                 "--admin-token", ADMIN_TOKEN_ENV, "retry_after", "times=N", "p=FRACTION",
                 "examples", "--messages N|MIN-MAX", "(default 0-8)", "route=leads|chats",
                 "/v1/get-chats/{bot_id}", "refused (exit 2)", "docs/sandbox.md",
                 "/_admin/bots/{bot_id}/sessions/{session_id}/messages", "DELETE /_admin/faults",
                 "latency=SECONDS", "non_object"):  # fmt: skip
        assert flag in " ".join(text.split()), flag


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["--fault", "teapot"], "unknown kind"), (["--api-key", ":x"], "empty key"),
     (["--leads", "-1"], "leads_per_bot"), (["--admin-token", ""], "admin_token must not be empty"),
     (["--host", "::", "--port", "0"], "--admin-token"), (["--messages", "8-2"], "need 0 <= MIN <= MAX"),
     (["--messages", "lots"], "use N or MIN-MAX"), (["--fault", "500:route=x"], "route=leads|chats|send|auth")],
)  # fmt: skip
def test_bad_flags_exit_2_with_a_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ADMIN_TOKEN_ENV, raising=False)
    with pytest.raises(SystemExit, match="2") as info:
        main(argv)
    assert info.value.code == 2 and message in capsys.readouterr().err
