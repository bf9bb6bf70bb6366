"""`python -m bench`: flags -> `BenchConfig`, then the suites, writing results as they come.

Results are rewritten after every measurement, so a run that is stopped (Ctrl-C, a timeout, a
crash in one peer) still leaves `results.json` and `results.md` with everything measured so far.
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from bench import machine
from bench.config import (
    BENCH_DIR,
    FULL_SERVER_SIZES,
    FULL_SIZES,
    QUICK_OUTPUT_DIR,
    QUICK_SERVER_SIZES,
    QUICK_SIZES,
    BenchConfig,
    quick_config,
)
from bench.connector_suite import ConnectorSuite
from bench.procs import ProcessGroup, interrupts_as_exceptions
from bench.progress import Progress
from bench.report import render
from bench.results import CONNECTOR, SERVER, SUITES, Row, write_rows
from bench.server_suite import ServerSuite
from bench.targets import evaluate

EPILOG = f"""\
what it measures:
  connector  source-chatnode (incremental, full refresh), minimal-manifest (a Connector Builder
             manifest run by source-declarative-manifest), raw-requests-orjson (the floor) and
             dlt-rest-api (into DuckDB), reading one bot from chatnode-mock-server: records/s
             (whole `read` process, RECORD lines counted) and peak RSS of the process tree.
  server     chatnode-mock-server vs Prism 5: requests/s and p50/p99 latency of a 16-lead
             response at concurrency 1 and 16 (wrk), time and peak RSS of one big response,
             and small-request latency while a big response streams.

defaults:  sizes {" ".join(map(str, FULL_SIZES))}, 2 runs (best reported), server sizes
           {" ".join(map(str, FULL_SERVER_SIZES))}, 10 s load tests, output bench/.
--quick:   sizes {" ".join(map(str, QUICK_SIZES))}, 1 run, server size {QUICK_SERVER_SIZES[0]}, 2 s load tests,
           output {QUICK_OUTPUT_DIR.relative_to(BENCH_DIR.parent)}/ (never the committed results).

tools:     wrk is installed with apt-get when missing (root only), else an asyncio+httpx load
           generator is used; Prism with `npm install --prefix bench/.prism {"@stoplight/prism-cli@5"}`.
           --no-install uses only what is already there.
Everything listens on 127.0.0.1; every process started is stopped on exit, error or Ctrl-C.
Scratch files go to OUTPUT_DIR/.work/. Exit code 0 when the run finished (error rows are
results, see results.md), 130 when interrupted.
"""

_SIZE = re.compile(r"^(\d+(?:\.\d+)?)([kKmM]?)$")


def lead_count(text: str) -> int:
    """`10000`, `10k` or `1M`, as a positive number of leads."""
    match = _SIZE.match(text.strip().replace("_", "").replace(",", ""))
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a lead count (e.g. 10000, 100k, 1M)")
    number, unit = float(match.group(1)), match.group(2).lower()
    value = int(number * {"": 1, "k": 1_000, "m": 1_000_000}[unit])
    if value < 1:
        raise argparse.ArgumentTypeError(f"a lead count must be positive, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark the ChatNode connector against its peers and the mock server "
        "against Prism; write results.md and results.json.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small sizes, 1 run, short load tests: checks the harness in under 2 minutes",
    )
    parser.add_argument(
        "--sizes",
        nargs="+",
        type=lead_count,
        metavar="N",
        help="leads served to the connector suite (e.g. 10k 100k 1M)",
    )
    parser.add_argument(
        "--server-sizes",
        nargs="+",
        type=lead_count,
        metavar="N",
        help="leads in the server suite's one big response; the largest also carries the "
        "latency-while-streaming probe",
    )
    parser.add_argument(
        "--runs", type=int, metavar="N", help="runs per connector measurement, best reported"
    )
    parser.add_argument(
        "--load-seconds",
        type=float,
        metavar="S",
        help="duration of each load test (default 10, --quick 2)",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        metavar="DIR",
        help=f"where results.md and results.json go (default bench/, --quick "
        f"{QUICK_OUTPUT_DIR.relative_to(BENCH_DIR.parent)}/)",
    )
    parser.add_argument("--skip-prism", action="store_true", help="do not install or run Prism")
    parser.add_argument(
        "--only", choices=SUITES, help="run one suite (default both: connector, then server)"
    )
    parser.add_argument(
        "--no-install",
        action="store_true",
        help="never install wrk or Prism; use the Python load generator and skip Prism "
        "if they are missing",
    )
    return parser


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    overrides: dict[str, object] = {}
    if args.sizes:
        overrides["sizes"] = tuple(args.sizes)
    if args.server_sizes:
        overrides["server_sizes"] = tuple(args.server_sizes)
    if args.runs is not None:
        overrides["runs"] = args.runs
    if args.load_seconds is not None:
        overrides["load_seconds"] = args.load_seconds
    overrides["suites"] = (args.only,) if args.only else SUITES
    overrides["skip_prism"] = args.skip_prism
    overrides["install_tools"] = not args.no_install
    if args.quick:
        return quick_config(args.output_dir, **overrides)
    return BenchConfig(output_dir=args.output_dir or BENCH_DIR, **overrides)  # type: ignore[arg-type]


class ResultWriter:
    """Keeps each suite's latest rows and rewrites both result files whenever they change."""

    def __init__(self, config: BenchConfig, command: str) -> None:
        self.config = config
        self.command = command
        self.by_suite: dict[str, list[Row]] = {}
        self.machine = machine.describe()
        self.started = datetime.now(UTC)

    @property
    def rows(self) -> list[Row]:
        return [row for suite in SUITES for row in self.by_suite.get(suite, [])]

    def publisher(self, suite: str) -> Callable[[list[Row]], None]:
        def publish(rows: list[Row]) -> None:
            self.by_suite[suite] = rows
            self.write(complete=False)

        return publish

    def write(self, complete: bool) -> None:
        runs = self.config.runs
        runs_note = f"Best of {runs} runs (memory: highest of them)." if runs > 1 else "One run."
        write_rows(self.rows, self.json_path)
        text = render(
            self.rows,
            self.machine,
            generated=self.started.strftime("%Y-%m-%d %H:%M UTC"),
            command=self.command,
            runs_note=runs_note,
            quick=self.config.quick,
            complete=complete,
        )
        self.md_path.write_text(text, encoding="utf-8")

    @property
    def json_path(self) -> Path:
        return self.config.output_dir / "results.json"

    @property
    def md_path(self) -> Path:
        return self.config.output_dir / "results.md"


def run(config: BenchConfig, command: str) -> int:
    config.output_dir.mkdir(parents=True, exist_ok=True)
    writer = ResultWriter(config, command)
    steps = 0
    if CONNECTOR in config.suites:
        steps += ConnectorSuite.step_count(config)
    if SERVER in config.suites:
        steps += ServerSuite.step_count(config)
    complete = False
    with Progress(steps) as progress, ProcessGroup() as group, interrupts_as_exceptions():
        try:
            if CONNECTOR in config.suites:
                ConnectorSuite(config, group, progress, writer.publisher(CONNECTOR)).run()
            if SERVER in config.suites:
                ServerSuite(config, group, progress, writer.publisher(SERVER)).run()
            complete = True
        except KeyboardInterrupt:
            progress.log("interrupted: stopping every process the bench started")
        finally:
            group.stop_all()
            writer.machine = machine.describe()
            writer.write(complete=complete)
    _summary(writer, complete)
    return 0 if complete else 130


def _summary(writer: ResultWriter, complete: bool) -> None:
    rows = writer.rows
    sizes = sorted({r.leads for r in rows if r.suite == CONNECTOR})
    print(f"{'Finished' if complete else 'Stopped'}: {len(rows)} rows")
    for result in evaluate(rows, sizes):
        print(f"  [{result.status:>4}] {result.target}: {result.measured}")
    errors = [r for r in rows if r.is_error]
    for row in errors:
        print(f"  error row: {row.name} {row.mode or ''} {row.leads:,}: {row.note}")
    print(f"Wrote {writer.md_path} and {writer.json_path}")


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(arguments)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    return run(config, shlex.join(["python", "-m", "bench", *arguments]))
