"""`source-chatnode` as users run it: one process per command, with config, catalog and state
files, its stdout read back as Airbyte messages."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

SOURCE_CHATNODE = str(Path(sys.executable).with_name("source-chatnode"))


def run_connector(command: str, workdir: Path, **inputs: Any) -> list[dict[str, Any]]:
    """Run one `source-chatnode` command on input files; return its Airbyte messages, or raise
    with the connector's own error messages when it fails."""
    args = [SOURCE_CHATNODE, command]
    for name, content in inputs.items():
        path = workdir / f"{command}-{name}.json"
        path.write_text(json.dumps(content), encoding="utf-8")
        args += [f"--{name}", str(path)]
    process = subprocess.run(args, capture_output=True, text=True, check=False)
    messages = [json.loads(line) for line in process.stdout.splitlines() if line.startswith("{")]
    if process.returncode != 0:
        errors = [
            m["trace"]["error"]["message"]
            for m in messages
            if m["type"] == "TRACE" and m["trace"]["type"] == "ERROR"
        ]
        raise RuntimeError(f"source-chatnode {command} failed: {errors or process.stderr[-500:]}")
    return messages


def of_type(messages: Sequence[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [message for message in messages if message["type"] == kind]


def configured_catalog(catalog: dict[str, Any], sync_mode: str) -> dict[str, Any]:
    """Every discovered stream in one sync mode, keyed and cursored as the source defines."""
    return {
        "streams": [
            {
                "stream": stream,
                "sync_mode": sync_mode,
                "destination_sync_mode": "append_dedup"
                if sync_mode == "incremental"
                else "overwrite",
                "cursor_field": stream["default_cursor_field"],
                "primary_key": stream["source_defined_primary_key"],
            }
            for stream in catalog["streams"]
        ]
    }


@dataclass(frozen=True)
class Read:
    """What one `read` emitted: its records by stream, and the last state of each stream (the
    state the next incremental read starts from)."""

    records: dict[str, list[dict[str, Any]]]
    states: list[dict[str, Any]]

    @classmethod
    def of(cls, messages: Sequence[dict[str, Any]]) -> Read:
        records: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for message in of_type(messages, "RECORD"):
            records[message["record"]["stream"]].append(message["record"]["data"])
        last: dict[str, dict[str, Any]] = {}
        for message in of_type(messages, "STATE"):
            state = message["state"]
            last[state["stream"]["stream_descriptor"]["name"]] = state
        return cls(dict(records), list(last.values()))

    def count(self, stream: str) -> int:
        return len(self.records.get(stream, []))

    def cursors(self) -> dict[str, dict[str, datetime]]:
        """Stream -> bot -> the cursor its last state saved (per-bot state entries)."""
        found: dict[str, dict[str, datetime]] = {}
        for state in self.states:
            stream = state["stream"]
            entries = (stream.get("stream_state") or {}).get("states", [])
            found[stream["stream_descriptor"]["name"]] = {
                e["partition"]["bot_id"]: datetime.fromisoformat(e["cursor"]["created_at"])
                for e in entries
            }
        return found
