"""The connector suite: every reader reads one stream of one bot from our mock server: N leads,
or N chat messages (`chat_sessions` sessions of N / `chat_sessions` messages).

Each measurement is one whole `read` process (startup included, as a sync pays it): its wall
time and its process tree's peak RSS. Every RECORD line it writes is counted afterwards; a run
that does not deliver exactly the records served is an error row, never a number.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
from collections.abc import Iterable
from itertools import product
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import yaml
from airbyte_cdk.models import ConfiguredAirbyteCatalogSerializer as CatalogSerializer

from bench.config import BENCH_DIR, Case
from bench.procs import Measured, ProcessGroup, run_measured, tail
from bench.rows import MODES, STREAMS, Name, Row
from bench.servers import start_mock
from source_chatnode.in_process import configured_catalog
from source_chatnode.run import MANIFEST_PATH, load_manifest

if TYPE_CHECKING:
    from bench.run_state import Run

MINIMAL_MANIFEST = BENCH_DIR / "minimal_manifest.yaml"
MINIMAL_CHATS_MANIFEST = BENCH_DIR / "minimal_chats_manifest.yaml"
CLOUD_EDITION = MANIFEST_PATH.parent / "builder" / "manifest.yaml"
READ = "read --config {config} --catalog {catalog}"
DECLARATIVE = f"{{bin}}/source-declarative-manifest {READ} --manifest-path {{manifest}}"
COMMANDS = {
    Name.OURS: f"{{bin}}/source-chatnode {READ}",
    **dict.fromkeys((Name.GLOBAL_CURSOR, Name.BEFORE), f"{{python}} {{peers}}/manifest_variant.py {{manifest}} {READ}"),
    **dict.fromkeys((Name.MINIMAL, Name.MINIMAL_GROUPED, Name.CLOUD), DECLARATIVE),
    Name.RAW: "{python} {peers}/raw_requests_orjson.py {config}",
    Name.DLT: "{python} {peers}/dlt_duckdb.py rest_api {config} {run_dir}",
    Name.DLT_SOURCE: "{python} {peers}/dlt_duckdb.py source_chatnode {config} {run_dir}",
}  # fmt: skip
"""Each reader's console script, run directly: a launcher (`uv run`) would add its startup."""
IMPORTS = {
    **dict.fromkeys((Name.OURS, Name.GLOBAL_CURSOR, Name.BEFORE), "source_chatnode.run"),
    **dict.fromkeys((Name.MINIMAL, Name.MINIMAL_GROUPED, Name.CLOUD), "airbyte_cdk.cli.source_declarative_manifest"),
    Name.RAW: "requests, orjson",
    Name.DLT: "dlt.sources.rest_api, duckdb",
    Name.DLT_SOURCE: "source_chatnode.dlt, duckdb",
}  # fmt: skip
"""What each reader imports, compiled once by the unmeasured warm-up as in a deployed image."""


def global_cursor_manifest() -> dict[str, Any]:
    """Our manifest with `global_substream_cursor: true` on the leads stream's cursor (issue #12):
    one cursor for all bots instead of one per bot. Measured, never shipped."""
    manifest = load_manifest()
    [leads] = [s for s in manifest["streams"] if s["name"] == "leads"]
    cursor = leads["incremental_sync"]["$ref"].removeprefix("#/definitions/")
    leads["incremental_sync"] = {**manifest["definitions"][cursor], "global_substream_cursor": True}
    return manifest


def before_manifest() -> dict[str, Any]:
    """Our manifest as it read before issue #17: no `concurrency_level`, batches in turn."""
    manifest = load_manifest()
    manifest.pop("concurrency_level")
    for stream in (s for s in manifest["streams"] if s["name"] == "chats"):
        stream["retriever"]["batches_in_flight"] = 1
    return manifest


def incremental_minimal_manifest(path: Path = MINIMAL_MANIFEST) -> dict[str, Any]:
    """A minimal manifest with its plain client-side cursor switched on (see its header)."""
    manifest = yaml.safe_load(path.read_text(encoding="utf-8"))
    for stream in manifest["streams"]:
        stream["incremental_sync"] = {"$ref": "#/definitions/created_at_cursor"}
    return manifest


def grouped_chats_manifest(group_size: int = 100) -> dict[str, Any]:
    """The minimal chats manifest with its sessions batched by the stock GroupingPartitionRouter,
    as many as ours sends by default. A batch's path and `bot_id` are its first session's bot:
    the router groups across parent slices, so with several bots a batch mixes them."""
    manifest = yaml.safe_load(MINIMAL_CHATS_MANIFEST.read_text(encoding="utf-8"))
    [chats] = manifest["streams"]
    retriever, bot = chats["retriever"], "stream_partition.parent_slice[0].bot_id"
    retriever["partition_router"] = {
        "type": "GroupingPartitionRouter",
        "group_size": group_size,
        "underlying_partition_router": retriever["partition_router"],
    }
    retriever["requester"]["path"] = f"/get-chats/{{{{ {bot} | urlencode }}}}"
    retriever["requester"]["request_body_data"] = " \n {{ stream_partition.session_id | tojson }}"
    chats["transformations"][0]["fields"][0]["value"] = f"{{{{ {bot} }}}}"
    return manifest


def count_records(out: Path, dlt: bool) -> tuple[int, str]:
    """Records a run delivered, and the first error it reported. Airbyte readers write
    `{"type":"RECORD"` first on a record's line; dlt prints the rows DuckDB holds after the load."""
    if dlt:
        last = (out.read_text().splitlines() or [""])[-1]
        return (json.loads(last)["rows"] if last.startswith('{"rows"') else 0), ""
    records, error = 0, ""
    with out.open("rb") as lines:
        for line in lines:
            if line.startswith(b'{"type":"RECORD"'):
                records += 1
            elif line.startswith(b'{"type":"TRACE"') and not error:
                trace = orjson.loads(line)["trace"]
                error = trace["error"]["message"] if trace["type"] == "ERROR" else ""
    return records, error


def measure_read(
    group: ProcessGroup, argv: list[str], run_dir: Path, served: int, dlt: bool = False
) -> tuple[Measured, str | None]:
    """One read process, measured, and what went wrong if anything did."""
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    # Bytecode caching on, as in a deployed image: without it every run recompiles the CDK.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    # Generous: a hung run must end its row, not the bench (dlt reads 1M leads in 2 minutes).
    timeout = 300 + served / 1_000
    measured = run_measured(group, argv, run_dir / "stdout", timeout, env)
    records, error = count_records(run_dir / "stdout", dlt and measured.returncode == 0)
    if measured.returncode is None:
        return measured, f"timed out after {timeout:.0f} s"
    if measured.returncode != 0:
        return measured, f"exit code {measured.returncode}: {error or tail(run_dir / 'stdout.err')}"
    if records != served:
        return measured, f"{records} records delivered of {served} served {error}".strip()
    shutil.rmtree(run_dir)  # a million records are hundreds of MB: keep only failed runs
    return measured, None


def add_run(row: Row, measured: Measured, problem: str | None) -> Row:
    """The fastest run's time and the highest peak RSS of all runs: noise on a shared machine
    only ever slows a run down, and a peak seen once can happen in production."""
    if problem:
        return row.failed(problem)
    row.runs.append(round(measured.seconds, 3))
    row.seconds, row.records = min(row.runs), row.leads
    row.records_per_s = row.leads / row.seconds
    row.peak_rss_mb = max(row.peak_rss_mb or 0, measured.peak_rss_mb)
    return row


def reader_files(cases: Iterable[Case], work: Path) -> dict[Case, dict[str, str]]:
    """Each case's placeholders in `COMMANDS` that stay the same at every size: the fixed ones
    and, for a manifest reader, its manifest (a derived one written to `work` first) and the
    catalog of its stream and mode. A source takes from the catalog only which stream to read
    and how, and every manifest names its streams as ours does: the connector's one catalog
    builder serves them all."""
    python, known, places = Path(sys.executable), manifests(), {}
    fixed = {"python": str(python), "bin": str(python.parent), "peers": str(BENCH_DIR / "peers")}
    for case in dict.fromkeys(cases):  # readers that differ only in workers share a case
        name, manifest, files = f"{case.name}-{case.mode}-{case.stream}", known.get(case), {}
        if isinstance(manifest, dict):
            (work / f"{name}.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
            manifest = work / f"{name}.yaml"
        if manifest is not None:
            catalog = configured_catalog([case.stream], incremental=case.mode == "incremental")
            (work / f"{name}.json").write_text(json.dumps(CatalogSerializer.dump(catalog)))
            files = {"manifest": str(manifest), "catalog": str(work / f"{name}.json")}
        places[case] = fixed | files
    return places


def manifests() -> dict[Case, Path | dict[str, Any]]:
    """The manifest of each manifest reader's case: a file, or one derived from a file."""
    return {
        **{Case(Name.OURS, mode, stream): MANIFEST_PATH for mode in MODES for stream in STREAMS},
        **{Case(Name.CLOUD, mode, stream): CLOUD_EDITION for mode in MODES for stream in STREAMS},
        **{Case(Name.BEFORE, "full_refresh", stream): before_manifest() for stream in STREAMS},
        Case(Name.GLOBAL_CURSOR, "incremental"): global_cursor_manifest(),
        Case(Name.MINIMAL, "full_refresh"): MINIMAL_MANIFEST,
        Case(Name.MINIMAL, "incremental"): incremental_minimal_manifest(),
        Case(Name.MINIMAL, "full_refresh", "chats"): MINIMAL_CHATS_MANIFEST,
        Case(Name.MINIMAL, "incremental", "chats"): incremental_minimal_manifest(
            MINIMAL_CHATS_MANIFEST
        ),
        Case(Name.MINIMAL_GROUPED, "full_refresh", "chats"): grouped_chats_manifest(),
    }


def run_connector_suite(run: Run) -> None:
    """An unmeasured warm-up, then per stream and size one mock server and the runs of every
    case of that stream against it.

    Run k of every case comes before run k+1 of any: drift on a shared machine spreads over all
    readers instead of landing on one."""
    config, work = run.config, run.scratch("connector")
    inputs, imports = (
        reader_files(config.cases, work),
        {IMPORTS[case.name] for case in config.cases},
    )
    run.say(f"connector: warm-up, importing {', '.join(sorted(imports))}")
    argv = [sys.executable, "-c", f"import {', '.join(imports)}"]
    _, problem = measure_read(run.group, argv, work / "warm-up", 0)
    run.say(f"  warm-up failed: {problem}" if problem else "  done")
    for stream, served in config.servings():
        cases = tuple(case for case in config.cases if case.stream == stream)
        leads, messages = config.mock_data(stream, served)
        what = f"{leads:,} sessions x {messages:,} messages" if messages else f"{leads:,} leads"
        rows = {c: Row("connector", c.name, c.mode, served, stream=stream) for c in cases}
        size_dir = work / f"{stream}-{served}"
        size_dir.mkdir()
        run.say(f"connector: mock server with {what}")
        try:
            server = start_mock(run.group, size_dir / "mock.out", config, leads, messages)
        except RuntimeError as exc:  # one size failing must not end the others
            for row in rows.values():
                run.put(row.failed(f"mock server: {exc}"))
            continue
        settings = dict(api_key=config.api_key, bot_ids=[config.bot_id], base_url=server.api_url)
        (size_dir / "config.json").write_text(json.dumps(settings))
        try:
            for k, case in product(range(1, config.runs + 1), cases):
                if rows[case].status != "ok":
                    continue
                run_dir = size_dir / f"run-{k}-{case.name}-{case.mode}"
                places = {**inputs[case], "config": f"{size_dir}/config.json", "run_dir": run_dir}
                argv = [part.format(**places) for part in shlex.split(COMMANDS[case.name])]
                dlt = case.name in (Name.DLT, Name.DLT_SOURCE)
                measured, problem = measure_read(run.group, argv, run_dir, served, dlt)
                rows[case] = add_run(rows[case], measured, problem)
                rows[case].note = "" if problem or not messages else what
                run.put(rows[case])
                done = f"{measured.seconds:.2f} s, {measured.peak_rss_mb:.0f} MB"
                run.say(f"  {case.name} {case.mode}, {what}: {problem or done}")
        finally:
            run.group.stop(server.process)
