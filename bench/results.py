"""One row per measurement, the `results.json` schema, and how several runs become one row.

Every suite produces `Row`s and nothing else; the report and the target table are computed from
rows alone, so `results.md` can always be rebuilt from `results.json`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

CONNECTOR = "connector"
SERVER = "server"
SUITES = (CONNECTOR, SERVER)

INCREMENTAL = "incremental"
FULL_REFRESH = "full_refresh"
MODES = (INCREMENTAL, FULL_REFRESH)

OURS = "source-chatnode"
MINIMAL = "minimal-manifest"
RAW = "raw-requests-orjson"
DLT = "dlt-rest-api"
MOCK = "chatnode-mock-server"
PRISM = "prism"
NAMES = (OURS, MINIMAL, RAW, DLT, MOCK, PRISM)

ERROR_PREFIX = "error:"
SKIPPED_PREFIX = "skipped:"

# Notes that tell the server suite's kinds of row apart (they share name and leads otherwise).
LOAD_TEST = "load test"
CEILING = "load generator ceiling"
BIG_RESPONSE = "one big response"
UNDER_STREAM = "small requests during a big response"


@dataclass
class Row:
    """One line of `results.json`; fields a row does not measure stay None."""

    suite: str
    name: str
    mode: str | None
    leads: int
    concurrency: int | None = None
    records_per_s: float | None = None
    requests_per_s: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    seconds: float | None = None
    peak_rss_mb: float | None = None
    note: str = ""

    @property
    def is_error(self) -> bool:
        return self.note.startswith(ERROR_PREFIX)

    @property
    def is_skipped(self) -> bool:
        return self.note.startswith(SKIPPED_PREFIX)

    @property
    def measured(self) -> bool:
        return not (self.is_error or self.is_skipped)

    def to_json(self) -> dict[str, Any]:
        return {key: _rounded(value) for key, value in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Row:
        problems = schema_problems(data)
        if problems:
            raise ValueError(f"not a results.json row ({'; '.join(problems)}): {data}")
        return cls(**data)


ROW_KEYS = tuple(f.name for f in fields(Row))
_FLOAT_KEYS = ("records_per_s", "requests_per_s", "p50_ms", "p99_ms", "seconds", "peak_rss_mb")


def error_row(suite: str, name: str, mode: str | None, leads: int, problem: str, **kw: Any) -> Row:
    """A measurement that failed: no numbers, and the reason where a reader will see it."""
    return Row(suite, name, mode, leads, note=f"{ERROR_PREFIX} {problem}", **kw)


def skipped_row(suite: str, name: str, mode: str | None, leads: int, reason: str, **kw: Any) -> Row:
    """A measurement that could not be attempted here (a tool missing), which is not a failure."""
    return Row(suite, name, mode, leads, note=f"{SKIPPED_PREFIX} {reason}", **kw)


def schema_problems(data: Any) -> list[str]:
    """What keeps `data` from being a valid row; empty when it is one."""
    if not isinstance(data, dict):
        return [f"a row is a JSON object, got {type(data).__name__}"]
    problems = []
    if set(data) != set(ROW_KEYS):
        problems.append(f"keys must be exactly {sorted(ROW_KEYS)}, got {sorted(data)}")
    if data.get("suite") not in SUITES:
        problems.append(f"suite must be one of {SUITES}")
    if data.get("name") not in NAMES:
        problems.append(f"name must be one of {NAMES}")
    if data.get("mode") not in (*MODES, None):
        problems.append(f"mode must be one of {MODES} or null")
    if not _is_int(data.get("leads")):
        problems.append("leads must be an integer")
    if data.get("concurrency") is not None and not _is_int(data.get("concurrency")):
        problems.append("concurrency must be an integer or null")
    for key in _FLOAT_KEYS:
        value = data.get(key)
        if value is not None and (not _is_number(value) or not math.isfinite(value)):
            problems.append(f"{key} must be a finite number or null")
    if not isinstance(data.get("note"), str):
        problems.append("note must be a string")
    return problems


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _rounded(value: Any) -> Any:
    """Floats to 3 significant decimals: more digits than that are noise on a shared machine."""
    return round(value, 3) if isinstance(value, float) else value


def write_rows(rows: Sequence[Row], path: Path) -> None:
    """Write atomically, so an interrupted run never leaves half a JSON file behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_suffix(path.suffix + ".tmp")
    scratch.write_text(json.dumps([r.to_json() for r in rows], indent=2) + "\n", encoding="utf-8")
    scratch.replace(path)


def read_rows(path: Path) -> list[Row]:
    return [Row.from_json(item) for item in json.loads(path.read_text(encoding="utf-8"))]


@dataclass(frozen=True)
class RunSample:
    """One run of one measurement: what the harness saw before it picks the best run."""

    seconds: float
    peak_rss_mb: float | None
    count: int


def best_of(samples: Iterable[RunSample]) -> tuple[RunSample, float | None]:
    """The fastest run, and the highest peak RSS over all runs.

    Speed takes the best run because noise on a shared machine only ever slows a run down;
    memory takes the worst because a peak that happened once can happen in production.
    """
    runs = list(samples)
    if not runs:
        raise ValueError("best_of needs at least one run")
    best = min(runs, key=lambda s: s.seconds)
    rss = [s.peak_rss_mb for s in runs if s.peak_rss_mb is not None]
    return best, (max(rss) if rss else None)


SERVER_KINDS = (LOAD_TEST, CEILING, BIG_RESPONSE, UNDER_STREAM)


def kind_of(row: Row) -> str | None:
    """Which server measurement a row is: its note starts with the kind, after any error or
    skipped marker, so failed rows still land in the right table."""
    text = row.note
    for prefix in (ERROR_PREFIX, SKIPPED_PREFIX):
        if text.startswith(prefix):
            text = text[len(prefix) :].lstrip()
    return next((kind for kind in SERVER_KINDS if text.startswith(kind)), None)


def find(rows: Iterable[Row], kind: str | None = None, **match: Any) -> Row | None:
    """The first measured row of `kind` (server rows) whose fields equal `match`, or None."""
    for row in rows:
        if not row.measured or (kind is not None and kind_of(row) != kind):
            continue
        if all(getattr(row, k) == v for k, v in match.items()):
            return row
    return None
