"""`python -m bench`: the flags become a `BenchConfig`, and a `Run` runs the suites it names.

The results are rewritten after every row, so a run that is stopped (Ctrl-C, a timeout, a crash
in one peer) still leaves `results.json` and `results.md` with everything measured so far.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from signal import SIGHUP, SIGTERM
from typing import Any

from bench.config import CASES, BenchConfig, quick_config
from bench.connector import run_connector_suite
from bench.cursor_cost import run_cursor_suite
from bench.latency import run_latency_suite
from bench.rows import STREAMS, SUITES, Row
from bench.run_state import Run
from bench.server import run_server_suite
from bench.targets import evaluate

EPILOG = """\
connector suite: each reader reads one bot's records from chatnode-mock-server, best of 2
  runs. Leads (10000 100000 1000000): source-chatnode and the minimal manifest (incremental,
  full refresh), the global-cursor variant, the Cloud edition and dlt through
  source_chatnode.dlt (incremental), raw requests+orjson and dlt's rest_api (full refresh).
  Chats (100000 and 1000000 messages: 10000 sessions x 10 and x 100): source-chatnode
  (incremental, full refresh), the minimal chats manifest (one request per session) and its
  grouped one-bot variant (full refresh).
cursor suite: the CDK cursor built from our manifest, per bot and global, observes 200000
  ascending leads in process: its cost per lead, and the ceiling it puts on ours against the
  minimal manifest's full refresh (with the connector suite's rows).
server suite: chatnode-mock-server, and Prism 5 (installed on first use with npm into
  bench/.tools), serving 16 leads at concurrency 16 for 10 s; one big response of 1M leads;
  small requests while it streams.
latency suite: the mock adds 0.1 s and 0.5 s to every request; 20 bots x 500 leads x 4
  messages, and 1 bot x 5,000 leads x 4 messages; ours at num_workers 1, 5 (default) and 10,
  ours before issue 17, the Cloud edition and the minimal manifests, each against its floor
  (S + R x L); best of --runs (the one-request-per-session readers once). About 25 minutes,
  mostly waiting. A focused run (--only, --readers, --streams, --sizes) keeps every row of
  the previous results.json it does not measure again.
--quick: 2000 and 10000 leads, 1000 messages (200 sessions x 5), 1 run, 20000 leads
  observed, a 100k big response, a 2 s load test, bench/.work/quick/.
example: python -m bench --only connector --streams chats --chat-sizes 100000 --runs 1
         python -m bench --quick --only connector --readers dlt-rest-api dlt-source-chatnode
Everything listens on 127.0.0.1; every process started is stopped however the bench ends.
Exit code 0 when it finished (error rows are results), 130 when it was interrupted.
"""


def run(config: BenchConfig, command: str = "python -m bench") -> tuple[list[Row], bool]:
    """The configured suites; the rows, and whether the run finished."""
    suites = {
        "connector": run_connector_suite,
        "cursor": run_cursor_suite,
        "server": run_server_suite,
        "latency": run_latency_suite,
    }
    config.work_dir.mkdir(parents=True, exist_ok=True)
    bench, complete = Run(config, command), False
    # A kill or a hangup stops the children too, as Ctrl-C does (they run in their own sessions).
    previous = {sig: signal.signal(sig, signal.default_int_handler) for sig in (SIGTERM, SIGHUP)}
    try:
        with bench.group:
            for suite in config.suites:
                suites[suite](bench)
            complete = True
    except KeyboardInterrupt:
        bench.say("interrupted: stopped every process the bench started")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    rows = bench.write(complete)
    for target in evaluate(rows):
        bench.say(f"[{target.status:>4}] {target.target}: {target.measured}")
    errors = sum(row.status == "error" for row in rows)
    bench.say(f"{'finished' if complete else 'stopped'}, {errors} error rows: {config.output_dir}")
    return rows, complete


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark the ChatNode connector against its peers and the mock server "
        "against Prism; write results.md and results.json.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--quick", action="store_true", help="small sizes, 1 run (see below)")
    add("--only", choices=SUITES, help="run one suite (default all)")
    add("--streams", nargs="+", choices=STREAMS, help="the connector cases of these streams")
    readers = list(dict.fromkeys(case.name.value for case in CASES))
    add("--readers", nargs="+", choices=readers, metavar="NAME", help=f"the connector cases of these readers: {', '.join(readers)}")  # fmt: skip
    add("--sizes", nargs="+", type=int, metavar="N", help="leads served to each leads run")
    add("--chat-sizes", nargs="+", type=int, metavar="N", help="messages served to each chats run")
    add("--runs", type=int, metavar="N", help="runs per connector measurement")
    add("--output-dir", type=Path, metavar="DIR", help="where results.md and results.json go")
    add("--skip-prism", action="store_true", help="do not install or run Prism")
    add("--no-install", action="store_true", help="never install Prism; skip it if missing")
    return parser


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    flags = {"sizes": args.sizes and tuple(args.sizes), "runs": args.runs}
    flags |= {"chat_sizes": args.chat_sizes and tuple(args.chat_sizes)}
    cases = tuple(c for c in CASES if not args.streams or c.stream in args.streams)
    cases = tuple(c for c in cases if not args.readers or c.name in args.readers)
    flags |= {"cases": cases if args.streams or args.readers else None}
    flags |= {"output_dir": args.output_dir, "suites": args.only and (args.only,)}
    overrides: dict[str, Any] = {key: value for key, value in flags.items() if value is not None}
    overrides |= {"skip_prism": args.skip_prism, "install": not args.no_install}
    return quick_config(**overrides) if args.quick else BenchConfig(**overrides)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        config = config_from_args(parser.parse_args(arguments))
    except ValueError as exc:
        parser.error(str(exc))
    _, complete = run(config, shlex.join(["python", "-m", "bench", *arguments]))
    return 0 if complete else 130
