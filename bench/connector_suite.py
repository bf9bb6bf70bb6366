"""The connector suite: our connector and its peers read one bot of N leads from our mock server.

Each measurement is one whole `read` process (startup included, as a sync pays it), its wall
time and its process tree's peak RSS. Every RECORD line it writes is counted afterwards; a run
that does not deliver exactly the leads served is an error row, never a number.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench.config import BENCH_DIR, REPO_ROOT, BenchConfig
from bench.mock import RunningServer
from bench.procs import run_measured, tail
from bench.records import scan_file
from bench.results import (
    CONNECTOR,
    DLT,
    FULL_REFRESH,
    INCREMENTAL,
    MINIMAL,
    OURS,
    RAW,
    Row,
    RunSample,
    best_of,
    error_row,
    skipped_row,
)
from bench.suite import Suite

MINIMAL_MANIFEST = BENCH_DIR / "minimal_manifest.yaml"
RAW_SCRIPT = BENCH_DIR / "peers" / "raw_requests_orjson.py"
DLT_SCRIPT = BENCH_DIR / "peers" / "dlt_rest_api.py"

CASES: tuple[tuple[str, str], ...] = (
    (OURS, INCREMENTAL),
    (OURS, FULL_REFRESH),
    (MINIMAL, FULL_REFRESH),
    (MINIMAL, INCREMENTAL),
    (RAW, FULL_REFRESH),
    (DLT, FULL_REFRESH),
)
"""Every (peer, mode) measured at each size. raw and dlt have no incremental mode: they read
everything, which is what a first sync does."""

PRIMARY_KEYS = {OURS: [["bot_id"], ["session_id"]], MINIMAL: [["session_id"]]}
CURSOR_FIELD = ["created_at"]


def configured_catalog(stream: dict[str, Any], mode: str, primary_key: list[list[str]]) -> dict:
    """The configured catalog the platform would send for one stream in `mode`."""
    configured: dict[str, Any] = {"stream": stream, "primary_key": primary_key}
    if mode == INCREMENTAL:
        configured |= {
            "sync_mode": "incremental",
            "destination_sync_mode": "append_dedup",
            "cursor_field": CURSOR_FIELD,
        }
    else:
        configured |= {"sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}
    return {"streams": [configured]}


def connector_config(server: RunningServer, config: BenchConfig) -> dict[str, Any]:
    return {"api_key": config.api_key, "bot_ids": [config.bot_id], "base_url": server.base_url}


def write_incremental_manifest(manifest: Path, out: Path) -> None:
    """The minimal manifest with its client-side cursor switched on (see the YAML's header)."""
    document = yaml.safe_load(manifest.read_text(encoding="utf-8"))
    for stream in document["streams"]:
        stream["incremental_sync"] = {"$ref": "#/definitions/created_at_cursor"}
    out.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


def dlt_available() -> bool:
    return importlib.util.find_spec("dlt") is not None


@dataclass
class CaseResult:
    """The runs of one (peer, mode, size) so far, and the first thing that went wrong."""

    name: str
    mode: str
    leads: int
    samples: list[RunSample] = field(default_factory=list)
    problem: str | None = None
    skipped: str | None = None

    def row(self, planned_runs: int) -> Row:
        if self.skipped:
            return skipped_row(CONNECTOR, self.name, self.mode, self.leads, self.skipped)
        if self.problem:
            return error_row(CONNECTOR, self.name, self.mode, self.leads, self.problem)
        return samples_row(self.name, self.mode, self.leads, self.samples, planned_runs)


def samples_row(
    name: str, mode: str, leads: int, samples: Sequence[RunSample], planned_runs: int
) -> Row:
    """Best run's speed, worst run's memory, and every run's time in the note."""
    best, peak = best_of(samples)
    times = ", ".join(f"{s.seconds:.2f}" for s in samples)
    runs = f"best of {len(samples)}" if len(samples) > 1 else "1 run"
    partial = (
        f" ({len(samples)} of {planned_runs} runs done)" if len(samples) < planned_runs else ""
    )
    return Row(
        CONNECTOR,
        name,
        mode,
        leads,
        records_per_s=leads / best.seconds,
        seconds=best.seconds,
        peak_rss_mb=peak,
        note=f"{runs}: {times} s; {best.count} records counted{partial}",
    )


def count_problem(counted: int, served: int) -> str | None:
    if counted == served:
        return None
    return f"{counted} records delivered of {served} served"


class ConnectorSuite(Suite):
    """Runs the connector suite, one mock server per size, and reports rows as they change."""

    work_name = "connector"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.results: dict[tuple[str, str, int], CaseResult] = {}
        self._streams: dict[tuple[str, str], dict[str, Any]] = {}
        """Each (connector, mode)'s discovered stream: it does not depend on the size, so
        `discover` (two seconds of startup) runs once, not once per size."""
        self.minimal_incremental = self.work / "minimal_manifest_incremental.yaml"

    @staticmethod
    def step_count(config: BenchConfig) -> int:
        return 1 + len(config.sizes) * (1 + len(CASES) * config.runs)

    def rows(self) -> list[Row]:
        """A row for every case that has a result so far (cases not yet run have none)."""
        return [
            result.row(self.config.runs)
            for result in self.results.values()
            if result.samples or result.problem or result.skipped
        ]

    def run(self) -> list[Row]:
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir(parents=True)
        write_incremental_manifest(MINIMAL_MANIFEST, self.minimal_incremental)
        with self.progress.step("connector: warm-up (imports, bytecode caches)"):
            self._warm_up()
        for leads in self.config.sizes:
            for name, mode in CASES:
                self.results[(name, mode, leads)] = CaseResult(name, mode, leads)
        for leads in self.config.sizes:
            self._run_size(leads)
        return self.rows()

    def _warm_up(self) -> None:
        """Import the peers' libraries once, unmeasured, so the first measured run of each does
        not pay for compiling them (`discover` does the same for the two connectors)."""
        modules = ["requests", "orjson"]
        if dlt_available():
            modules += ["duckdb", "dlt", "dlt.sources.rest_api"]
        argv = [str(self.config.python), "-c", "; ".join(f"import {m}" for m in modules)]
        out, err = self.work / "warm-up.out", self.work / "warm-up.err"
        measured = run_measured(
            self.group, argv, stdout_path=out, stderr_path=err, timeout=300, env=_child_env()
        )
        if measured.returncode != 0:
            self.progress.log(f"  warm-up failed (exit {measured.returncode}): {tail(err)}")

    def _run_size(self, leads: int) -> None:
        size_dir = self.work / f"leads-{leads}"
        server: RunningServer | None = None
        files: dict[str, Path] = {}
        with self.progress.step(f"connector: mock server with {leads:,} leads"):
            try:
                server = self.start_mock(leads, size_dir)
                files = self._write_inputs(server, size_dir)
            except Exception as exc:  # one size failing must not end the others
                if server is not None:
                    self.group.stop(server.process)
                    server = None
                self._fail_size(leads, f"setup failed: {exc}")
        try:
            # Run k of every case before run k+1 of any, so drift on a shared machine spreads
            # over all peers instead of landing on one.
            for run in range(1, self.config.runs + 1):
                for name, mode in CASES:
                    result = self.results[(name, mode, leads)]
                    label = (
                        f"connector: {name} {mode} {leads:,} leads, run {run}/{self.config.runs}"
                    )
                    with self.progress.step(label):
                        if server is None or result.problem or result.skipped:
                            continue
                        self._measure(result, files, size_dir / f"{name}-{mode}-run{run}")
                    self.publish(self.rows())
        finally:
            if server is not None:
                self.group.stop(server.process)

    def _fail_size(self, leads: int, problem: str) -> None:
        for (_, _, size), result in self.results.items():
            if size == leads and not result.skipped:
                result.problem = problem
        self.publish(self.rows())

    def _write_inputs(self, server: RunningServer, size_dir: Path) -> dict[str, Path]:
        """config.json and one configured catalog per (connector, mode), from `discover`."""
        size_dir.mkdir(parents=True, exist_ok=True)
        files = {"config": size_dir / "config.json"}
        files["config"].write_text(json.dumps(connector_config(server, self.config)))
        for name in (OURS, MINIMAL):
            for mode in (INCREMENTAL, FULL_REFRESH):
                if (name, mode) not in self._streams:
                    self._streams[name, mode] = self._discover(name, mode, files["config"])
                stream = self._streams[name, mode]
                path = size_dir / f"catalog-{name}-{mode}.json"
                path.write_text(json.dumps(configured_catalog(stream, mode, PRIMARY_KEYS[name])))
                files[f"{name}-{mode}"] = path
        return files

    def _discover(self, name: str, mode: str, config_path: Path) -> dict[str, Any]:
        out, err = (
            self.work / f"discover-{name}-{mode}.out",
            self.work / f"discover-{name}-{mode}.err",
        )
        argv = [*self._entrypoint(name), "discover", "--config", str(config_path)]
        argv += self._manifest_args(name, mode)
        measured = run_measured(
            self.group,
            argv,
            stdout_path=out,
            stderr_path=err,
            timeout=120,
            env=_child_env(),
            cwd=REPO_ROOT,
        )
        for line in out.read_bytes().splitlines():
            if line.startswith(b'{"type":"CATALOG"'):
                return json.loads(line)["catalog"]["streams"][0]
        raise RuntimeError(
            f"{name} discover gave no catalog (exit {measured.returncode}): {tail(err) or tail(out)}"
        )

    def _entrypoint(self, name: str) -> list[str]:
        if name == OURS:
            return [str(self.config.executable("source-chatnode"))]
        return [str(self.config.executable("source-declarative-manifest"))]

    def _manifest_args(self, name: str, mode: str) -> list[str]:
        if name != MINIMAL:
            return []
        manifest = self.minimal_incremental if mode == INCREMENTAL else MINIMAL_MANIFEST
        return ["--manifest-path", str(manifest)]

    def _argv(self, result: CaseResult, files: dict[str, Path], run_dir: Path) -> list[str]:
        config_path = str(files["config"])
        python = str(self.config.python)
        if result.name == RAW:
            return [python, str(RAW_SCRIPT), "--config", config_path]
        if result.name == DLT:
            return [python, str(DLT_SCRIPT), "--config", config_path, "--work-dir", str(run_dir)]
        catalog = str(files[f"{result.name}-{result.mode}"])
        return [
            *self._entrypoint(result.name),
            "read",
            "--config",
            config_path,
            "--catalog",
            catalog,
            *self._manifest_args(result.name, result.mode),
        ]

    def _measure(self, result: CaseResult, files: dict[str, Path], run_dir: Path) -> None:
        if result.name == DLT and not dlt_available():
            result.skipped = "dlt is not installed here; run `make install`"
            return
        shutil.rmtree(run_dir, ignore_errors=True)
        run_dir.mkdir(parents=True)
        out, err = run_dir / "stdout", run_dir / "stderr"
        timeout = self.config.read_timeout(result.leads)
        measured = run_measured(
            self.group,
            self._argv(result, files, run_dir),
            stdout_path=out,
            stderr_path=err,
            timeout=timeout,
            env=_child_env(),
            cwd=REPO_ROOT,
        )
        if measured.timed_out:
            result.problem = f"timed out after {timeout:.0f} s"
        elif measured.returncode != 0:
            result.problem = f"exit code {measured.returncode}: {_why(out, err)}"
        else:
            counted, why = self._count(result.name, out)
            result.problem = count_problem(counted, result.leads)
            if result.problem and why:
                result.problem += f" ({why})"
            if not result.problem:
                result.samples.append(RunSample(measured.seconds, measured.peak_rss_mb, counted))
        if result.problem:
            self.progress.log(f"  {result.name} {result.mode} {result.leads:,}: {result.problem}")
        # Outputs of a million records are hundreds of MB: keep only the end of a failed one.
        if result.problem:
            _keep_tail(out)
        else:
            shutil.rmtree(run_dir, ignore_errors=True)

    @staticmethod
    def _count(name: str, out: Path) -> tuple[int, str]:
        """Records delivered, and the first error the output reports (if any)."""
        if name == DLT:
            lines = out.read_text().strip().splitlines()
            return (json.loads(lines[-1])["rows"], "") if lines else (0, "no output")
        scanned = scan_file(out)
        return scanned.records, "; ".join(scanned.problems)


def _keep_tail(path: Path, limit: int = 1 << 20) -> None:
    """Cut a failed run's stdout to its last `limit` bytes, where the error trace is."""
    if not path.exists() or path.stat().st_size <= limit:
        return
    with path.open("rb") as handle:
        handle.seek(-limit, os.SEEK_END)
        end = handle.read()
    path.write_bytes(end)


def _why(out: Path, err: Path) -> str:
    """The connector's own error trace if it wrote one, else the end of stderr."""
    problems = scan_file(out).problems if out.exists() else []
    return "; ".join(problems) or tail(err) or tail(out)


def _child_env() -> dict[str, str]:
    """The bench's environment, as a deployed connector would run: bytecode caching on (an image
    built with pip has compiled bytecode; without it every run recompiles the CDK, about 1.5 s),
    and dlt's telemetry off (no internet here, and a bench should not phone home)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["RUNTIME__DLT_TELEMETRY"] = "false"
    return env
