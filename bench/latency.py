"""The latency suite: every reader against the mock with a fixed latency on every request, as a
real sync waits on the internet, each reported against its floor.

A reader with W workers cannot finish before S + R x L: S its read of the same data with no
latency, L the latency, R the fewest rounds of requests W parallel workers need (leads: one per
bot, ceil(bots / W); chats: those, plus ceil(chats requests / W)). Ratio is seconds / floor; the
wait ratio, (seconds - S) / (R x L), is what issue #17's target bounds (1.5x at 10 workers).

Readers: ours at num_workers 1, the default and 10; ours as it was before issue #17 (no
`concurrency_level`: the CDK's 2 workers, chats batches one after another); the Cloud edition
(num_workers' default); the minimal manifests (the CDK's 2 workers; chats one request per
session).
"""

from __future__ import annotations

import json
import math
import shlex
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import yaml

from bench.config import BENCH_DIR, Case, Shape
from bench.connector import (
    CLOUD_EDITION,
    COMMANDS,
    MINIMAL_CHATS_MANIFEST,
    MINIMAL_MANIFEST,
    add_run,
    configured_catalog,
    measure_read,
)
from bench.rows import STREAMS, Name, Row, Stream, find
from bench.servers import Server, start_server
from chatnode_spec import server_base_path
from source_chatnode.run import MANIFEST_PATH

if TYPE_CHECKING:
    from bench.run_state import Run

MEASURE = "read_under_latency"
"""The rows' `measure`: kept apart from the connector suite's `read` rows."""
BEFORE = "source-chatnode-before-issue-17"
CDK_DEFAULT_WORKERS = 2
"""The CDK's worker threads for a manifest without `concurrency_level`."""
BATCH_SIZE = 100
"""chats_batch_size's default: ours and the before variant send this many sessions a request."""
MAX_RSS_MB = 400


def spec_default_workers() -> int:
    manifest = yaml.safe_load(MANIFEST_PATH.read_text(encoding="utf-8"))
    return manifest["spec"]["connection_specification"]["properties"]["num_workers"]["default"]


@dataclass(frozen=True)
class Reader:
    """One reader: its row name, the `num_workers` its config sets (None: its default), the
    workers it runs with, and whether its chats send one request per session."""

    name: str
    num_workers: int | None
    workers: int
    per_session: bool = False

    @property
    def key(self) -> str:
        """How `LatencyConfig.readers` names it: `source-chatnode W=10`."""
        return f"{self.name} W={self.workers}"

    def requests(self, shape: Shape, stream: Stream) -> tuple[int, int]:
        """(leads requests, chats requests) of one read of `stream`."""
        if stream == "leads":
            return shape.bots, 0
        per_bot = shape.leads if self.per_session else math.ceil(shape.leads / BATCH_SIZE)
        return shape.bots, shape.bots * per_bot

    def rounds(self, shape: Shape, stream: Stream) -> int:
        """R: the fewest rounds of requests `workers` parallel workers need."""
        leads, chats = self.requests(shape, stream)
        return math.ceil(leads / self.workers) + math.ceil(chats / self.workers)


def readers() -> list[Reader]:
    default = spec_default_workers()
    return [
        Reader(BEFORE, None, CDK_DEFAULT_WORKERS),
        Reader(Name.OURS, 1, 1),
        Reader(Name.OURS, None, default),
        Reader(Name.OURS, 10, 10),
        Reader(Name.CLOUD, None, default, per_session=True),
        Reader(Name.MINIMAL, None, CDK_DEFAULT_WORKERS, per_session=True),
    ]


def before_manifest() -> dict[str, Any]:
    """Our manifest as it read before issue #17: no `concurrency_level`, batches in turn."""
    manifest = yaml.safe_load(MANIFEST_PATH.read_text(encoding="utf-8"))
    manifest.pop("concurrency_level")
    for stream in (s for s in manifest["streams"] if s["name"] == "chats"):
        stream["retriever"]["batches_in_flight"] = 1
    return manifest


def reader_inputs(reader: Reader, stream: Stream, work: Path) -> dict[str, str]:
    """The placeholders of the reader's command in `bench.connector.COMMANDS`."""
    python = Path(sys.executable)
    fixed = {"python": str(python), "bin": str(python.parent), "peers": str(BENCH_DIR / "peers")}
    manifests: dict[str, Path | dict[str, Any]] = {
        BEFORE: before_manifest(),
        Name.OURS: MANIFEST_PATH,
        Name.CLOUD: CLOUD_EDITION,
        Name.MINIMAL: MINIMAL_MANIFEST if stream == "leads" else MINIMAL_CHATS_MANIFEST,
    }
    manifest, name = manifests[reader.name], f"{reader.name}-{stream}"
    if isinstance(manifest, dict):
        (work / f"{name}.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
        manifest = work / f"{name}.yaml"
    case = Case(Name.OURS, "full_refresh", stream)
    catalog = configured_catalog(yaml.safe_load(manifest.read_text()), case)
    (work / f"{name}.json").write_text(json.dumps(catalog))
    return {**fixed, "manifest": str(manifest), "catalog": str(work / f"{name}.json")}


def command(reader: Reader) -> str:
    return COMMANDS[Name.GLOBAL_CURSOR if reader.name == BEFORE else Name(reader.name)]


def start_shape_mock(run: Run, shape: Shape, log: Path) -> tuple[Server, list[str]]:
    """`chatnode-mock-server` serving the shape's bots; its admin API sets the latency."""
    config = run.config
    bots = [f"bench-bot-{n:02}" for n in range(shape.bots)]
    flags = f"--port 0 --api-key {config.api_key} --leads {shape.leads} --seed {config.seed}"
    flags += f" --messages {shape.messages}"
    argv = [str(Path(sys.executable).parent / "chatnode-mock-server"), *flags.split()]
    argv += [part for bot in bots for part in ("--bot", bot)]
    return start_server(run.group, argv, log, config.api_key), bots


def admin(server: Server, method: str, path: str, body: Any = None) -> Any:
    root = server.api_url.removesuffix(server_base_path())
    response = httpx.request(method, f"{root}/_admin{path}", json=body, timeout=30)
    response.raise_for_status()
    return response.json()


def set_latency(server: Server, seconds: float) -> None:
    admin(server, "DELETE", "/faults")
    if seconds:
        admin(server, "POST", "/faults", {"spec": f"latency={seconds:g}"})


def served(shape: Shape, stream: Stream) -> int:
    leads = shape.bots * shape.leads
    return leads if stream == "leads" else leads * shape.messages


def skipped(reader: Reader, shape: Shape, stream: Stream, latency: float, run: Run) -> bool:
    """Readers and streams not asked for, and the reduced matrix: one request per session is
    minutes per run at latency."""
    settings = run.config.latency
    if stream not in settings.streams or (settings.readers and reader.key not in settings.readers):
        return True
    if reader.name == Name.MINIMAL and stream == "leads" and shape.bots > 1:
        return True  # the Builder's single-bot form: it reads the first of `bot_ids` only
    if not (reader.per_session and stream == "chats"):
        return False
    too_many = shape.bots * shape.leads > settings.per_session_max_sessions
    return too_many or latency not in (0.0, *settings.per_session_latencies)


def run_latency_suite(run: Run) -> None:
    """Per shape one mock server; per latency (0 first: every reader's S), every stream and
    reader once. Rows of a reader with no S get no floor."""
    settings, work = run.config.latency, run.config.work_dir / "latency"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    inputs = {
        (r, s): reader_inputs(r, s, work)
        for r in readers()
        for s in STREAMS
        if s in settings.streams and (not settings.readers or r.key in settings.readers)
    }
    for number, shape in enumerate(settings.shapes):
        shape_dir = work / f"shape-{number}"
        shape_dir.mkdir()
        run.say(f"latency: mock server with {shape.label}")
        server, bots = start_shape_mock(run, shape, shape_dir / "mock.out")
        try:
            for latency in (0.0, *settings.latencies):
                set_latency(server, latency)
                for stream, reader in ((s, r) for s in STREAMS for r in readers()):
                    if skipped(reader, shape, stream, latency, run):
                        continue
                    row = measure(run, server, bots, shape, stream, reader, latency, inputs)
                    run.put(row)
        finally:
            run.group.stop(server.process)


def measure(
    run: Run,
    server: Server,
    bots: list[str],
    shape: Shape,
    stream: Stream,
    reader: Reader,
    latency: float,
    inputs: dict[tuple[Reader, Stream], dict[str, str]],
) -> Row:
    """One read, its requests counted in the mock's journal, against its floor."""
    config = {"api_key": run.config.api_key, "bot_ids": bots, "base_url": server.api_url}
    if reader.num_workers is not None:
        config["num_workers"] = reader.num_workers
    run_dir = run.config.work_dir / "latency" / f"{reader.name}-{reader.workers}-{stream}"
    config_path = run_dir.with_suffix(".config.json")
    config_path.write_text(json.dumps(config))
    places = {**inputs[reader, stream], "config": str(config_path), "run_dir": run_dir}
    argv = [part.format(**places) for part in shlex.split(command(reader))]
    count = served(shape, stream)
    row = Row("latency", reader.name, "full_refresh", count, MEASURE, stream, reader.workers)
    # Best of `runs`, as in the connector suite. The one-request-per-session readers run once
    # (minutes). Each run is also timed from the mock's first request: S is a few seconds of
    # start-up whose noise on a shared machine is as big as R x L, and latency cannot touch it.
    for _ in range(1 if reader.per_session else run.config.runs):
        admin(server, "DELETE", "/journal")
        measured, problem = measure_read(run.group, argv, run_dir, count)
        row = add_run(row, measured, problem)
        if problem:
            break
        entries = [e for e in admin(server, "GET", "/journal")["entries"] if e["bot"]]
        network = measured.ended_at - datetime.fromisoformat(entries[0]["timestamp"]).timestamp()
        row.network_seconds = min(network, row.network_seconds or network)
        row.requests = len(entries)
    row.latency_s, row.note = latency, shape.label
    if row.status == "ok":
        no_latency = find(
            run.rows.values(), suite="latency", name=reader.name, leads=count, stream=stream,
            concurrency=reader.workers, latency_s=0.0,
        )  # fmt: skip
        if latency and no_latency and no_latency.network_seconds:  # S itself has no floor
            rounds = reader.rounds(shape, stream)
            row.floor_seconds = no_latency.network_seconds + rounds * latency
    took = f"{measured.seconds:.2f} s, {measured.peak_rss_mb:.0f} MB"
    run.say(f"  {reader.name} W={reader.workers} {stream} L={latency:g}: {problem or took}")
    return row


def wait_ratio(row: Row, rounds: int) -> float | None:
    """(T - S) / (R x L), both timed from the first request, or None without a floor."""
    if not (row.floor_seconds and row.latency_s and row.network_seconds):
        return None
    waited = row.network_seconds - (row.floor_seconds - rounds * row.latency_s)
    return waited / (rounds * row.latency_s)


def rounds_of(row: Row, shapes: Sequence[Shape]) -> int:
    """R of a row, from the shape its note names."""
    shape = next(s for s in shapes if s.label == row.note)
    reader = next(r for r in readers() if r.name == row.name and r.workers == row.concurrency)
    return reader.rounds(shape, row.stream)


def latency_rows(rows: Sequence[Row]) -> list[Row]:
    return [r for r in rows if r.measure == MEASURE]


def known_shapes(rows: Sequence[Row]) -> list[Shape]:
    """The shapes the rows were measured on, from their notes (`20 x 500 leads x 4 messages`)."""
    shapes = []
    for note in dict.fromkeys(r.note for r in latency_rows(rows) if r.status == "ok"):
        bots, leads, messages = (part.split()[0] for part in note.split(" x "))
        shapes.append(Shape(int(bots), int(leads.replace(",", "")), int(messages)))
    return shapes


def latency_table(rows: Sequence[Row], table: Callable[..., list[str]]) -> list[str]:
    """`results.md`'s latency section, rendered with the report's `table`."""
    measured, shapes = latency_rows(rows), known_shapes(rows)
    if not measured:
        return []
    body = []
    for row in measured:
        if row.status != "ok":
            body.append([row.name, "-", row.stream, row.note, f"{row.latency_s:g}", *"-" * 7,
                         f"{row.status}: {row.error}"])  # fmt: skip
            continue
        ratio = wait_ratio(row, rounds_of(row, shapes))
        body.append([
            row.name, str(row.concurrency), row.stream, row.note, f"{row.latency_s:g}",
            f"{row.seconds:.2f}", f"{row.network_seconds:.2f}" if row.network_seconds else "-",
            f"{row.floor_seconds:.2f}" if row.floor_seconds else "-",
            f"{row.network_seconds / row.floor_seconds:.2f}x"
            if row.floor_seconds and row.network_seconds
            else "-",
            f"{ratio:.2f}x" if ratio is not None else "-",
            f"{row.requests:,}" if row.requests is not None else "-",
            f"{row.peak_rss_mb:.0f}", f"best of {len(row.runs)}" if len(row.runs) > 1 else "1 run",
        ])  # fmt: skip
    header = ["Reader", "Workers", "Stream", "Bots x leads x messages", "L (s)", "Seconds",
              "From first request (s)", "Floor (s)", "Ratio", "Wait ratio", "Requests", "Peak RSS (MB)", "Note"]  # fmt: skip
    intro = (
        "`python -m bench --only latency`: the mock adds L seconds to every request. Seconds: the "
        "whole process; from first request: from the mock's first request to the process's "
        "exit, the read without its start-up (imports, manifest), which latency cannot touch "
        "and whose noise is as big as R x L. Floor: S (the same read at L 0, timed from its "
        "first request) + R x L, R the fewest rounds of requests the reader's workers need "
        "(leads: ceil(bots / W); chats: that plus ceil(chats requests / W); ours and the "
        "before variant send 100 sessions a request, the Cloud edition and the minimal chats "
        "manifest one). Ratio: from first request / floor. Wait ratio: (that - S) / (R x L). "
        "Rows measured before the from-first-request time existed show '-'. Requests: "
        "from the mock's journal. Note: how many runs the time is the best of (2 cores, shared "
        "while other work ran, for the rows of one run). Reduced matrix: the "
        "one-request-per-session chats readers run only on the one-bot shape, at L 0 and 0.1."
    )
    return ["", "## Latency suite", "", intro, "", *table(header, body)]


def latency_targets(rows: Sequence[Row]) -> list[tuple[str, str, str]]:
    """(target, measured, pass/miss/n/a) of issue #17's targets, from the latency rows."""
    measured, shapes, targets = latency_rows(rows), known_shapes(rows), []
    for row in measured:
        if row.status != "ok" or not row.latency_s:
            continue
        targeted = (row.name, row.concurrency) == (Name.OURS, 10) or (
            (row.name, row.stream) == (Name.CLOUD, "leads")
        )
        if not targeted:
            continue
        ratio = wait_ratio(row, rounds_of(row, shapes))
        target = (
            f"latency {row.latency_s:g} s, {row.note}, {row.stream}: {row.name} "
            f"W={row.concurrency} waits ≤ 1.5x R x L"
        )
        if ratio is None or ratio < 0:
            # No S, or S measured slower than this very read: the machine's noise exceeds R x L.
            measured_text = "no S" if ratio is None else f"{ratio:.2f}x (S noisier than R x L)"
            targets.append((target, measured_text, "n/a"))
            continue
        targets.append((target, f"{ratio:.2f}x", "pass" if ratio <= 1.5 else "miss"))
    for row in measured:
        if (row.name, row.concurrency, row.status) != (Name.OURS, 10, "ok"):
            continue
        single = find(
            measured, name=Name.OURS, concurrency=1, leads=row.leads, stream=row.stream,
            latency_s=row.latency_s,
        )  # fmt: skip
        if single is None or not (single.peak_rss_mb and row.peak_rss_mb):
            continue
        ratio = row.peak_rss_mb / single.peak_rss_mb
        target = (
            f"latency {row.latency_s:g} s, {row.note}, {row.stream}: ours peak RSS at W=10 ≤ 1.5x "
            f"at W=1, and < {MAX_RSS_MB} MB"
        )
        ok = ratio <= 1.5 and row.peak_rss_mb < MAX_RSS_MB
        measured_text = f"{row.peak_rss_mb:.0f} vs {single.peak_rss_mb:.0f} MB = {ratio:.2f}x"
        targets.append((target, measured_text, "pass" if ok else "miss"))
    return targets
