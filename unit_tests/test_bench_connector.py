"""The connector suite end to end on tiny sizes: each stream read by one reader, counted.

A file of its own so that pytest-xdist runs it beside the other suites' runs. The readers are
picked so that each kind of process the suites start runs once across the bench's tests: here
our entry point over a derived manifest (the global-cursor variant) for leads and the stock
`source-declarative-manifest` over the minimal chats manifest; `source-chatnode` itself runs in
the latency suite's test. No timing is asserted: only that every row has real counts and that
the results files render them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cli import run
from bench.config import BenchConfig, Case
from bench.rows import Name

CASES = (Case(Name.GLOBAL_CURSOR, "incremental"), Case(Name.MINIMAL, "full_refresh", "chats"))
SERVED = {"leads": 300, "chats": 60}
"""300 leads; 20 sessions of 3 messages."""


@pytest.mark.timeout(120)
def test_a_tiny_connector_run_counts_every_record_served_of_each_stream(tmp_path: Path) -> None:
    config = BenchConfig(output_dir=tmp_path, suites=("connector",), cases=CASES, runs=1,
                         sizes=(300,), chat_sizes=(60,), chat_sessions=20)  # fmt: skip
    rows, complete = run(config)

    assert complete
    assert [(r.name, r.mode, r.stream) for r in rows] == [(c.name, c.mode, c.stream) for c in CASES]
    for row in rows:
        assert (row.status, row.records, len(row.runs)) == ("ok", SERVED[row.stream], 1), row
        assert row.records_per_s and row.peak_rss_mb and row.seconds == row.runs[0]
    assert rows[1].note == "20 sessions x 3 messages"
    report = (tmp_path / "results.md").read_text()
    for text in ("## Targets", "300 leads: ours incremental seconds ≤ 1.15x the global-cursor",
                 "## Connector suite", "| source-chatnode-global-cursor | incremental | leads | 300 |",
                 "60 chat messages: ours incremental messages/s ≥ 1.0x minimal chats manifest",
                 "| minimal-manifest | full refresh | chats | 60 |"):  # fmt: skip
        assert text in report
