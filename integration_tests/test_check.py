"""`check` answers in seconds, for every bot, without reading a bot's leads.

A person runs `check` from Airbyte's setup form and waits for it: it sends each bot of `bot_ids`
one Get Chat History request for a session that does not exist, with no retries, and tells an
unreachable `base_url`, a bad key (401) and a bot the key may not read (403) apart. How long it
takes is measured, not asserted here (see docs/chatnode.md); what is asserted is that no request
is repeated and none reads leads.

The behaviour runs in process (`InProcessCheck`): `source-chatnode check --config FILE` as the
console script runs it, the source from `run.create_source` and the CDK entrypoint `launch`
drives (spec validation, secret filter, the manifest's `check.config_overrides`), without the
three seconds a process spends importing airbyte-cdk. A process remains where the process is
the point: the manifest-only runtime here, the `source-chatnode` console script in test_cli.py.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airbyte_cdk.models import ConfiguredAirbyteCatalogSerializer, Status
from airbyte_cdk.test.entrypoint_wrapper import read as read_in_process

from integration_tests.conftest import API_KEY, Connector, run_sdm
from integration_tests.connector_runner import ConnectorRun, configured_catalog
from integration_tests.in_process import run_entrypoint
from mock_server import faults
from mock_server.config import MockConfig
from mock_server.server import MockServer
from source_chatnode.components import CONNECTION_CHECK
from source_chatnode.run import create_source, declarative_source

READABLE = ("bot-alpha", "bot-big")
FORBIDDEN = "bot-beta"
SCOPED_KEY = "cn-live-scoped-1a2b3c4d"
"""A key that may read only READABLE (the mock's per-key bot permissions)."""
KEY_PAGE = "Team Settings > API Access"


@pytest.fixture
def scoped_api() -> Iterator[MockServer]:
    """Three bots, one of them big enough that reading its leads would show in the journal and
    the clock; the scoped key reads two of them."""
    config = MockConfig(
        api_keys={API_KEY: None, SCOPED_KEY: list(READABLE)},
        bots=(*READABLE, FORBIDDEN),
        leads_per_bot=3000,
        seed=3,
    )
    with MockServer(config) as server:
        yield server


@pytest.fixture
def connector(scoped_api: MockServer, tmp_path: Path) -> Connector:
    return Connector(scoped_api, tmp_path)


class InProcessCheck:
    """`source-chatnode check` on a config file, in this process: what `run.run` does, minus
    printing. An exception out of the entrypoint, which would make the process exit non-zero,
    fails the test: a failed check is a FAILED status, not a crash."""

    def __init__(
        self,
        connector: Connector,
        capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        self.connector = connector
        self.capsys = capsys
        self.caplog = caplog

    def __call__(self, bots: tuple[str, ...], **changes: Any) -> ConnectorRun:
        """The run as the process would report it: stdout the Airbyte messages `launch` prints,
        stderr every log record of the run (the process prints them as LOG messages) and
        whatever else reached stdout or stderr."""
        self.capsys.readouterr()
        self.caplog.clear()
        config = {**self.connector.config(bots), **changes}
        run = run_entrypoint(create_source, "check", self.connector.next_workdir(), config=config)
        assert run.returncode == 0, run.stderr
        captured = self.capsys.readouterr()
        run.stdout = "\n".join([run.stdout, captured.out])
        run.stderr = "\n".join([captured.err, self.caplog.text])
        for secret in (SCOPED_KEY, API_KEY):
            assert secret not in run.stdout + run.stderr, "the API key leaked"
        return run


@pytest.fixture
def check(
    connector: Connector, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> InProcessCheck:
    return InProcessCheck(connector, capsys, caplog)


def requests_made(server: MockServer) -> list[tuple[str, str | None]]:
    """(route, bot) of every API request, in order: `get-chats` or `get-conversation-ids`."""
    return [(entry["path"].rsplit("/", 2)[1], entry["bot"]) for entry in server.journal()]


def refused_port() -> int:
    """A local port nothing listens on: bound, then closed."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def assert_no_retry(run: ConnectorRun) -> None:
    """Neither a LOG message nor a log record of the run (in process, `stderr`) says it retried."""
    logs = " ".join([*(message["log"]["message"] for message in run.of_type("LOG")), run.stderr])
    assert "Retrying" not in logs and "backoff" not in logs.lower(), logs[-1000:]


def test_check_asks_about_every_bot_once_and_reads_no_leads(
    connector: Connector, check: InProcessCheck
) -> None:
    run = check(READABLE)
    assert run.connection_status == {"status": "SUCCEEDED"}
    assert requests_made(connector.server) == [("get-chats", bot) for bot in READABLE]


def test_check_names_the_one_bot_the_key_may_not_read_behind_a_good_one(
    connector: Connector, check: InProcessCheck
) -> None:
    run = check(("bot-alpha", FORBIDDEN, "bot-big"), api_key=SCOPED_KEY)
    status = run.connection_status
    assert status["status"] == "FAILED"
    assert f"bot '{FORBIDDEN}' (403)" in status["message"]
    assert "bot-alpha" not in status["message"] and "bot-big" not in status["message"]
    assert "401" not in status["message"]
    # Every bot was asked, once, the forbidden one included: no retry, no lead list.
    assert sorted(requests_made(connector.server)) == sorted(
        ("get-chats", bot) for bot in ("bot-alpha", FORBIDDEN, "bot-big")
    )


def test_check_tells_a_bad_key_from_a_forbidden_bot_and_says_where_keys_are_made(
    connector: Connector, check: InProcessCheck
) -> None:
    run = check(READABLE, api_key="cn-wrong-000000")
    status = run.connection_status
    assert status["status"] == "FAILED"
    assert "401" in status["message"] and "`api_key`" in status["message"]
    assert KEY_PAGE in status["message"]
    assert "403" not in status["message"]
    assert "cn-wrong-000000" not in run.stdout + run.stderr
    # A bad key is bad for every bot: the first answer ends the check.
    assert requests_made(connector.server) == [("get-chats", READABLE[0])]


def test_check_does_not_retry_a_server_error(connector: Connector, check: InProcessCheck) -> None:
    connector.server.inject(faults.status(503, route="chats"))
    run = check(READABLE)
    status = run.connection_status
    assert status["status"] == "FAILED"
    assert "503" in status["message"] and "again in a few minutes" in status["message"]
    assert requests_made(connector.server) == [("get-chats", READABLE[0])]
    assert_no_retry(run)


@pytest.mark.parametrize(
    ("base_url", "reason"),
    [
        (f"http://127.0.0.1:{refused_port()}/v1", "the connection was refused"),
        ("http://nonexistent.invalid/v1", "its host name could not be resolved"),
    ],
    ids=["refused-port", "unknown-host"],
)
def test_check_fails_at_once_naming_base_url_when_chatnode_cannot_be_reached(
    check: InProcessCheck, base_url: str, reason: str
) -> None:
    run = check(READABLE, base_url=base_url)
    status = run.connection_status
    assert status["status"] == "FAILED"
    origin = base_url.removesuffix("/v1")
    assert f"Could not reach ChatNode at {origin} (`base_url`): {reason}" in status["message"]
    assert "urllib3" not in status["message"] and "HTTPConnectionPool" not in status["message"]
    assert_no_retry(run)


def test_the_manifest_only_runtime_checks_every_bot_too(
    connector: Connector, isolated_env: dict[str, str]
) -> None:
    run = run_sdm(
        connector,
        "check",
        isolated_env,
        config={**connector.config(("bot-alpha", FORBIDDEN)), "api_key": SCOPED_KEY},
    )
    assert run.returncode == 0, "a failed check is a FAILED status, not a crash"
    assert SCOPED_KEY not in run.stdout + run.stderr
    assert run.connection_status["status"] == "FAILED"
    assert f"bot '{FORBIDDEN}' (403)" in run.connection_status["message"]
    assert all(route == "get-chats" for route, _ in requests_made(connector.server))


def test_a_sync_given_the_check_flag_fails_instead_of_reading_nothing(
    scoped_api: MockServer,
) -> None:
    config = {
        "api_key": API_KEY,
        "bot_ids": ["bot-alpha"],
        "base_url": scoped_api.base_url,
        CONNECTION_CHECK: True,
    }
    catalog = ConfiguredAirbyteCatalogSerializer.load(configured_catalog("full_refresh"))
    source = declarative_source(config=config, catalog=catalog)
    output = read_in_process(source, config, catalog, expecting_exception=True)
    assert not output.records
    messages = [error.trace.error.message for error in output.errors]
    assert any(
        f"`{CONNECTION_CHECK}` is set only by the connector's own check" in m for m in messages
    )


def test_a_base_url_that_is_no_url_is_named_plainly(scoped_api: MockServer) -> None:
    """In process: the same check path, for a `base_url` without its scheme."""
    config = {"api_key": API_KEY, "bot_ids": ["bot-alpha"], "base_url": "api.example.test/v1"}
    status = declarative_source(config=config).check(logging.getLogger("airbyte"), config)
    assert status.status == Status.FAILED
    assert "`base_url` does not make an http(s) URL" in str(status.message)
    assert "api.example.test/v1/get-chats/bot-alpha" in str(status.message)
    assert not scoped_api.journal()
