"""`Run`: one run of the bench, shared by the suites and the CLI (its own module, so that the
suites need not import the CLI that starts them)."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bench.config import BenchConfig
from bench.procs import ProcessGroup
from bench.report import machine_table, render
from bench.rows import SUITES, Row, write_json
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
    carried: int = 0
    """Rows of suites this run does not run, kept from the previous results.json."""

    def __post_init__(self) -> None:
        previous = self.config.output_dir / "results.json"
        if set(self.config.suites) == set(SUITES) or not previous.exists():
            return
        for item in json.loads(previous.read_text(encoding="utf-8")):
            row = Row(**item)
            if row.suite not in self.config.suites:
                self.rows[row_key(row)] = row
                self.carried += 1

    def say(self, message: str) -> None:
        """Progress on stderr, each line stamped with the time since the start."""
        minutes, seconds = divmod(int(time.monotonic() - self.started), 60)
        print(f"[{minutes}:{seconds:02d}] {message}", file=sys.stderr, flush=True)

    def put(self, row: Row) -> None:
        """A new row, or a measurement's row again (one more run, or now an error)."""
        self.rows[row_key(row)] = row
        self.write(complete=False)

    def write(self, complete: bool) -> list[Row]:
        rows, out = list(self.rows.values()), self.config.output_dir
        write_json(rows, out / "results.json")
        heading = f"Generated {datetime.now(UTC):%Y-%m-%d %H:%M UTC} by `{self.command}`."
        heading += "" if complete else " **Partial run**: stopped before every measurement."
        if self.carried:
            heading += f" {self.carried} rows of the other suites are kept from the previous run."
        text = render(rows, self.machine, evaluate(rows), heading)
        (out / "results.md").write_text(text, encoding="utf-8")
        return rows


def row_key(row: Row) -> tuple:
    """What one measurement is: a row with the same key replaces it."""
    return (row.suite, row.name, row.mode, row.leads, row.measure, row.stream, row.concurrency,
            row.latency_s)  # fmt: skip
