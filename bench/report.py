"""`results.md`: a table per measure (`SECTIONS`) and the computed ones, all from rows alone."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from bench.latency_report import latency_table
from bench.rows import Measure, Name, Row, find
from bench.targets import Target

DECIMALS = {"seconds": 2, "p50_ms": 2, "p99_ms": 2, "runs": 2}
"""Decimals a field is shown with; none for the others."""


def table(header: Sequence[str], body: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return [*lines, *("| " + " | ".join(str(c).replace("|", "/") for c in b) + " |" for b in body)]


def cell(row: Row, field: str) -> str:
    """A field as the tables show it; the note says why a row has no numbers."""
    value, digits = getattr(row, field), DECIMALS.get(field, 0)
    if field == "note":
        return f"{row.status}: {row.error}" if row.error else value
    if isinstance(value, list):
        return ", ".join(f"{v:.{digits}f}" for v in value)
    if isinstance(value, int | float):
        return f"{value:,.{digits}f}"
    return "-" if value is None else value.replace("_", " ")


def section(
    title: str, measure: Measure, columns: dict[str, str], rows: Sequence[Row], intro: str = ""
) -> list[str]:
    """The rows of one measure under its heading and intro (`SECTIONS`); nothing without rows."""
    body = [[cell(r, field) for field in columns.values()] for r in rows if r.measure == measure]
    lines = ["", title, "", *([intro, ""] if intro else []), *table(list(columns), body)]
    return lines if body else []


def machine_table() -> list[str]:
    """What the numbers were measured on: without it a rec/s figure compares with nothing."""
    cpuinfo = Path("/proc/cpuinfo")  # Linux; elsewhere platform.processor() says enough
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    cpu = [line for line in lines if line.startswith("model name")]
    node = shutil.which("node")
    facts = {
        "CPU": cpu[0].split(":", 1)[1] if cpu else platform.processor(),
        "Cores": os.cpu_count(),
        "RAM": f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.1f} GiB",
        "OS": platform.platform(),
        "Python": platform.python_version(),
        "airbyte-cdk": metadata.version("airbyte-cdk"),
        "dlt": metadata.version("dlt"),
        "Node.js": subprocess.check_output([node, "--version"], text=True) if node else "",
        "Load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    return ["## Machine", "", *table(["", ""], [(k, str(v).strip()) for k, v in facts.items()])]


def targets_table(targets: Sequence[Target]) -> list[str]:
    marks = {"pass": "✅ pass", "miss": "❌ miss", "n/a": "- n/a"}
    body = [[t.target, t.measured, marks[t.status]] for t in targets]
    header = ["", "## Targets", "", "Reported, not asserted.", ""]
    return [*header, *table(["Target", "Measured", "Status"], body)]


SECTIONS = {
    Measure.READ: (
        "## Connector suite",
        {"Reader": "name", "Mode": "mode", "Stream": "stream", "Served": "leads",
         "Records/s": "records_per_s", "Seconds": "seconds", "Peak RSS (MB)": "peak_rss_mb",
         "Runs (s)": "runs", "Note": "note"},
        "One bot served by `chatnode-mock-server` in its own process. Each number is one whole "
        "`read` process (startup included), after an unmeasured warm-up of every reader's "
        "imports: its wall time (the fastest run) and its process tree's peak RSS (the highest). "
        "Every RECORD is counted; a run short of the served count is an error row. `chats`: "
        "Served counts messages, in as many sessions as the note says; the minimal manifest "
        "(`bench/minimal_chats_manifest.yaml`, stock components only) sends one request per "
        "session, its grouped variant 100 sessions per request but is correct for one bot only.",
    ),
    Measure.OBSERVE: (
        "## Cursor suite",
        {"Cursor": "name", "Leads observed": "leads", "Seconds": "seconds", "Runs (s)": "runs",
         "Note": "note"},
        "In process: the leads cursor the CDK builds from the manifest (`bench/cursor_cost.py`) "
        "observes ascending leads of one bot, each slice hashed once as ours hands it over. The "
        "CDK calls `observe` for every lead a read emits, whatever the components do.",
    ),
    Measure.LOAD: (
        "## Server suite\n\n### Small responses under load",
        {"Server": "name", "Concurrency": "concurrency", "Requests/s": "requests_per_s",
         "p50 (ms)": "p50_ms", "p99 (ms)": "p99_ms", "Peak RSS (MB)": "peak_rss_mb",
         "Note": "note"},
        "The 16-lead POST, both servers sending the same leads (Prism's static example is our "
        "server's body), from a pure-Python asyncio load generator after a warm-up.",
    ),
    Measure.BIG_RESPONSE: (
        "### One big response",
        {"Server": "name", "Leads": "leads", "Seconds": "seconds", "Peak RSS (MB)": "peak_rss_mb",
         "Note": "note"},
        "One request, its body read to the end and its leads counted; the server's peak RSS.",
    ),
    Measure.UNDER_STREAM: (
        "### Small requests while the big response streams",
        {"Server": "name", "Leads streaming": "leads", "p50 (ms)": "p50_ms", "p99 (ms)": "p99_ms",
         "Note": "note"},
        "",
    ),
}  # fmt: skip
"""Each measure's table in `results.md`: its heading, its columns (header -> `Row` field) and
the intro that says how it was measured."""


def ceiling_table(rows: Sequence[Row]) -> list[str]:
    """The best ratio to the minimal manifest's full refresh the CDK's cursor leaves ours, at
    each leads size both were measured at."""
    per_lead = {
        row.name: row.seconds / row.leads
        for row in rows
        if row.measure == Measure.OBSERVE and row.status == "ok" and row.seconds
    }
    body = []
    for n in sorted({r.leads for r in rows if r.measure == Measure.READ and r.stream == "leads"}):
        read = dict(measure=Measure.READ, leads=n, stream="leads")
        builder = find(rows, name=Name.MINIMAL, mode="full_refresh", **read)
        ours = find(rows, name=Name.OURS, mode="incremental", **read)
        if builder is None or not builder.seconds or Name.OURS not in per_lead:
            continue
        alone = {name: n * seconds for name, seconds in per_lead.items()}
        ceiling = {name: builder.seconds / (builder.seconds + s) for name, s in alone.items()}
        body.append([
            f"{n:,}", f"{builder.seconds:.2f}", f"{alone[Name.OURS]:.2f}",
            f"{ceiling[Name.OURS]:.2f}x",
            f"{builder.seconds / ours.seconds:.2f}x" if ours and ours.seconds else "-",
            f"{ceiling[Name.GLOBAL_CURSOR]:.2f}x" if Name.GLOBAL_CURSOR in ceiling else "-",
        ])  # fmt: skip
    header = ["Leads", "Minimal manifest full refresh (s)", "Per-bot cursor alone (s)",
              "Ceiling for ours", "Ours measured", "Ceiling with a global cursor"]  # fmt: skip
    intro = (
        "Ceiling: the minimal manifest's full refresh time ÷ (that time + the leads times the "
        "per-bot cursor's cost per lead), the best records/s ratio to it a reader with this "
        "cursor can reach if the rest of its read costs no more than the minimal manifest's "
        "whole read. Ours measured: the same ratio from the connector suite's rows."
    )
    title = "### Ceiling against the minimal manifest's full refresh"
    return ["", title, "", intro, "", *table(header, body)] if body else []


def render(rows: Sequence[Row], machine: list[str], targets: Sequence[Target], heading: str) -> str:
    errors = sum(r.status == "error" for r in rows)
    lines = ["# Benchmark results", "", heading]
    lines += [f"**{errors} error row(s)**: see their notes.", ""] if errors else [""]
    lines += [*machine, *targets_table(targets)]
    for measure, (title, columns, intro) in SECTIONS.items():
        lines += section(title, measure, columns, rows, intro)
        lines += ceiling_table(rows) if measure == Measure.OBSERVE else []
    lines += latency_table(rows, table)
    return "\n".join(lines) + "\n"
