"""Reading an Airbyte `read` output after the run: how many RECORD messages, and why it failed.

Counting every RECORD line is what makes a throughput number trustworthy: a connector that
drops or duplicates leads is fast for the wrong reason, so its row becomes an error instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import orjson

RECORD_PREFIX = b'{"type":"RECORD"'
_MAX_PROBLEMS = 3


@dataclass
class ReadOutput:
    """What one `read` wrote to stdout, reduced to what the bench checks."""

    records: int = 0
    problems: list[str] = field(default_factory=list)
    """Error traces and lines that are not JSON, first few only, for the error note."""


def scan_lines(lines: Iterable[bytes]) -> ReadOutput:
    """Count RECORD messages and collect error traces.

    The CDK writes `{"type":"RECORD",...` first on every record line, so the prefix test is
    exact for it; any other line is parsed, so a writer with a different key order still counts.
    """
    out = ReadOutput()
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        if line.startswith(RECORD_PREFIX):
            out.records += 1
            continue
        try:
            message = orjson.loads(line)
        except orjson.JSONDecodeError:
            _note(out, f"not JSON: {line[:200].decode('utf-8', errors='replace')}")
            continue
        if not isinstance(message, dict):
            continue
        kind = message.get("type")
        if kind == "RECORD":
            out.records += 1
        elif kind == "TRACE" and message.get("trace", {}).get("type") == "ERROR":
            error = message["trace"].get("error", {})
            _note(out, str(error.get("message") or error.get("internal_message") or error))
    return out


def scan_file(path: Path) -> ReadOutput:
    with path.open("rb") as handle:
        return scan_lines(handle)


def _note(out: ReadOutput, problem: str) -> None:
    if len(out.problems) < _MAX_PROBLEMS:
        out.problems.append(problem)
