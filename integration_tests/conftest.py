"""Fixtures for driving the connector end to end against the mock ChatNode API over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from integration_tests.connector_runner import ConnectorRun, connector_config, run_cli
from mock_server.config import MockConfig
from mock_server.server import MockServer

BOTS = ("bot-alpha", "bot-beta")
API_KEY = "cn-live-9f8e7d6c5b4a"
"""A key that looks real, so a leak into any output would be caught by `assert_no_secret`."""


@pytest.fixture
def mock_api() -> Iterator[MockServer]:
    """A fresh mock with two bots of 40 leads each, for one test."""
    with MockServer(
        MockConfig(api_keys={API_KEY: None}, bots=BOTS, leads_per_bot=40, seed=7)
    ) as server:
        yield server


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


def assert_no_secret(run: ConnectorRun) -> None:
    assert API_KEY not in run.stdout, "the API key leaked to stdout"
    assert API_KEY not in run.stderr, "the API key leaked to stderr"


@pytest.fixture
def connector(mock_api: MockServer, tmp_path: Path) -> Connector:
    return Connector(mock_api, tmp_path)
