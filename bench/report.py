"""`results.md`: the rows as tables, the ratios ours/peer, the targets, and the machine.

Rendered from rows only, so a partial run (a peer failed, the bench was stopped) still gives a
readable report with its gaps marked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from bench.results import (
    BIG_RESPONSE,
    CEILING,
    CONNECTOR,
    DLT,
    FULL_REFRESH,
    INCREMENTAL,
    LOAD_TEST,
    MINIMAL,
    MOCK,
    MODES,
    NAMES,
    OURS,
    PRISM,
    RAW,
    SERVER,
    UNDER_STREAM,
    Row,
    find,
    kind_of,
)
from bench.targets import NOT_MEASURED, PASS, evaluate, format_ratio, ratio

CONNECTOR_PEERS: tuple[tuple[str, str], ...] = (
    (MINIMAL, FULL_REFRESH),
    (MINIMAL, INCREMENTAL),
    (RAW, FULL_REFRESH),
    (DLT, FULL_REFRESH),
)
STATUS_MARK = {PASS: "✅ pass", NOT_MEASURED: "- n/a"}


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def table(header: Sequence[str], body: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in body]
    return lines


def _num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _mode(mode: str | None) -> str:
    return (mode or "-").replace("_", " ")


def _order(row: Row) -> tuple[int, int, int, int]:
    mode_rank = MODES.index(row.mode) if row.mode in MODES else len(MODES)
    return (row.leads, NAMES.index(row.name), mode_rank, row.concurrency or 0)


def connector_section(rows: Sequence[Row], runs_note: str) -> list[str]:
    ours_rows = sorted((r for r in rows if r.suite == CONNECTOR), key=_order)
    if not ours_rows:
        return []
    lines = [
        "## Connector suite",
        "",
        "One bot, its leads served by `chatnode-mock-server` in its own process. Each number is "
        "one whole `read` process: wall time from start to exit (startup included) and peak RSS "
        "of its process tree. Every RECORD line is counted; a run short of the served count is "
        "an error row. Connectors run with bytecode caching on, after an unmeasured warm-up "
        "(`discover`, the peers' imports), as a deployed image would. minimal-manifest reads "
        f"without `bot_id` (no transformation), raw-requests-orjson writes ours' records. {runs_note}",
        "",
    ]
    body = [
        [
            r.name,
            _mode(r.mode),
            f"{r.leads:,}",
            _num(r.records_per_s) if r.measured else ("skipped" if r.is_skipped else "error"),
            _num(r.seconds, 2),
            _num(r.peak_rss_mb),
            r.note,
        ]
        for r in ours_rows
    ]
    header = ["Connector", "Mode", "Leads", "Records/s", "Seconds", "Peak RSS (MB)", "Note"]
    lines += table(header, body)
    lines += ["", *connector_ratios(rows)]
    return lines


def connector_ratios(rows: Sequence[Row]) -> list[str]:
    sizes = sorted({r.leads for r in rows if r.suite == CONNECTOR})
    peers = [f"{name} {_mode(mode)}" for name, mode in CONNECTOR_PEERS]

    def ratios(metric: Callable[[Row], float | None]) -> list[list[str]]:
        body = []
        for leads in sizes:
            for mode in MODES:
                ours = find(rows, suite=CONNECTOR, name=OURS, mode=mode, leads=leads)
                cells = [f"{leads:,}", f"ours {_mode(mode)}"]
                for name, peer_mode in CONNECTOR_PEERS:
                    peer = find(rows, suite=CONNECTOR, name=name, mode=peer_mode, leads=leads)
                    cells.append(format_ratio(ratio(ours and metric(ours), peer and metric(peer))))
                body.append(cells)
        return body

    return [
        "### Ours / peer",
        "",
        "Records/s, ours ÷ peer (above 1x ours is faster):",
        "",
        *table(["Leads", "Ours", *peers], ratios(lambda r: r.records_per_s)),
        "",
        "Peak RSS, ours ÷ peer (below 1x ours uses less memory):",
        "",
        *table(["Leads", "Ours", *peers], ratios(lambda r: r.peak_rss_mb)),
        "",
    ]


def _server_label(row: Row) -> str:
    return f"{row.name} (GET /_admin/health)" if kind_of(row) == CEILING else row.name


def server_section(rows: Sequence[Row]) -> list[str]:
    server_rows = [r for r in rows if r.suite == SERVER]
    if not server_rows:
        return []
    lines = ["## Server suite", ""]
    load = sorted((r for r in server_rows if kind_of(r) in (LOAD_TEST, CEILING)), key=_order)
    if load:
        lines += [
            "### Small responses under load",
            "",
            "POST of a 16-lead response, both servers answering the same bytes (Prism in static "
            "mode, its example set to our server's body). The ceiling rows request our server's "
            "`GET /_admin/health`, the cheapest route there is: the load generator's CPU share "
            "in the notes says whether it, not the server, was the limit.",
            "",
            *table(
                [
                    "Server",
                    "Concurrency",
                    "Requests/s",
                    "p50 (ms)",
                    "p99 (ms)",
                    "Peak RSS (MB)",
                    "Note",
                ],
                [
                    [
                        _server_label(r),
                        r.concurrency,
                        _num(r.requests_per_s) if r.measured else _status_word(r),
                        _num(r.p50_ms, 2),
                        _num(r.p99_ms, 2),
                        _num(r.peak_rss_mb),
                        r.note,
                    ]
                    for r in load
                ],
            ),
            "",
        ]
        concurrencies = sorted({r.concurrency for r in load if r.concurrency is not None})
        body = []
        for c in concurrencies:
            ours = find(rows, kind=LOAD_TEST, name=MOCK, concurrency=c)
            prism = find(rows, kind=LOAD_TEST, name=PRISM, concurrency=c)
            body.append(
                [
                    c,
                    format_ratio(
                        ratio(ours and ours.requests_per_s, prism and prism.requests_per_s)
                    ),
                    format_ratio(ratio(ours and ours.p99_ms, prism and prism.p99_ms)),
                ]
            )
        lines += [
            "Ours ÷ Prism:",
            "",
            *table(["Concurrency", "Requests/s", "p99 latency (below 1x is faster)"], body),
            "",
        ]
    big = sorted((r for r in server_rows if kind_of(r) == BIG_RESPONSE), key=_order)
    if big:
        body = []
        for r in big:
            seconds = _num(r.seconds, 2) if r.measured else _status_word(r)
            body.append([r.name, f"{r.leads:,}", seconds, _num(r.peak_rss_mb), r.note])
        lines += [
            "### One big response",
            "",
            "One request; the client reads the body to the end and counts its bytes and leads. "
            "Peak RSS is the server's process tree during the request.",
            "",
            *table(["Server", "Leads", "Seconds", "Peak RSS (MB)", "Note"], body),
            "",
        ]
        sizes = sorted({r.leads for r in big})
        ratio_body = []
        for leads in sizes:
            ours = find(rows, kind=BIG_RESPONSE, name=MOCK, leads=leads)
            prism = find(rows, kind=BIG_RESPONSE, name=PRISM, leads=leads)
            ratio_body.append(
                [
                    f"{leads:,}",
                    format_ratio(ratio(ours and ours.seconds, prism and prism.seconds)),
                    format_ratio(ratio(ours and ours.peak_rss_mb, prism and prism.peak_rss_mb)),
                ]
            )
        lines += [
            "Ours ÷ Prism (below 1x ours is better):",
            "",
            *table(["Leads", "Seconds", "Peak RSS"], ratio_body),
            "",
        ]
    stream = [r for r in server_rows if kind_of(r) == UNDER_STREAM]
    if stream:
        lines += [
            "### Small requests while a big response streams",
            "",
            *table(
                ["Server", "Leads streaming", "p50 (ms)", "p99 (ms)", "Note"],
                [
                    [r.name, f"{r.leads:,}", _num(r.p50_ms, 2), _num(r.p99_ms, 2), r.note]
                    for r in stream
                ],
            ),
            "",
        ]
    return lines


def _status_word(row: Row) -> str:
    return "skipped" if row.is_skipped else "error"


def targets_section(rows: Sequence[Row]) -> list[str]:
    sizes = sorted({r.leads for r in rows if r.suite == CONNECTOR})
    results = evaluate(rows, sizes)
    body = [[t.target, t.measured, STATUS_MARK.get(t.status, "❌ miss")] for t in results]
    return [
        "## Targets",
        "",
        "Reported, not asserted.",
        "",
        *table(["Target", "Measured", "Status"], body),
        "",
    ]


def render(
    rows: Sequence[Row],
    machine: Mapping[str, str],
    *,
    generated: str,
    command: str,
    runs_note: str,
    quick: bool,
    complete: bool,
) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"Generated {generated} by `{command}`.",
    ]
    if quick:
        lines += [
            "",
            "**Quick run**: small sizes and short load tests, to check the harness; "
            "not numbers to compare.",
        ]
    if not complete:
        lines += ["", "**Partial results**: the run did not finish; missing rows were not run."]
    errors = [r for r in rows if r.is_error]
    if errors:
        lines += ["", f"**{len(errors)} error row(s)**: see the notes in the tables."]
    lines += ["", "## Machine", "", *table(["", ""], list(machine.items())), ""]
    lines += targets_section(rows)
    lines += connector_section(rows, runs_note)
    lines += server_section(rows)
    return "\n".join(lines).rstrip() + "\n"
