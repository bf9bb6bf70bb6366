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

from airbyte_cdk.models import ConfiguredAirbyteCatalogSerializer

from source_chatnode.in_process import configured_catalog as shared_catalog
from source_chatnode.in_process import stream_definitions

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
        """The data of every record, of every stream read."""
        return [message["record"]["data"] for message in self.of_type("RECORD")]

    def records_of(self, stream: str) -> list[dict[str, Any]]:
        return [
            message["record"]["data"]
            for message in self.of_type("RECORD")
            if message["record"]["stream"] == stream
        ]

    @property
    def states(self) -> list[dict[str, Any]]:
        return [message["state"] for message in self.of_type("STATE")]

    def states_of(self, stream: str) -> list[dict[str, Any]]:
        return [state for state in self.states if state_stream(state) == stream]

    @property
    def final_state(self) -> dict[str, Any]:
        return self.states[-1]

    def bot_cursors(self, stream: str | None = None) -> dict[str, str]:
        """The per-bot cursor values of the stream's last state message (of the last state
        message, whatever its stream, when none is named)."""
        return bot_cursors_of(self.states_of(stream)[-1] if stream else self.final_state)

    @property
    def errors(self) -> list[dict[str, Any]]:
        """The `error` of each error trace: message, failure_type, stream_descriptor, ..."""
        return [
            message["trace"]["error"]
            for message in self.of_type("TRACE")
            if message["trace"]["type"] == "ERROR"
        ]

    @property
    def error_messages(self) -> list[str]:
        return [error["message"] for error in self.errors]

    def error_messages_of(self, stream: str) -> list[str]:
        """The messages of the errors the CDK attributes to this stream."""
        return [
            error["message"]
            for error in self.errors
            if (error.get("stream_descriptor") or {}).get("name") == stream
        ]

    @property
    def connection_status(self) -> dict[str, Any]:
        return self.of_type("CONNECTION_STATUS")[-1]["connectionStatus"]

    @property
    def catalog(self) -> dict[str, Any]:
        return self.of_type("CATALOG")[-1]["catalog"]

    def record_keys(self, stream: str | None = None) -> list[tuple[str, ...]]:
        """The primary keys of the stream's records, in emission order, duplicates kept. Without
        a stream: those of the one stream the run emitted records of (none: no keys)."""
        if stream is None:
            emitted = {message["record"]["stream"] for message in self.of_type("RECORD")}
            if not emitted:
                return []
            if len(emitted) > 1:
                raise ValueError(f"records of {sorted(emitted)}: name the stream")
            stream = emitted.pop()
        key = primary_key(stream)
        return [tuple(record[part] for part in key) for record in self.records_of(stream)]


def state_stream(state: Mapping[str, Any]) -> str:
    """The stream a per-stream state message is for."""
    return state["stream"]["stream_descriptor"]["name"]


def bot_cursors_of(state: Mapping[str, Any]) -> dict[str, str]:
    """Each bot's cursor value in one per-stream state message."""
    return {
        entry["partition"]["bot_id"]: entry["cursor"]["created_at"]
        for entry in state["stream"]["stream_state"].get("states", [])
    }


def primary_key(stream: str) -> tuple[str, ...]:
    """The stream's primary key fields, as the connector declares them."""
    for definition in stream_definitions():
        if definition.name == stream:
            return definition.primary_key
    raise KeyError(f"the connector has no stream {stream!r}")


def configured_catalog(
    sync_mode: str = "incremental", streams: Sequence[str] = ("leads",)
) -> dict[str, Any]:
    """The catalog file for a CLI run, selecting `streams` in that order (the CDK's
    `CatalogBuilder`, through `source_chatnode.in_process`). Leads alone by default: most tests
    are about one stream."""
    catalog = shared_catalog(streams, incremental=sync_mode == "incremental")
    return ConfiguredAirbyteCatalogSerializer.dump(catalog)


def connector_config(
    base_url: str, api_key: str, bot_ids: Sequence[str], **extra: Any
) -> dict[str, Any]:
    return {"api_key": api_key, "bot_ids": list(bot_ids), "base_url": base_url, **extra}


def state_messages(run: ConnectorRun) -> list[dict[str, Any]]:
    """The state file content for the next sync: each stream's last state message, as Airbyte
    passes it."""
    last: dict[str, dict[str, Any]] = {}
    for state in run.states:
        last[state_stream(state)] = state
    return list(last.values())


def command_line(
    command: str,
    workdir: Path,
    *,
    config: Mapping[str, Any] | None = None,
    catalog: Mapping[str, Any] | None = None,
    state: Sequence[Mapping[str, Any]] | None = None,
) -> list[str]:
    """The command and its `--config`/`--catalog`/`--state` flags, each input written to its
    own file in `workdir`, as the platform hands them to a connector."""
    workdir.mkdir(parents=True, exist_ok=True)
    args = [command]
    for flag, content in (("--config", config), ("--catalog", catalog), ("--state", state)):
        if content is not None:
            path = workdir / f"{flag.strip('-')}.json"
            path.write_text(json.dumps(content), encoding="utf-8")
            args += [flag, str(path)]
    return args


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
    args = command_line(command, workdir, config=config, catalog=catalog, state=state)
    process = subprocess.run(
        [*executable, *args, *extra_args],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_SECONDS,
        cwd=workdir,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        check=False,
    )
    return ConnectorRun.from_process(process)
