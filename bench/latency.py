"""The latency suite: every reader of `latency_report.readers` against the mock with a fixed
latency on every request, as a real sync waits on the internet; `bench.latency_report` sets each
read against its floor.
"""

from __future__ import annotations

import json
import shlex
from datetime import datetime
from typing import TYPE_CHECKING

from bench.config import Case, Shape
from bench.connector import COMMANDS, add_run, measure_read, reader_files
from bench.latency_report import MEASURE, Reader, readers
from bench.rows import STREAMS, Name, Row, Stream, find
from bench.servers import Server, admin, start_mock

if TYPE_CHECKING:
    from bench.run_state import Run


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
    settings, work = run.config.latency, run.scratch("latency")
    cases = {(r, s): Case(r.name, "full_refresh", s) for r in readers() for s in STREAMS}
    inputs = reader_files(cases.values(), work)
    for number, shape in enumerate(settings.shapes):
        shape_dir = work / f"shape-{number}"
        shape_dir.mkdir()
        run.say(f"latency: mock server with {shape.label}")
        bots = [f"bench-bot-{n:02}" for n in range(shape.bots)]
        server = start_mock(
            run.group, shape_dir / "mock.out", run.config, shape.leads, shape.messages, bots
        )
        try:
            for latency in (0.0, *settings.latencies):
                set_latency(server, latency)
                for stream, reader in ((s, r) for s in STREAMS for r in readers()):
                    if skipped(reader, shape, stream, latency, run):
                        continue
                    places = inputs[cases[reader, stream]]
                    run.put(measure(run, server, bots, shape, stream, reader, latency, places))
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
    places: dict[str, str],
) -> Row:
    """One read, its requests counted in the mock's journal, against its floor."""
    config = {"api_key": run.config.api_key, "bot_ids": bots, "base_url": server.api_url}
    config |= {} if reader.num_workers is None else {"num_workers": reader.num_workers}
    run_dir = run.config.work_dir / "latency" / f"{reader.name}-{reader.workers}-{stream}"
    config_path = run_dir.with_suffix(".config.json")
    config_path.write_text(json.dumps(config))
    places = {**places, "config": str(config_path), "run_dir": run_dir}
    argv = [part.format(**places) for part in shlex.split(COMMANDS[reader.name])]
    count = served(shape, stream)
    row = Row("latency", reader.name, "full_refresh", count, MEASURE, stream, reader.workers)
    # Best of `runs`, as in the connector suite. Chats read one request per session run once
    # (minutes). Each run is also timed from the mock's first request: S is a few seconds of
    # start-up whose noise on a shared machine is as big as R x L, and latency cannot touch it.
    for _ in range(1 if reader.per_session and stream == "chats" else run.config.runs):
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
