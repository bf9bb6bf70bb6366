"""airbyte-cdk's standard test suite for declarative sources, against the mock ChatNode API.

The suite reads `integration_tests/acceptance-test-config.yml`. Its config files are templates
without a `base_url`: the suite's mock takes a free loopback port, so the configs the suite reads
are written at test time, with the mock's address, into a folder of this test run. The two
checks of the suite's pinned files read in process, as the console script builds the source.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from airbyte_cdk.test.standard_tests.declarative_sources import DeclarativeSourceTestSuite
from boltons.typeutils import classproperty

from integration_tests.conftest import canonical, served_records
from integration_tests.connector_runner import (
    INTEGRATION_DIR,
    ROOT,
    bot_cursors_of,
    configured_catalog,
    primary_key,
    state_stream,
)
from integration_tests.in_process import run_entrypoint
from mock_server.config import MockConfig
from mock_server.server import MockServer
from source_chatnode.run import create_source

CONFIG_TEMPLATES = ("sample_config.json", "invalid_config.json")
SAMPLE_TEMPLATE = json.loads((INTEGRATION_DIR / "sample_config.json").read_text(encoding="utf-8"))
EXPECTED_RECORDS = INTEGRATION_DIR / "expected_records.jsonl"
STREAMS = ("leads", "chats")
"""The streams of configured_catalog.json, which the suite reads."""
SUITE_MOCK = MockConfig(
    api_keys={SAMPLE_TEMPLATE["api_key"]: None},
    bots=tuple(SAMPLE_TEMPLATE["bot_ids"]),
    leads_per_bot=20,
    seed=0,
    messages_per_session=(0, 3),
)
EMITTED_AT = 1_700_000_000_000
"""expected_records.jsonl's fixed `emitted_at`: the records are compared without it."""
REGENERATE = "uv run --frozen python -m integration_tests.test_standard_suite"


def run_config_dir() -> Path:
    """This process's folder for the configs the suite reads (the mock's port is known only
    then). Named, not made, at collection: every pytest worker collects this module, and only
    the one that runs it creates the folder and removes it again."""
    return Path(tempfile.gettempdir()) / f"chatnode-standard-suite-{os.getpid()}"


def write_run_configs(base_url: str) -> None:
    """Each config template with the running mock's `base_url`, written where the suite reads it."""
    run_config_dir().mkdir(exist_ok=True)
    for name in CONFIG_TEMPLATES:
        config = json.loads((INTEGRATION_DIR / name).read_text(encoding="utf-8"))
        assert "base_url" not in config, f"{name} must not pin an address; the suite adds it"
        config["base_url"] = base_url
        (run_config_dir() / name).write_text(json.dumps(config), encoding="utf-8")


@pytest.fixture(scope="module", autouse=True)
def suite_mock(chatnode_mock_factory: Callable[..., MockServer]) -> Iterator[MockServer]:
    server = chatnode_mock_factory(SUITE_MOCK)
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


def expected_record_lines(server: MockServer) -> list[str]:
    """expected_records.jsonl as the suite mock serves it: stream by stream, each stream's
    records sorted by primary key."""
    lines = []
    for stream in STREAMS:
        key = primary_key(stream)
        records = served_records(server, stream, SAMPLE_TEMPLATE["bot_ids"])
        for record in sorted(records, key=lambda record: tuple(record[part] for part in key)):
            line = {"stream": stream, "data": record, "emitted_at": EMITTED_AT}
            lines.append(json.dumps(line))
    return lines


def test_expected_records_are_what_the_suite_mock_serves_and_the_connector_reads(
    suite_mock: MockServer, sample_config: dict[str, Any], tmp_path: Path
) -> None:
    """expected_records.jsonl is generated from the seeded mock (`REGENERATE`), never edited by
    hand, and a full read of both streams emits exactly its records."""
    lines = EXPECTED_RECORDS.read_text(encoding="utf-8").splitlines()
    assert lines == expected_record_lines(suite_mock), f"stale: regenerate with `{REGENERATE}`"
    expected = [json.loads(line) for line in lines]
    assert {line["stream"] for line in expected} == set(STREAMS)
    catalog = configured_catalog("full_refresh", STREAMS)
    run = run_entrypoint(create_source, "read", tmp_path, config=sample_config, catalog=catalog)
    assert run.returncode == 0, run.error_messages
    for stream in STREAMS:
        pinned = [line["data"] for line in expected if line["stream"] == stream]
        assert canonical(run.records_of(stream)) == canonical(pinned), stream


def test_abnormal_future_state_reads_no_dated_record_and_keeps_its_cursors(
    sample_config: dict[str, Any], tmp_path: Path
) -> None:
    """The acceptance tests' future state: every cursor of both streams in 2099, so nothing is
    due yet."""
    state = json.loads((INTEGRATION_DIR / "abnormal_state.json").read_text(encoding="utf-8"))
    assert [state_stream(message) for message in state] == list(STREAMS)
    run = run_entrypoint(
        create_source,
        "read",
        tmp_path,
        config=sample_config,
        catalog=configured_catalog("incremental", STREAMS),
        state=state,
    )
    assert run.returncode == 0, run.error_messages
    assert run.records == []
    for stream in STREAMS:
        assert {bot: cursor[:4] for bot, cursor in run.bot_cursors(stream).items()} == {
            bot: "2099" for bot in sample_config["bot_ids"]
        }
    assert all(
        cursor.startswith("2099")
        for message in state
        for cursor in bot_cursors_of(message).values()
    )


def regenerate_expected_records() -> None:
    """Write expected_records.jsonl from the suite mock's seeded data (no server needed)."""
    lines = expected_record_lines(MockServer(SUITE_MOCK))
    EXPECTED_RECORDS.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    regenerate_expected_records()
