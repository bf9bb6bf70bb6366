"""Ratios ours/peer and the performance targets, computed from rows alone.

Targets are reported, never asserted: a miss on a noisy machine should start a look at the
numbers, not fail a build.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.results import (
    BIG_RESPONSE,
    CONNECTOR,
    FULL_REFRESH,
    INCREMENTAL,
    LOAD_TEST,
    MINIMAL,
    MOCK,
    MODES,
    OURS,
    PRISM,
    UNDER_STREAM,
    Row,
    find,
)

PASS, MISS, NOT_MEASURED = "pass", "miss", "n/a"

LARGE = 1_000_000
MEDIUM = 100_000
RSS_GROWTH_LIMIT = 1.5
CONNECTOR_RSS_LIMIT_MB = 400.0
SERVER_SPEEDUP = 10.0
SERVER_LOAD_CONCURRENCY = 16
BIG_RESPONSE_SECONDS = 3.0
SERVER_RSS_LIMIT_MB = 200.0
UNDER_STREAM_P99_MS = 50.0


@dataclass(frozen=True)
class TargetResult:
    target: str
    measured: str
    status: str


def ratio(ours: float | None, peer: float | None) -> float | None:
    """ours / peer, or None when either side was not measured."""
    if ours is None or peer is None or peer == 0:
        return None
    return ours / peer


def format_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _status(ok: bool) -> str:
    return PASS if ok else MISS


def _not_measured(target: str, what: str) -> TargetResult:
    return TargetResult(target, f"not measured ({what})", NOT_MEASURED)


def incremental_vs_builder(rows: Sequence[Row], sizes: Sequence[int]) -> list[TargetResult]:
    """Ours incremental >= 1.0x the minimal manifest's full refresh, at every size."""
    results = []
    for leads in sizes:
        target = f"ours incremental ≥ 1.0x minimal-manifest full refresh, {leads:,} leads"
        ours = find(rows, suite=CONNECTOR, name=OURS, mode=INCREMENTAL, leads=leads)
        peer = find(rows, suite=CONNECTOR, name=MINIMAL, mode=FULL_REFRESH, leads=leads)
        value = ratio(ours and ours.records_per_s, peer and peer.records_per_s)
        if value is None or ours is None or peer is None:
            results.append(_not_measured(target, "a side has no result"))
            continue
        measured = (
            f"{ours.records_per_s:,.0f} vs {peer.records_per_s:,.0f} rec/s = {format_ratio(value)}"
        )
        results.append(TargetResult(target, measured, _status(value >= 1.0)))
    return results


def connector_memory(rows: Sequence[Row]) -> list[TargetResult]:
    """Peak RSS at 1M <= 1.5x that at 100k, and under 400 MB: memory flat in the bot's size."""
    results = []
    for mode in MODES:
        target = (
            f"ours {mode.replace('_', ' ')}: peak RSS at 1M ≤ {RSS_GROWTH_LIMIT}x at 100k "
            f"and < {CONNECTOR_RSS_LIMIT_MB:.0f} MB"
        )
        large = find(rows, suite=CONNECTOR, name=OURS, mode=mode, leads=LARGE)
        medium = find(rows, suite=CONNECTOR, name=OURS, mode=mode, leads=MEDIUM)
        if not (large and medium and large.peak_rss_mb and medium.peak_rss_mb):
            results.append(_not_measured(target, "needs both 100k and 1M"))
            continue
        growth = large.peak_rss_mb / medium.peak_rss_mb
        measured = (
            f"{large.peak_rss_mb:.0f} MB at 1M, {medium.peak_rss_mb:.0f} MB at 100k "
            f"= {format_ratio(growth)}"
        )
        ok = growth <= RSS_GROWTH_LIMIT and large.peak_rss_mb < CONNECTOR_RSS_LIMIT_MB
        results.append(TargetResult(target, measured, _status(ok)))
    return results


def server_speedup(rows: Sequence[Row]) -> TargetResult:
    """Our server >= 10x Prism's requests/s on the 16-lead response at concurrency 16."""
    c = SERVER_LOAD_CONCURRENCY
    target = f"mock server ≥ {SERVER_SPEEDUP:.0f}x Prism requests/s, 16 leads, concurrency {c}"
    ours = find(rows, kind=LOAD_TEST, name=MOCK, concurrency=c)
    prism = find(rows, kind=LOAD_TEST, name=PRISM, concurrency=c)
    value = ratio(ours and ours.requests_per_s, prism and prism.requests_per_s)
    if value is None or ours is None or prism is None:
        return _not_measured(target, "a side has no result")
    measured = (
        f"{ours.requests_per_s:,.0f} vs {prism.requests_per_s:,.0f} req/s = {format_ratio(value)}"
    )
    return TargetResult(target, measured, _status(value >= SERVER_SPEEDUP))


def big_response(rows: Sequence[Row]) -> TargetResult:
    """1M leads served in < 3 s with the server's peak RSS < 200 MB."""
    target = (
        f"1M leads served in < {BIG_RESPONSE_SECONDS:.0f} s, "
        f"server peak RSS < {SERVER_RSS_LIMIT_MB:.0f} MB"
    )
    row = find(rows, kind=BIG_RESPONSE, name=MOCK, leads=LARGE)
    if row is None or row.seconds is None or row.peak_rss_mb is None:
        return _not_measured(target, "no 1M response row")
    ok = row.seconds < BIG_RESPONSE_SECONDS and row.peak_rss_mb < SERVER_RSS_LIMIT_MB
    return TargetResult(target, f"{row.seconds:.2f} s, {row.peak_rss_mb:.0f} MB", _status(ok))


def latency_under_stream(rows: Sequence[Row]) -> TargetResult:
    """A small request stays under 50 ms p99 while a 1M-lead response streams."""
    target = f"small request p99 < {UNDER_STREAM_P99_MS:.0f} ms while 1M leads stream"
    row = find(rows, kind=UNDER_STREAM, name=MOCK, leads=LARGE)
    if row is None or row.p99_ms is None:
        other = find(rows, kind=UNDER_STREAM, name=MOCK)
        if other is not None and other.p99_ms is not None:
            return _not_measured(target, f"measured at {other.leads:,}: p99 {other.p99_ms:.1f} ms")
        return _not_measured(target, "no row")
    measured = f"p50 {row.p50_ms:.1f} ms, p99 {row.p99_ms:.1f} ms"
    return TargetResult(target, measured, _status(row.p99_ms < UNDER_STREAM_P99_MS))


def evaluate(rows: Sequence[Row], sizes: Sequence[int]) -> list[TargetResult]:
    """Every target, in the order the brief states them."""
    return [
        *incremental_vs_builder(rows, sizes),
        *connector_memory(rows),
        server_speedup(rows),
        big_response(rows),
        latency_under_stream(rows),
    ]
