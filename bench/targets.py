"""The performance targets, from rows alone. Reported, never asserted: a miss on a noisy machine
should start a look at the numbers, not fail a build."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import product
from typing import Any

from bench.latency_report import latency_targets
from bench.rows import MODES, STREAMS, Measure, Name, Row, Stream, find

MEDIUM, LARGE = 100_000, 1_000_000
"""The sizes of the memory targets: leads, or chat messages."""


@dataclass(frozen=True)
class Target:
    target: str
    measured: str
    status: str
    """pass, miss, or n/a when a row it needs was not measured."""


def check(
    target: str, row: Row | None, measured: Callable[[Row], str], ok: Callable[[Row], bool]
) -> Target:
    """A target on one row's numbers."""
    if row is None:
        return Target(target, "not measured", "n/a")
    return Target(target, measured(row), "pass" if ok(row) else "miss")


def compare(
    target: str, ours: Row | None, other: Row | None, metric: str, ok: Callable[[float], bool]
) -> Target:
    """A target on one metric of ours ÷ another row's."""
    if ours is None or other is None:
        return Target(target, "not measured", "n/a")
    a, b = getattr(ours, metric), getattr(other, metric)
    return Target(target, f"{a:,.2f} vs {b:,.2f} = {a / b:.2f}x", "pass" if ok(a / b) else "miss")


def evaluate(rows: Sequence[Row]) -> list[Target]:
    """Every target, the connector's at each size measured of each stream."""

    def row(name: Name, stream: Stream = "leads", **match: Any) -> Row | None:
        return find(rows, name=name, stream=stream, **({"measure": Measure.READ} | match))

    def sizes(stream: Stream) -> list[int]:
        return sorted({r.leads for r in rows if r.suite == "connector" and r.stream == stream})

    targets = []
    for n in sizes("leads"):
        ours = row(Name.OURS, mode="incremental", leads=n)
        variant = row(Name.GLOBAL_CURSOR, leads=n)
        builder = row(Name.MINIMAL, mode="full_refresh", leads=n)
        targets += [
            compare(f"{n:,} leads: ours incremental seconds ≤ 1.15x the global-cursor variant's",
                    ours, variant, "seconds", lambda v: v <= 1.15),
            compare(f"{n:,} leads: ours incremental records/s ≥ 0.75x minimal-manifest full"
                    " refresh (team goal 1.0x)", ours, builder, "records_per_s", lambda v: v >= 0.75),
        ]  # fmt: skip
    for n in sizes("chats"):
        ours = row(Name.OURS, "chats", mode="incremental", leads=n)
        builder = row(Name.MINIMAL, "chats", mode="full_refresh", leads=n)
        target = f"{n:,} chat messages: ours incremental messages/s ≥ 1.0x minimal chats manifest"
        targets.append(
            compare(f"{target} full refresh", ours, builder, "records_per_s", lambda v: v >= 1.0)
        )
    for stream, mode in product(STREAMS, MODES):
        large, medium = (row(Name.OURS, stream, mode=mode, leads=n) for n in (LARGE, MEDIUM))
        under = large is not None and (large.peak_rss_mb or 0) < 400
        reader = f"ours {stream} {mode.replace('_', ' ')}"
        target = f"{reader}: peak RSS (MB) at 1M ≤ 1.5x at 100k, and < 400"
        targets.append(
            compare(target, large, medium, "peak_rss_mb", lambda v, u=under: u and v <= 1.5)
        )
    load = {name: row(name, measure=Measure.LOAD) for name in (Name.MOCK, Name.PRISM)}
    targets += [Target(*target) for target in latency_targets(rows)]
    return [
        *targets,
        compare("mock server requests/s ≥ 10x Prism's, 16 leads, concurrency 16",
                load[Name.MOCK], load[Name.PRISM], "requests_per_s", lambda v: v >= 10),
        check("1M leads served in < 3 s, server peak RSS < 200 MB",
              row(Name.MOCK, measure=Measure.BIG_RESPONSE, leads=LARGE),
              lambda r: f"{r.seconds:.2f} s, {r.peak_rss_mb:.0f} MB",
              lambda r: r.seconds < 3 and r.peak_rss_mb < 200),
        check("small request p99 < 50 ms while 1M leads stream",
              row(Name.MOCK, measure=Measure.UNDER_STREAM, leads=LARGE),
              lambda r: f"p50 {r.p50_ms:.1f} ms, p99 {r.p99_ms:.1f} ms", lambda r: r.p99_ms < 50),
    ]  # fmt: skip
