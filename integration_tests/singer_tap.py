"""Drives `tap-chatnode` the way Singer runners do, in process or as its console script, and
reads what it wrote to stdout as Singer messages."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mock_server.server import MockServer
from source_chatnode.singer.tap import TapChatNode

TAP_SCRIPT = Path(sys.executable).with_name("tap-chatnode")


@dataclass
class TapOutput:
    """The Singer messages of one run, in order."""

    messages: list[dict[str, Any]] = field(default_factory=list)

    def records(self, stream: str) -> list[dict[str, Any]]:
        return [
            m["record"] for m in self.messages if m["type"] == "RECORD" and m["stream"] == stream
        ]

    def schema(self, stream: str) -> dict[str, Any]:
        (message,) = [m for m in self.messages if m["type"] == "SCHEMA" and m["stream"] == stream]
        return message

    @property
    def streams(self) -> set[str]:
        return {m["stream"] for m in self.messages if m["type"] == "RECORD"}

    @property
    def final_state(self) -> dict[str, Any]:
        states = [m["value"] for m in self.messages if m["type"] == "STATE"]
        return states[-1] if states else {}


def tap_config(server: MockServer, bot_ids: Sequence[str], **extra: Any) -> dict[str, Any]:
    return {
        "api_key": server.api_key,
        "bot_ids": list(bot_ids),
        "base_url": server.base_url,
        **extra,
    }


def run_tap(
    config: Mapping[str, Any],
    *,
    state: Mapping[str, Any] | None = None,
    catalog: Mapping[str, Any] | None = None,
) -> TapOutput:
    """One sync in this process, as singer-sdk's CLI runs it; stdout captured."""
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        tap = TapChatNode(
            config=dict(config),
            state=dict(state) if state else None,
            catalog=dict(catalog) if catalog else None,
            validate_config=True,
        )
        tap.sync_all()
    return TapOutput([json.loads(line) for line in stdout.getvalue().splitlines()])


def discover(config: Mapping[str, Any]) -> dict[str, Any]:
    with contextlib.redirect_stdout(io.StringIO()):
        return TapChatNode(config=dict(config), validate_config=True).catalog_dict


def run_cli(
    workdir: Path, config: Mapping[str, Any], *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """The `tap-chatnode` console script, with its config in a file as Meltano passes it."""
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "config.json"
    config_path.write_text(json.dumps(config), encoding="utf-8")
    return subprocess.run(
        [str(TAP_SCRIPT), "--config", str(config_path), *args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **env},
        check=False,
    )


def select_only(catalog: Mapping[str, Any], selected: set[str]) -> dict[str, Any]:
    """The discovered catalog with only `selected` streams marked selected, as Meltano's
    `select` writes it."""
    chosen = json.loads(json.dumps(catalog))
    for entry in chosen["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = entry["tap_stream_id"] in selected
    return chosen


def record_keys(records: Sequence[Mapping[str, Any]], key: Sequence[str]) -> list[tuple[Any, ...]]:
    return [tuple(record.get(part) for part in key) for record in records]
