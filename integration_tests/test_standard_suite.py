"""airbyte-cdk's standard test suite for declarative sources, against the mock ChatNode API.

The suite reads `integration_tests/acceptance-test-config.yml`; its configs point at a mock on a
fixed loopback port (the config files are static, as Airbyte's acceptance tests expect).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from airbyte_cdk.test.standard_tests.declarative_sources import DeclarativeSourceTestSuite
from boltons.typeutils import classproperty

from integration_tests.connector_runner import INTEGRATION_DIR, ROOT, configured_catalog, run_cli
from mock_server.config import MockConfig
from mock_server.server import MockServer

SAMPLE_CONFIG = json.loads((INTEGRATION_DIR / "sample_config.json").read_text(encoding="utf-8"))
EXPECTED_RECORDS = INTEGRATION_DIR / "expected_records.jsonl"
SUITE_MOCK = MockConfig(
    port=int(SAMPLE_CONFIG["base_url"].split(":")[2].split("/")[0]),
    api_keys={SAMPLE_CONFIG["api_key"]: None},
    bots=tuple(SAMPLE_CONFIG["bot_ids"]),
    leads_per_bot=20,
    seed=0,
)


@pytest.fixture(scope="module", autouse=True)
def suite_mock() -> Iterator[MockServer]:
    with MockServer(SUITE_MOCK) as server:
        yield server


class TestChatNodeStandardSuite(DeclarativeSourceTestSuite):
    """The CDK's spec/check/discover/read scenarios, driven by acceptance-test-config.yml."""

    @classmethod
    def get_connector_root_dir(cls) -> Path:
        return ROOT

    @classproperty
    def manifest_yaml_path(cls) -> Path:
        return ROOT / "source_chatnode" / "manifest.yaml"

    @classproperty
    def components_py_path(cls) -> Path:
        return ROOT / "source_chatnode" / "components.py"

    @classproperty
    def acceptance_test_config(cls) -> Any:
        return yaml.safe_load((INTEGRATION_DIR / "acceptance-test-config.yml").read_text())

    @pytest.fixture(autouse=True)
    def _skip_image_tests_without_a_docker_engine(self, request: pytest.FixtureRequest) -> None:
        """The image tests need a running Docker engine, not only the `docker` client."""
        if request.node.name.startswith("test_docker_image") and not docker_engine_running():
            pytest.skip("no Docker engine reachable: the image build tests need one")


def docker_engine_running() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    probe = subprocess.run([docker, "info"], capture_output=True, timeout=30, check=False)
    return probe.returncode == 0


def test_expected_records_are_what_the_suite_mock_serves(
    suite_mock: MockServer, tmp_path: Path
) -> None:
    """expected_records.jsonl is regenerated from the seeded mock, never edited by hand."""
    run = run_cli(
        "read", tmp_path, config=SAMPLE_CONFIG, catalog=configured_catalog("full_refresh")
    )
    assert run.returncode == 0, run.error_messages
    expected = [json.loads(line)["data"] for line in EXPECTED_RECORDS.read_text().splitlines()]
    assert sorted(run.records, key=lambda r: (r["bot_id"], r["session_id"])) == expected


def test_abnormal_future_state_reads_no_dated_lead_and_keeps_its_cursor(
    suite_mock: MockServer, tmp_path: Path
) -> None:
    """The acceptance tests' future state: every cursor in 2099, so nothing is due yet."""
    state = json.loads((INTEGRATION_DIR / "abnormal_state.json").read_text(encoding="utf-8"))
    run = run_cli(
        "read",
        tmp_path,
        config=SAMPLE_CONFIG,
        catalog=configured_catalog("incremental"),
        state=state,
    )
    assert run.returncode == 0, run.error_messages
    assert run.records == []
    assert {bot: cursor[:4] for bot, cursor in run.bot_cursors().items()} == {
        bot: "2099" for bot in SAMPLE_CONFIG["bot_ids"]
    }
