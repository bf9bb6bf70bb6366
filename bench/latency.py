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
from bench.rows import STREAMS, Name, Row, Stream
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
    """Per shape one mock server; per stream and reader, its runs at every latency taken in
    turn (0, L1, L2, 0, L1, L2, ...), so a slow spell of a shared machine falls on S and on the
    latency rows alike instead of on one of them. Rows of a reader with no S get no floor."""
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
            for stream, reader in ((s, r) for s in STREAMS for r in readers()):
                latencies = [
                    latency
                    for latency in (0.0, *settings.latencies)
                    if not skipped(reader, shape, stream, latency, run)
                ]
                if latencies:
                    places = inputs[cases[reader, stream]]
                    for row in measure(run, server, bots, shape, stream, reader, latencies, places):
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
    latencies: list[float],
    places: dict[str, str],
) -> list[Row]:
    """The reader's rows, one per latency, each read's requests counted in the mock's journal,
    each latency row against its floor."""
    config = {"api_key": run.config.api_key, "bot_ids": bots, "base_url": server.api_url}
    config |= {} if reader.num_workers is None else {"num_workers": reader.num_workers}
    run_dir = run.config.work_dir / "latency" / f"{reader.name}-{reader.workers}-{stream}"
    config_path = run_dir.with_suffix(".config.json")
    config_path.write_text(json.dumps(config))
    places = {**places, "config": str(config_path), "run_dir": run_dir}
    argv = [part.format(**places) for part in shlex.split(COMMANDS[reader.name])]
    count = served(shape, stream)
    rows = {
        latency: Row("latency", reader.name, "full_refresh", count, MEASURE, stream, reader.workers)
        for latency in latencies
    }
    # Best of `runs`, as in the connector suite. Chats read one request per session run once
    # (minutes). Each run is also timed from the mock's first request to its last output: the
    # start-up (imports, manifest) and the interpreter's teardown are a few seconds that latency
    # cannot touch, and their noise on a shared machine is as big as R x L.
    for _ in range(1 if reader.per_session and stream == "chats" else run.config.runs):
        for latency, row in rows.items():
            if row.status != "ok":
                continue  # a failed read is not retried
            set_latency(server, latency)
            admin(server, "DELETE", "/journal")
            measured, problem = measure_read(run.group, argv, run_dir, count)
            row = rows[latency] = add_run(row, measured, problem)
            took = problem or f"{measured.seconds:.2f} s, {measured.peak_rss_mb:.0f} MB"
            run.say(f"  {reader.name} W={reader.workers} {stream} L={latency:g}: {took}")
            if problem:
                continue
            entries = [e for e in admin(server, "GET", "/journal")["entries"] if e["bot"]]
            start = datetime.fromisoformat(entries[0]["timestamp"]).timestamp()
            network = measured.last_output_at - start
            row.network_seconds = min(network, row.network_seconds or network)
            row.requests = len(entries)
    no_latency = rows.get(0.0)
    for latency, row in rows.items():
        row.latency_s, row.note = latency, shape.label
        ok = row.status == "ok" and no_latency is not None and no_latency.status == "ok"
        if latency and ok and no_latency.network_seconds:  # S itself has no floor
            row.floor_seconds = no_latency.network_seconds + reader.rounds(shape, stream) * latency
    return list(rows.values())
