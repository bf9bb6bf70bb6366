"""`Run`: one run of the bench, shared by the suites and the CLI (its own module, so that the
suites need not import the CLI that starts them)."""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.config import BenchConfig
from bench.procs import ProcessGroup
from bench.report import machine_table, render
from bench.rows import Row, write_json
from bench.targets import evaluate


@dataclass
class Run:
    """One run of the bench: its settings, the processes it started, and its rows so far."""

    config: BenchConfig
    command: str = "python -m bench"
    group: ProcessGroup = field(default_factory=ProcessGroup)
    rows: dict[tuple, Row] = field(default_factory=dict)
    machine: list[str] = field(default_factory=machine_table)
    started: float = field(default_factory=time.monotonic)
    fresh: set[tuple] = field(default_factory=set)
    """Keys of the rows this run measured; the others are kept from the previous results.json."""

    def __post_init__(self) -> None:
        """A focused run (some suites, readers or sizes) keeps every previous row it does not
        measure again, so it never erases the rest of a full run's table."""
        previous = self.config.output_dir / "results.json"
        if not self.focused() or not previous.exists():
            return
        for item in json.loads(previous.read_text(encoding="utf-8")):
            row = Row(**item)
            self.rows[row_key(row)] = row

    def focused(self) -> bool:
        full = BenchConfig(output_dir=self.config.output_dir)
        return any(
            getattr(self.config, name) != getattr(full, name)
            for name in ("suites", "cases", "sizes", "chat_sizes")
        )

    def scratch(self, suite: str) -> Path:
        """The suite's own scratch folder, emptied: no file of an earlier run mixes in."""
        work = self.config.work_dir / suite
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        return work

    def say(self, message: str) -> None:
        """Progress on stderr, each line stamped with the time since the start."""
        minutes, seconds = divmod(int(time.monotonic() - self.started), 60)
        print(f"[{minutes}:{seconds:02d}] {message}", file=sys.stderr, flush=True)

    def put(self, row: Row) -> None:
        """A new row, or a measurement's row again (one more run, or now an error)."""
        self.rows[row_key(row)] = row
        self.fresh.add(row_key(row))
        self.write(complete=False)

    def write(self, complete: bool) -> list[Row]:
        rows, out = list(self.rows.values()), self.config.output_dir
        write_json(rows, out / "results.json")
        heading = f"Generated {datetime.now(UTC):%Y-%m-%d %H:%M UTC} by `{self.command}`."
        heading += "" if complete else " **Partial run**: stopped before every measurement."
        if carried := len(self.rows) - len(self.fresh):
            heading += f" {carried} rows not measured again are kept from the previous run."
        text = render(rows, self.machine, evaluate(rows), heading)
        (out / "results.md").write_text(text, encoding="utf-8")
        return rows


def row_key(row: Row) -> tuple:
    """What one measurement is: a row with the same key replaces it."""
    return (row.suite, row.name, row.mode, row.leads, row.measure, row.stream, row.concurrency,
            row.latency_s)  # fmt: skip
