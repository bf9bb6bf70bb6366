"""`make demo`: the connector's whole life cycle against a local mock ChatNode API.

Starts `chatnode-mock-server` on 127.0.0.1 with seeded leads, runs `source-chatnode` check,
discover, a full refresh and an incremental read that carries its state over new leads, then
loads everything into DuckDB through PyAirbyte and prints a summary. Nothing leaves the machine.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

BIN_DIR = Path(sys.executable).parent
SOURCE_CHATNODE = str(BIN_DIR / "source-chatnode")
MOCK_SERVER = str(BIN_DIR / "chatnode-mock-server")
DEMO_KEY = "demo-secret-key"
DEMO_BOTS = ("bot-sales", "bot-support")
_LISTENING = re.compile(r"listening on (http://\S+)")


@dataclass
class Step:
    """One line of the demo's report."""

    name: str
    result: str


@contextmanager
def mock_server(leads_per_bot: int, seed: int) -> Iterator[str]:
    """Run `chatnode-mock-server` on a free loopback port; yield its base URL; always stop it."""
    args = [MOCK_SERVER, "--port", "0", "--api-key", DEMO_KEY, "--leads", str(leads_per_bot)]
    args += ["--seed", str(seed)]
    for bot in DEMO_BOTS:
        args += ["--bot", bot]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout is not None
        for line in process.stdout:
            match = _LISTENING.search(line)
            if match:
                yield match.group(1)
                return
        raise RuntimeError(f"chatnode-mock-server exited early with code {process.wait()}")
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def run_connector(command: str, workdir: Path, **inputs: Any) -> list[dict[str, Any]]:
    """Run one `source-chatnode` command on input files; return its Airbyte messages."""
    args = [SOURCE_CHATNODE, command]
    for name, content in inputs.items():
        path = workdir / f"{command}-{name}.json"
        path.write_text(json.dumps(content), encoding="utf-8")
        args += [f"--{name}", str(path)]
    process = subprocess.run(args, capture_output=True, text=True, check=False)
    messages = [json.loads(line) for line in process.stdout.splitlines() if line.startswith("{")]
    if process.returncode != 0:
        errors = [
            m["trace"]["error"]["message"]
            for m in messages
            if m["type"] == "TRACE" and m["trace"]["type"] == "ERROR"
        ]
        raise RuntimeError(f"source-chatnode {command} failed: {errors or process.stderr[-500:]}")
    return messages


def of_type(messages: Sequence[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [message for message in messages if message["type"] == kind]


def configured_catalog(catalog: dict[str, Any], sync_mode: str) -> dict[str, Any]:
    stream = catalog["streams"][0]
    return {
        "streams": [
            {
                "stream": stream,
                "sync_mode": sync_mode,
                "destination_sync_mode": "append_dedup"
                if sync_mode == "incremental"
                else "overwrite",
                "cursor_field": stream["default_cursor_field"],
                "primary_key": stream["source_defined_primary_key"],
            }
        ]
    }


def cli_walkthrough(base_url: str, workdir: Path, appended: int) -> list[Step]:
    config = {"api_key": DEMO_KEY, "bot_ids": list(DEMO_BOTS), "base_url": base_url}
    status = of_type(run_connector("check", workdir, config=config), "CONNECTION_STATUS")[0]
    steps = [Step("check", status["connectionStatus"]["status"])]
    catalog = of_type(run_connector("discover", workdir, config=config), "CATALOG")[0]["catalog"]
    stream = catalog["streams"][0]
    steps.append(
        Step("discover", f"stream `{stream['name']}`, key {stream['source_defined_primary_key']}")
    )

    full = run_connector(
        "read", workdir, config=config, catalog=configured_catalog(catalog, "full_refresh")
    )
    steps.append(Step("read, full refresh", f"{len(of_type(full, 'RECORD'))} leads"))

    incremental_catalog = configured_catalog(catalog, "incremental")
    first = run_connector("read", workdir, config=config, catalog=incremental_catalog)
    state = of_type(first, "STATE")[-1]["state"]
    steps.append(
        Step("read, incremental (no state)", f"{len(of_type(first, 'RECORD'))} leads, state saved")
    )

    for bot in DEMO_BOTS:
        response = httpx.post(
            f"{base_url.rsplit('/v1', 1)[0]}/_admin/bots/{bot}/leads", json={"count": appended}
        )
        response.raise_for_status()
    steps.append(
        Step("mock: append leads", f"{appended} new leads to each of {len(DEMO_BOTS)} bots")
    )

    second = run_connector(
        "read", workdir, config=config, catalog=incremental_catalog, state=[state]
    )
    emitted = len(of_type(second, "RECORD"))
    new = appended * len(DEMO_BOTS)
    steps.append(
        Step(
            "read, incremental (saved state)",
            f"{emitted} leads: {new} new + {emitted - new} at the saved cursors (inclusive bound)",
        )
    )
    return steps


def pyairbyte_load(base_url: str, cache_dir: Path) -> list[tuple[Any, ...]]:
    """Read every lead through PyAirbyte into its DuckDB cache and summarise it per bot."""
    os.environ.setdefault("AIRBYTE_OFFLINE_MODE", "1")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    warnings.filterwarnings("ignore", category=FutureWarning)
    import airbyte
    import sqlalchemy

    source = airbyte.get_source(
        "source-chatnode",
        config={"api_key": DEMO_KEY, "bot_ids": list(DEMO_BOTS), "base_url": base_url},
        local_executable=SOURCE_CHATNODE,
    )
    source.select_all_streams()
    cache = airbyte.new_local_cache("chatnode_demo", cache_dir=str(cache_dir))
    source.read(cache=cache)
    query = """
        SELECT bot_id, count(*) AS leads, count(DISTINCT session_id) AS sessions,
               sum(CASE WHEN for_agent THEN 1 ELSE 0 END) AS to_agent,
               min(created_at) AS first_lead, max(created_at) AS last_lead
        FROM leads GROUP BY bot_id ORDER BY bot_id
    """
    with cache.get_sql_engine().connect() as connection:
        return [tuple(row) for row in connection.execute(sqlalchemy.text(query))]


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[str(value) for value in row] for row in rows]
    widths = [
        max(len(str(header)), *(len(row[i]) for row in cells)) for i, header in enumerate(headers)
    ]
    line = "  ".join(f"{{:<{width}}}" for width in widths)
    print(line.format(*headers))
    print(line.format(*("-" * width for width in widths)))
    for row in cells:
        print(line.format(*row))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m demo",
        description="Run source-chatnode end to end against a local mock ChatNode API (make demo).",
    )
    parser.add_argument(
        "--leads", type=int, default=250, help="leads per bot at start (default 250)"
    )
    parser.add_argument(
        "--append",
        type=int,
        default=25,
        help="leads appended per bot before the incremental read (default 25)",
    )
    parser.add_argument("--seed", type=int, default=42, help="seed of the mock's data (default 42)")
    parser.add_argument(
        "--keep", action="store_true", help="keep the work folder (config, catalog, state, DuckDB)"
    )
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="chatnode-demo-"))
    try:
        with mock_server(args.leads, args.seed) as base_url:
            print(f"mock ChatNode API at {base_url} with bots {', '.join(DEMO_BOTS)}\n")
            steps = cli_walkthrough(base_url, workdir, args.append)
            print_table(("step", "result"), [(step.name, step.result) for step in steps])
            print("\nPyAirbyte -> DuckDB (cache in the work folder):\n")
            print_table(
                ("bot_id", "leads", "sessions", "to_agent", "first_lead", "last_lead"),
                pyairbyte_load(base_url, workdir / "duckdb"),
            )
        print("\nmock server stopped.")
    finally:
        if args.keep:
            print(f"work folder kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
