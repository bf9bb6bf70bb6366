"""airbyte-cdk's standard test suite for declarative sources, against the mock ChatNode API.

The suite reads `integration_tests/acceptance-test-config.yml`. Its config files are templates
without a `base_url`: the suite's mock takes a free loopback port, so the configs the suite reads
are written at test time, with the mock's address, into a folder of this test run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from airbyte_cdk.test.standard_tests.declarative_sources import DeclarativeSourceTestSuite
from boltons.typeutils import classproperty

from integration_tests.connector_runner import INTEGRATION_DIR, ROOT, configured_catalog, run_cli
from mock_server.config import MockConfig
from mock_server.server import MockServer

CONFIG_TEMPLATES = ("sample_config.json", "invalid_config.json")
SAMPLE_TEMPLATE = json.loads((INTEGRATION_DIR / "sample_config.json").read_text(encoding="utf-8"))
EXPECTED_RECORDS = INTEGRATION_DIR / "expected_records.jsonl"
SUITE_MOCK = MockConfig(
    api_keys={SAMPLE_TEMPLATE["api_key"]: None},
    bots=tuple(SAMPLE_TEMPLATE["bot_ids"]),
    leads_per_bot=20,
    seed=0,
)


@cache
def run_config_dir() -> Path:
    """This run's folder for the configs the suite reads (the mock's port is known only then)."""
    return Path(tempfile.mkdtemp(prefix="chatnode-standard-suite-"))


def write_run_configs(base_url: str) -> dict[str, dict[str, Any]]:
    """Each config template with the running mock's `base_url`, written where the suite reads it."""
    written = {}
    for name in CONFIG_TEMPLATES:
        config = json.loads((INTEGRATION_DIR / name).read_text(encoding="utf-8"))
        assert "base_url" not in config, f"{name} must not pin an address; the suite adds it"
        config["base_url"] = base_url
        (run_config_dir() / name).write_text(json.dumps(config), encoding="utf-8")
        written[name] = config
    return written


@pytest.fixture(scope="module", autouse=True)
def suite_mock() -> Iterator[MockServer]:
    with MockServer(SUITE_MOCK) as server:
        write_run_configs(server.base_url)
        yield server
    shutil.rmtree(run_config_dir(), ignore_errors=True)


@pytest.fixture
def sample_config(suite_mock: MockServer) -> dict[str, Any]:
    return {**SAMPLE_TEMPLATE, "base_url": suite_mock.base_url}


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
        """acceptance-test-config.yml, its config paths pointed at this run's written configs."""
        config = yaml.safe_load((INTEGRATION_DIR / "acceptance-test-config.yml").read_text())
        for section in config["acceptance_tests"].values():
            for test in section["tests"]:
                if "config_path" in test:
                    name = Path(test["config_path"]).name
                    assert name in CONFIG_TEMPLATES, f"unknown config template {name}"
                    test["config_path"] = str(run_config_dir() / name)
        return config

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
    sample_config: dict[str, Any], tmp_path: Path
) -> None:
    """expected_records.jsonl is regenerated from the seeded mock, never edited by hand."""
    run = run_cli(
        "read", tmp_path, config=sample_config, catalog=configured_catalog("full_refresh")
    )
    assert run.returncode == 0, run.error_messages
    expected = [json.loads(line)["data"] for line in EXPECTED_RECORDS.read_text().splitlines()]
    assert sorted(run.records, key=lambda r: (r["bot_id"], r["session_id"])) == expected


def test_abnormal_future_state_reads_no_dated_lead_and_keeps_its_cursor(
    sample_config: dict[str, Any], tmp_path: Path
) -> None:
    """The acceptance tests' future state: every cursor in 2099, so nothing is due yet."""
    state = json.loads((INTEGRATION_DIR / "abnormal_state.json").read_text(encoding="utf-8"))
    run = run_cli(
        "read",
        tmp_path,
        config=sample_config,
        catalog=configured_catalog("incremental"),
        state=state,
    )
    assert run.returncode == 0, run.error_messages
    assert run.records == []
    assert {bot: cursor[:4] for bot, cursor in run.bot_cursors().items()} == {
        bot: "2099" for bot in sample_config["bot_ids"]
    }
