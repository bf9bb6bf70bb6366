"""The server suite end to end on a small mock server: every test measures real answers.

A file of its own so that pytest-xdist runs it beside the other suites' runs. Prism is skipped:
its start alone would take most of the time this test may have.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cli import run
from bench.config import BenchConfig
from bench.rows import Measure, Name


@pytest.mark.timeout(120)
def test_a_tiny_server_run_measures_each_test_and_skips_prism(tmp_path: Path) -> None:
    config = BenchConfig(output_dir=tmp_path, suites=("server",), big_leads=20_000,
                         load_seconds=0.3, warmup_seconds=0.1, skip_prism=True)  # fmt: skip
    rows, complete = run(config)

    assert complete
    served = {(r.name, r.measure): r for r in rows}
    load = served[Name.MOCK, Measure.LOAD]
    assert load.status == "ok" and load.requests_per_s and load.concurrency == 16
    big = served[Name.MOCK, Measure.BIG_RESPONSE]
    assert (big.status, big.records) == ("ok", 20_000) and big.seconds and big.peak_rss_mb
    probe = served[Name.MOCK, Measure.UNDER_STREAM]
    assert probe.status == "ok" and 0 < probe.p50_ms <= probe.p99_ms
    assert served[Name.PRISM, Measure.LOAD].status == "skipped"
    report = (tmp_path / "results.md").read_text()
    for text in ("## Server suite", "### One big response", "| chatnode-mock-server | 20,000 |",
                 "### Small requests while the big response streams",
                 "| prism | 16 | - |", "skipped: --skip-prism"):  # fmt: skip
        assert text in report
