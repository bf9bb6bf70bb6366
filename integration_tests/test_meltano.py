"""Meltano's own CLI runs `examples/meltano/meltano.yml` end to end against the mock:
`meltano install`, then `meltano run tap-chatnode target-jsonl` twice, the second from the state
Meltano stored after the first.

Meltano's pins conflict with the dev environment, so it lives in its own venv under `.cache/`
(built here with uv from `examples/meltano/requirements.txt`, reused while that file is
unchanged). Meltano installs the tap from this repository (`pip_url`) and target-jsonl from PyPI
into plugin venvs under the test's temporary folder, with its system database (and so the
state) beside them. Marked `meltano`: `make test-meltano` runs it, `make test` does not.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from integration_tests.conftest import canonical, served_records
from integration_tests.connector_runner import ROOT
from mock_server.server import MockServer

# A cold first run (Meltano's venv, then both plugin venvs) takes minutes on two cores.
pytestmark = [pytest.mark.meltano, pytest.mark.timeout(900)]

EXAMPLE = ROOT / "examples" / "meltano"
REQUIREMENTS = EXAMPLE / "requirements.txt"
MELTANO_VENV = ROOT / ".cache" / "meltano-venv"
BOTS = ("bot-alpha", "bot-beta")
"""The bots `meltano.yml` configures."""
SECRET = "cn-live-0a1b2c3d4e5f"
KEYS = {"leads": ("bot_id", "session_id"), "chats": ("bot_id", "id")}


def uv_command() -> list[str]:
    """uv as the Makefile finds it: on PATH, else the module `make install` bootstraps."""
    found = shutil.which("uv")
    return [found] if found else ["python3", "-m", "uv"]


def meltano_executable() -> Path:
    """Meltano in its own venv, built once and rebuilt when the pinned requirements change."""
    stamp = MELTANO_VENV / "requirements.installed"
    wanted = REQUIREMENTS.read_text(encoding="utf-8")
    meltano = MELTANO_VENV / "bin" / "meltano"
    if meltano.exists() and stamp.exists() and stamp.read_text(encoding="utf-8") == wanted:
        return meltano
    shutil.rmtree(MELTANO_VENV, ignore_errors=True)
    uv = uv_command()
    # The interpreter running the tests: present on every machine that runs them (uv would
    # otherwise try to download one for a version it cannot find).
    subprocess.run(
        [*uv, "venv", "--quiet", "--python", sys.executable, str(MELTANO_VENV)], check=True
    )
    # --python names the venv: `python3 -m uv pip` would otherwise install into python3 itself.
    python = str(MELTANO_VENV / "bin" / "python")
    subprocess.run(
        [*uv, "pip", "install", "--quiet", "--python", python, "-r", str(REQUIREMENTS)],
        check=True,
    )
    stamp.write_text(wanted, encoding="utf-8")
    return meltano


class MeltanoProject:
    """`examples/meltano` as committed, with Meltano's own folder (plugin venvs, system db with
    the state) and the jsonl output in a temporary folder, configured through environment
    variables as a user would keep the API key out of `meltano.yml`."""

    def __init__(self, server: MockServer, workdir: Path) -> None:
        self.meltano = meltano_executable()
        self.output = workdir / "output"
        self.output.mkdir(parents=True)
        inherited = {
            k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV" and not k.startswith("UV_")
        }
        self.env = {
            **inherited,
            "CI": "true",
            "MELTANO_SYS_DIR_ROOT": str(workdir / ".meltano"),
            # Meltano rewrites meltano.yml in its own style when it may; the example stays as
            # committed (the test checks it).
            "MELTANO_PROJECT_READONLY": "true",
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "TAP_CHATNODE_API_KEY": server.api_key,
            "TAP_CHATNODE_BASE_URL": server.base_url,
            "TARGET_JSONL_DESTINATION_PATH": str(self.output),
        }

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.meltano), *args],
            cwd=EXAMPLE,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert result.returncode == 0, f"meltano {' '.join(args)}:\n{result.stderr[-4000:]}"
        assert SECRET not in result.stdout + result.stderr
        return result

    def loaded(self, stream: str) -> list[dict[str, Any]]:
        """What target-jsonl has written for the stream, over every run (it appends)."""
        path = self.output / f"{stream}.jsonl"
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        return [json.loads(line) for line in lines]


pytestmark = [
    *pytestmark,
    pytest.mark.chatnode_mock(
        api_keys={SECRET: None}, bots=BOTS, leads_per_bot=8, messages_per_session=(1, 4), seed=5
    ),
]


@pytest.fixture
def mock(chatnode_mock: MockServer) -> MockServer:
    return chatnode_mock


def without_nulls(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in record.items() if v is not None} for record in records]


def assert_each_served_record_loaded_once(project: MeltanoProject, server: MockServer) -> None:
    for stream, key in KEYS.items():
        loaded = project.loaded(stream)
        keys = [tuple(record[part] for part in key) for record in loaded]
        assert len(set(keys)) == len(keys), f"{stream}: a record loaded twice"
        expected = served_records(server, stream, BOTS)
        assert len(loaded) == len(expected), (
            f"{stream}: {len(loaded)} loaded, {len(expected)} served"
        )
        assert canonical(without_nulls(loaded)) == canonical(expected)


def test_meltano_run_loads_everything_once_then_only_new_records_from_its_state(
    mock: MockServer, tmp_path: Path
) -> None:
    committed = (EXAMPLE / "meltano.yml").read_bytes()
    project = MeltanoProject(mock, tmp_path)
    project.run("install")

    project.run("run", "tap-chatnode", "target-jsonl")
    assert_each_served_record_loaded_once(project, mock)
    first = {stream: len(project.loaded(stream)) for stream in KEYS}
    assert first == {"leads": 16, "chats": len(served_records(mock, "chats", BOTS))}

    state = json.loads(project.run("state", "get", "dev:tap-chatnode-to-target-jsonl").stdout)
    for stream in KEYS:
        cursors = state["singer_state"]["bookmarks"][stream]["airbyte_state"]["states"]
        assert {entry["partition"]["bot_id"] for entry in cursors} == set(BOTS)

    (new_lead,) = mock.append("bot-beta", count=1)
    old_session = mock.leads("bot-alpha")[0]["session_id"]
    mock.append_message("bot-alpha", old_session, content="Is the invoice ready?")
    new_lead_messages = len(mock.chats("bot-beta", [new_lead["session_id"]]))

    project.run("run", "tap-chatnode", "target-jsonl")
    assert_each_served_record_loaded_once(project, mock)
    added = {stream: len(project.loaded(stream)) - first[stream] for stream in KEYS}
    assert added == {"leads": 1, "chats": 1 + new_lead_messages}
    assert project.loaded("leads")[-1]["session_id"] == new_lead["session_id"]
    assert (EXAMPLE / "meltano.yml").read_bytes() == committed, "meltano rewrote the example"
