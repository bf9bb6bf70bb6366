"""One row per measurement: the suites produce rows, `results.json` is the rows as they are, and
`results.md` is rendered from them alone, so a partial run still reads well, its gaps marked."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, get_args

Suite = Literal["connector", "cursor", "server", "latency"]
Mode = Literal["incremental", "full_refresh"]
Stream = Literal["leads", "chats"]
Status = Literal["ok", "error", "skipped"]
SUITES: tuple[Suite, ...] = get_args(Suite)
MODES: tuple[Mode, ...] = get_args(Mode)
STREAMS: tuple[Stream, ...] = get_args(Stream)


class Name(StrEnum):
    OURS = "source-chatnode"
    GLOBAL_CURSOR = "source-chatnode-global-cursor"
    MINIMAL = "minimal-manifest"
    MINIMAL_GROUPED = "minimal-manifest-grouped-one-bot"
    """`chats` only: the minimal manifest batching sessions with GroupingPartitionRouter, whose
    batches mix bots; correct for a single bot only."""
    CLOUD = "source-chatnode-cloud-edition"
    """`source_chatnode/builder/manifest.yaml`, the pure-YAML edition, in the manifest-only
    runtime with no components file."""
    RAW = "raw-requests-orjson"
    DLT = "dlt-rest-api"
    DLT_SOURCE = "dlt-source-chatnode"
    """dlt through `source_chatnode.dlt`: our manifest in process, loaded by dlt into DuckDB."""
    BEFORE = "source-chatnode-before-issue-17"
    """The latency suite only: ours without `concurrency_level`, chats batches one at a time."""
    MOCK = "chatnode-mock-server"
    PRISM = "prism"


class Measure(StrEnum):
    """A connector's whole `read`, its cursor's `observe` alone, or one of the server suite's
    three tests."""

    READ = "read"
    OBSERVE = "observe"
    LOAD = "load"
    BIG_RESPONSE = "big_response"
    UNDER_STREAM = "under_stream"


@dataclass
class Row:
    """One line of `results.json`; what a row does not measure stays None."""

    suite: Suite
    name: str
    mode: Mode | None
    leads: int
    """Records of `stream` served: to the connector, or in the server's response (for `chats`,
    messages; the name predates that stream and `results.json` keeps it)."""
    measure: str = Measure.READ
    stream: Stream = "leads"
    concurrency: int | None = None
    records_per_s: float | None = None
    requests_per_s: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    seconds: float | None = None
    peak_rss_mb: float | None = None
    records: int | None = None
    """Records the reader delivered, or leads counted in a response body."""
    runs: list[float] = field(default_factory=list)
    """Seconds of each run of a connector measurement; `seconds` is the fastest."""
    status: Status = "ok"
    error: str | None = None
    """Why the row is an error, or was skipped."""
    note: str = ""
    latency_s: float | None = None
    """The latency suite: seconds the mock added to every request (0: the read's S)."""
    floor_seconds: float | None = None
    """The latency suite: S + R x L, the least a read with this many workers can take."""
    requests: int | None = None
    """The latency suite: API requests the read sent, from the mock's journal."""
    network_seconds: float | None = None
    """The latency suite: from the mock's first request to the reader's exit, the fastest run.
    The read without its start-up, whose noise on a shared machine exceeds R x L."""

    def failed(self, why: str, status: Status = "error") -> Row:
        """The same row without numbers, and the reason where a reader will see it."""
        key = (self.suite, self.name, self.mode, self.leads, self.measure, self.stream)
        return Row(*key, self.concurrency, status=status, error=why, latency_s=self.latency_s)


def find(rows: Iterable[Row], **match: Any) -> Row | None:
    """The first measured (ok) row whose fields equal `match`."""
    ok = (r for r in rows if r.status == "ok")
    return next((r for r in ok if all(getattr(r, k) == v for k, v in match.items())), None)


def write_json(rows: Sequence[Row], path: Path) -> None:
    """Atomically, so an interrupted run never leaves half a file behind; three decimals, as
    more are noise on a shared machine."""
    data = [{k: round(v, 3) if type(v) is float else v for k, v in asdict(r).items()} for r in rows]
    path.with_suffix(".tmp").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    path.with_suffix(".tmp").replace(path)
