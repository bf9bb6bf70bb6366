"""The latency suite: one tiny run end to end (a file of its own, so that pytest-xdist runs it
beside the other suites' runs), and the floor and the before variant it is measured against."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.cli import run
from bench.config import BenchConfig, LatencyConfig, Shape
from bench.connector import before_manifest
from bench.latency_report import MEASURE, latency_targets, readers
from bench.rows import Name, Row
from source_chatnode.run import load_manifest


@pytest.mark.timeout(120)
def test_a_tiny_latency_run_reports_a_read_against_its_floor_with_its_requests(
    tmp_path: Path,
) -> None:
    """Ours at 10 workers reads one bot's chats with no latency (S), then with 0.2 s on every
    request: two rounds (the leads, then both batches at once), so the floor is S + 0.4 s. The
    other suites' rows of the previous results.json are kept."""
    (tmp_path / "results.json").write_text(json.dumps([{"suite": "cursor", "name": "kept",
        "mode": None, "leads": 1, "measure": "observe", "seconds": 1.0}]))  # fmt: skip
    shape = Shape(bots=1, leads=150, messages=1)
    latency = LatencyConfig(shapes=(shape,), latencies=(0.2,), streams=("chats",),
                            readers=("source-chatnode W=10",))  # fmt: skip
    rows, complete = run(
        BenchConfig(output_dir=tmp_path, suites=("latency",), latency=latency, runs=1)
    )

    assert complete
    measured = [r for r in rows if r.measure == MEASURE]
    assert [(r.name, r.concurrency, r.latency_s, r.status) for r in measured] == [
        (Name.OURS, 10, 0.0, "ok"), (Name.OURS, 10, 0.2, "ok")]  # fmt: skip
    no_latency, slow = measured
    assert no_latency.requests == slow.requests == 3, "one leads request and two batches"
    assert no_latency.records == slow.records == 150
    assert slow.floor_seconds == pytest.approx(no_latency.network_seconds + 2 * 0.2)
    assert slow.network_seconds >= 0.4, "the mock did not add the latency"
    assert no_latency.network_seconds < no_latency.seconds, "start-up was not left out"
    report = (tmp_path / "results.md").read_text()
    assert (
        "## Latency suite" in report and "| source-chatnode | 10 | chats | 1 x 150 leads" in report
    )
    assert "waits ≤ 1.5x R x L" in report
    assert any(r.name == "kept" for r in rows), "the cursor suite's previous row was dropped"


def test_the_floor_counts_rounds_of_requests_per_reader() -> None:
    many, big = Shape(20, 500, 4), Shape(1, 5_000, 4)
    by_key = {reader.key: reader for reader in readers()}
    ours10, ours1 = by_key["source-chatnode W=10"], by_key["source-chatnode W=1"]
    assert (ours10.rounds(many, "leads"), ours10.rounds(many, "chats")) == (2, 2 + 10)
    assert (ours10.rounds(big, "leads"), ours10.rounds(big, "chats")) == (1, 1 + 5)
    assert ours1.rounds(big, "chats") == 1 + 50
    cloud = by_key["source-chatnode-cloud-edition W=5"]
    assert cloud.rounds(big, "chats") == 1 + 1_000, "one request per session"
    assert by_key["minimal-manifest W=2"].rounds(many, "leads") == 10


def test_the_before_variant_is_ours_without_concurrency_and_with_batches_in_turn() -> None:
    before, ours = before_manifest(), load_manifest()
    assert "concurrency_level" in ours and "concurrency_level" not in before
    chats = next(s for s in before["streams"] if s["name"] == "chats")
    assert chats["retriever"]["batches_in_flight"] == 1


@pytest.mark.parametrize(
    ("network_seconds", "measured", "status"),
    [
        (1.25, "1.25x", "pass"),  # S 1.0 + 0.25 s of waits where R x L = 0.2 s
        (1.32, "1.60x", "miss"),
        (0.98, "-0.10x (faster than S: the latency hidden within noise)", "pass"),
    ],
)
def test_a_latency_target_bounds_the_time_above_s(
    network_seconds: float, measured: str, status: str
) -> None:
    """Ours at W=10 reads 20 bots' leads in two rounds: at L 0.1 the floor is S + 0.2 s. A read
    faster than S waited nothing above it, which the bound allows."""
    shape = Shape(20, 500, 4)
    row = Row("latency", Name.OURS, "full_refresh", 10_000, MEASURE, "leads", 10,
              latency_s=0.1, note=shape.label, network_seconds=network_seconds,
              floor_seconds=1.0 + 2 * 0.1)  # fmt: skip
    assert latency_targets([row]) == [
        ("latency 0.1 s, 20 x 500 leads x 4 messages, leads: source-chatnode W=10 waits ≤ 1.5x R x L",
         measured, status)]  # fmt: skip
