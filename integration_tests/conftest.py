"""Fixtures for driving the connector end to end against the mock ChatNode API over real HTTP."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
import pytest

from integration_tests.connector_runner import ROOT, ConnectorRun, connector_config, run_cli
from mock_server.server import MockServer

BOTS = ("bot-alpha", "bot-beta")
API_KEY = "cn-live-9f8e7d6c5b4a"
"""A key that looks real, so a leak into any output would be caught by `assert_no_secret`."""
MOCK_DEFAULTS = {"api_keys": {API_KEY: None}, "bots": BOTS, "leads_per_bot": 40, "seed": 7}
"""The mock every integration test gets from the shipped plugin's `chatnode_mock` fixture unless
its own `@pytest.mark.chatnode_mock(...)` says otherwise: two bots of 40 leads each."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give each integration module `MOCK_DEFAULTS` as its outermost `chatnode_mock` marker, so
    the module's and the test's own markers override it key by key."""
    here = Path(__file__).resolve().parent
    modules = {item.getparent(pytest.Module) for item in items if here in item.path.parents}
    for module in modules:
        if module is not None:
            # Last in the module's own markers: the plugin applies markers farthest first, and
            # reads a node's own markers from the last, so this one comes before them all.
            module.add_marker(pytest.mark.chatnode_mock(**MOCK_DEFAULTS))


class Connector:
    """The `source-chatnode` CLI bound to one mock server and a scratch folder."""

    def __init__(self, server: MockServer, workdir: Path) -> None:
        self.server = server
        self.workdir = workdir
        self._runs = 0

    def config(self, bot_ids: tuple[str, ...] | list[str] = BOTS, **extra: Any) -> dict[str, Any]:
        return connector_config(self.server.base_url, API_KEY, bot_ids, **extra)

    def next_workdir(self, label: str = "run") -> Path:
        """A fresh folder for one run's input files, so no run sees another's."""
        self._runs += 1
        return self.workdir / f"{label}{self._runs}"

    def run(self, command: str, **inputs: Any) -> ConnectorRun:
        result = run_cli(command, self.next_workdir(), **inputs)
        assert_no_secret(result)
        return result


def served_records(server: MockServer, stream: str, bots: Iterable[str]) -> list[dict[str, Any]]:
    """What a read of `stream` must emit for these bots, from what the mock serves now: each
    lead, or each message of every session of the bot's leads, as sent plus `bot_id`, top-level
    nulls left out (the CDK does not serialise them)."""
    records = []
    for bot in bots:
        leads = server.leads(bot)
        if stream == "leads":
            served = leads
        elif stream == "chats":
            sessions = list(dict.fromkeys(lead["session_id"] for lead in leads))
            served = server.chats(bot, sessions) if sessions else []
        else:
            raise ValueError(f"no stream {stream!r}")
        records += [
            {**{k: v for k, v in item.items() if v is not None}, "bot_id": bot} for item in served
        ]
    return records


def canonical(records: Iterable[dict[str, Any]]) -> list[bytes]:
    """Records as sorted canonical JSON: equal lists mean the same records, each as often."""
    return sorted(orjson.dumps(record, option=orjson.OPT_SORT_KEYS) for record in records)


def chats_requests(server: MockServer, bot: str) -> list[dict[str, Any]]:
    """The journal entries of the bot's Get Chat History requests."""
    return [
        entry
        for entry in server.journal()
        if entry["bot"] == bot and "/get-chats/" in entry["path"]
    ]


WARNINGS_SHOWN = {"PYTHONWARNINGS": "default"}
"""Every warning printed (once per place), as Meltano runs its plugins: stdout must stay pure."""


def assert_pure_protocol(run: ConnectorRun, command: str) -> None:
    """Every stdout line is an Airbyte message: a JSON object with a `type`."""
    for number, line in enumerate(run.stdout.splitlines(), start=1):
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            pytest.fail(f"{command}: stdout line {number} is not JSON: {line[:200]!r}")
        assert isinstance(message, dict) and "type" in message, f"{command}: {line[:200]!r}"


def assert_no_secret(run: ConnectorRun) -> None:
    assert API_KEY not in run.stdout, "the API key leaked to stdout"
    assert API_KEY not in run.stderr, "the API key leaked to stderr"


@pytest.fixture
def connector(chatnode_mock: MockServer, tmp_path: Path) -> Connector:
    return Connector(chatnode_mock, tmp_path)


SDM = (str(Path(sys.executable).with_name("source-declarative-manifest")),)
"""Airbyte's manifest-only runtime, as the platform runs our manifest."""
MANIFEST = ROOT / "source_chatnode" / "manifest.yaml"
COMPONENTS = ROOT / "source_chatnode" / "components.py"


@pytest.fixture
def isolated_env(tmp_path: Path) -> dict[str, str]:
    """PYTHONPATH that makes our own packages unimportable, and custom code allowed: on the
    platform the image holds airbyte-cdk, `manifest.yaml` and `components.py`, nothing else."""
    blockers = tmp_path / "not-in-the-image"
    for package in ("source_chatnode", "mock_server"):
        (blockers / package).mkdir(parents=True)
        (blockers / package / "__init__.py").write_text(
            f"raise ImportError('{package} is not installed in source-declarative-manifest')\n"
        )
    return {"PYTHONPATH": str(blockers), "AIRBYTE_ENABLE_UNSAFE_CODE": "true", **WARNINGS_SHOWN}


def run_sdm(connector: Connector, command: str, env: dict[str, str], **inputs: Any) -> ConnectorRun:
    """One command of `source-declarative-manifest` over our manifest and components; its
    stdout must be pure protocol (`isolated_env` shows warnings)."""
    run = run_cli(
        command,
        connector.next_workdir("sdm"),
        executable=SDM,
        extra_args=["--manifest-path", str(MANIFEST), "--components-path", str(COMPONENTS)],
        env=env,
        **inputs,
    )
    assert_pure_protocol(run, f"source-declarative-manifest {command}")
    return run
