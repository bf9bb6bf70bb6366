"""Runs the connector the way users do: a CLI process with real config, catalog and state files.

Shared by the integration tests; the property tests drive the same source in process instead,
through `airbyte_cdk`'s entrypoint, to afford hundreds of syncs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

INTEGRATION_DIR = Path(__file__).resolve().parent
ROOT = INTEGRATION_DIR.parent
CONFIGURED_CATALOG = INTEGRATION_DIR / "configured_catalog.json"
CLI_TIMEOUT_SECONDS = 180
SOURCE_CHATNODE = (str(Path(sys.executable).with_name("source-chatnode")),)
"""The console script installed beside this interpreter, as a user runs it."""


@dataclass
class ConnectorRun:
    """What one connector process printed, split into Airbyte message kinds."""

    returncode: int
    stdout: str
    stderr: str
    messages: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_process(cls, process: subprocess.CompletedProcess[str]) -> ConnectorRun:
        messages = []
        for line in process.stdout.splitlines():
            if line.startswith("{"):
                messages.append(json.loads(line))
        return cls(process.returncode, process.stdout, process.stderr, messages)

    def of_type(self, message_type: str) -> list[dict[str, Any]]:
        return [message for message in self.messages if message["type"] == message_type]

    @property
    def records(self) -> list[dict[str, Any]]:
        return [message["record"]["data"] for message in self.of_type("RECORD")]

    @property
    def states(self) -> list[dict[str, Any]]:
        return [message["state"] for message in self.of_type("STATE")]

    @property
    def final_state(self) -> dict[str, Any]:
        return self.states[-1]

    def bot_cursors(self) -> dict[str, str]:
        """The per-bot cursor values of the last state message."""
        stream_state = self.final_state["stream"]["stream_state"]
        return {
            entry["partition"]["bot_id"]: entry["cursor"]["created_at"]
            for entry in stream_state.get("states", [])
        }

    @property
    def error_messages(self) -> list[str]:
        return [
            message["trace"]["error"]["message"]
            for message in self.of_type("TRACE")
            if message["trace"]["type"] == "ERROR"
        ]

    @property
    def connection_status(self) -> dict[str, Any]:
        return self.of_type("CONNECTION_STATUS")[-1]["connectionStatus"]

    @property
    def catalog(self) -> dict[str, Any]:
        return self.of_type("CATALOG")[-1]["catalog"]

    def record_keys(self) -> list[tuple[str, str]]:
        return [(record["bot_id"], record["session_id"]) for record in self.records]


def configured_catalog(sync_mode: str = "incremental") -> dict[str, Any]:
    """The committed configured catalog, switched to full refresh when asked."""
    catalog = json.loads(CONFIGURED_CATALOG.read_text(encoding="utf-8"))
    if sync_mode == "full_refresh":
        for stream in catalog["streams"]:
            stream["sync_mode"] = "full_refresh"
            stream["destination_sync_mode"] = "overwrite"
    return catalog


def connector_config(
    base_url: str, api_key: str, bot_ids: Sequence[str], **extra: Any
) -> dict[str, Any]:
    return {"api_key": api_key, "bot_ids": list(bot_ids), "base_url": base_url, **extra}


def state_messages(run: ConnectorRun) -> list[dict[str, Any]]:
    """The state file content for the next sync: the last state message, as Airbyte passes it."""
    return [run.final_state]


def run_cli(
    command: str,
    workdir: Path,
    *,
    config: Mapping[str, Any] | None = None,
    catalog: Mapping[str, Any] | None = None,
    state: Sequence[Mapping[str, Any]] | None = None,
    executable: Sequence[str] = SOURCE_CHATNODE,
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> ConnectorRun:
    """Write the given inputs to files in `workdir` and run one connector command on them."""
    workdir.mkdir(parents=True, exist_ok=True)
    args = [*executable, command]
    for flag, content in (("--config", config), ("--catalog", catalog), ("--state", state)):
        if content is not None:
            path = workdir / f"{flag.strip('-')}.json"
            path.write_text(json.dumps(content), encoding="utf-8")
            args += [flag, str(path)]
    process = subprocess.run(
        [*args, *extra_args],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_SECONDS,
        cwd=workdir,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        check=False,
    )
    return ConnectorRun.from_process(process)
