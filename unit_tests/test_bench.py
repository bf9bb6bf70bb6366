"""The benchmark harness: its pure helpers, and one quick run end to end.

The smoke run is `python -m bench --quick --skip-prism --no-install` in a subprocess: Prism and
wrk would need the network to install (npm, apt), which a test must not depend on; without wrk
the bench uses its Python load generator, so every suite still runs. No timing is asserted, only
that the harness produced well-formed results and that every read delivered every lead.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from bench.cli import build_parser, config_from_args, lead_count
from bench.config import BENCH_DIR, QUICK_OUTPUT_DIR, REPO_ROOT
from bench.connector_suite import (
    CASES,
    MINIMAL_MANIFEST,
    configured_catalog,
    count_problem,
    samples_row,
    write_incremental_manifest,
)
from bench.http_probe import LEAD_MARKER, MarkerCounter
from bench.loadgen import LoadTarget, parse_wrk_output, percentile, wrk_script
from bench.prism import EXAMPLE_NAME, write_spec_with_example
from bench.progress import render_bar
from bench.records import scan_lines
from bench.report import render
from bench.results import (
    BIG_RESPONSE,
    CONNECTOR,
    FULL_REFRESH,
    INCREMENTAL,
    LOAD_TEST,
    MINIMAL,
    MOCK,
    OURS,
    PRISM,
    ROW_KEYS,
    SERVER,
    UNDER_STREAM,
    Row,
    RunSample,
    best_of,
    error_row,
    kind_of,
    schema_problems,
    skipped_row,
)
from bench.targets import MISS, NOT_MEASURED, PASS, evaluate
from mock_server import spec

# Rows and their schema


def test_row_json_has_exactly_the_schema_keys_and_validates() -> None:
    row = Row(CONNECTOR, OURS, INCREMENTAL, 10, records_per_s=1234.5678, note="ok")
    data = row.to_json()
    assert tuple(data) == ROW_KEYS
    assert data["records_per_s"] == 1234.568
    assert schema_problems(data) == []
    assert Row.from_json(json.loads(json.dumps(data))) == Row(**data)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"name": "source-other"}, "name"),
        ({"suite": "client"}, "suite"),
        ({"mode": "append"}, "mode"),
        ({"leads": True}, "leads"),
        ({"concurrency": 1.5}, "concurrency"),
        ({"p99_ms": float("nan")}, "p99_ms"),
        ({"note": None}, "note"),
        ({"extra": 1}, "keys"),
    ],
)
def test_schema_problems_names_the_broken_field(change: dict, problem: str) -> None:
    data = Row(SERVER, MOCK, None, 16, concurrency=16).to_json() | change
    assert any(problem in p for p in schema_problems(data))


def test_best_of_takes_the_fastest_run_and_the_highest_memory() -> None:
    runs = [RunSample(3.0, 120.0, 10), RunSample(2.0, 100.0, 10), RunSample(4.0, 90.0, 10)]
    best, peak = best_of(runs)
    assert best.seconds == 2.0
    assert peak == 120.0


def test_samples_row_reports_records_per_second_of_the_best_run() -> None:
    row = samples_row(OURS, FULL_REFRESH, 1000, [RunSample(4.0, 50.0, 1000), RunSample(2.0, 60.0, 1000)], 2)  # fmt: skip
    assert row.records_per_s == 500.0
    assert row.seconds == 2.0
    assert row.peak_rss_mb == 60.0
    assert "best of 2" in row.note and "1000 records counted" in row.note


def test_a_partial_row_says_how_many_runs_it_has() -> None:
    row = samples_row(OURS, FULL_REFRESH, 10, [RunSample(1.0, None, 10)], 2)
    assert "1 of 2 runs done" in row.note


def test_a_count_that_differs_from_the_served_leads_is_a_problem() -> None:
    assert count_problem(100, 100) is None
    assert count_problem(99, 100) == "99 records delivered of 100 served"
    assert count_problem(101, 100) is not None


def test_kind_of_sees_through_error_and_skipped_markers() -> None:
    assert kind_of(error_row(SERVER, PRISM, None, 1, f"{BIG_RESPONSE}: failed")) == BIG_RESPONSE
    assert kind_of(skipped_row(SERVER, PRISM, None, 1, f"{LOAD_TEST}: npm missing")) == LOAD_TEST
    assert kind_of(Row(CONNECTOR, OURS, INCREMENTAL, 1, note="1 run")) is None


# Reading connector output


def test_scan_counts_records_in_any_key_order_and_keeps_error_traces() -> None:
    record = {"type": "RECORD", "record": {"stream": "leads", "data": {"type": "RECORD"}}}
    reordered = b'{"record": {"stream": "leads", "data": {}}, "type": "RECORD"}'
    trace = {"type": "TRACE", "trace": {"type": "ERROR", "error": {"message": "API key rejected"}}}
    log = {"type": "LOG", "log": {"level": "INFO", "message": "RECORD"}}
    lines = [orjson.dumps(record), reordered, orjson.dumps(log), b"", orjson.dumps(trace), b"oops"]
    scanned = scan_lines(lines)
    assert scanned.records == 2
    assert scanned.problems == ["API key rejected", "not JSON: oops"]


@given(
    st.lists(
        st.sampled_from([LEAD_MARKER, b"x", b'"', b":", b"session_id", b'"session_id"']),
        max_size=40,
    ),
    st.lists(st.integers(min_value=1, max_value=7), min_size=1, max_size=30),
)
@example(parts=[b'"session_id"', b"session_id", b'"', b":"], cuts=[1, 4, 7])
def test_marker_counter_counts_markers_split_across_chunks(parts: list[bytes], cuts: list[int]) -> None:  # fmt: skip
    body = b"".join(parts)
    counter = MarkerCounter(LEAD_MARKER)
    position = 0
    for size in cuts:
        counter.feed(body[position : position + size])
        position += size
    counter.feed(body[position:])
    assert counter.count == body.count(LEAD_MARKER)


def test_marker_counter_refuses_a_marker_that_overlaps_itself() -> None:
    # `"a"a"` holds one `"a"` for bytes.count but a carry-over counter could see two.
    with pytest.raises(ValueError, match="overlap"):
        MarkerCounter(b'"session_id"')


# Load generator


WRK_OUTPUT = """\
Running 10s test @ http://127.0.0.1:8000/v1/get-conversation-ids/bench-bot
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     8.90ms    4.11ms  60.01ms   85.00%
  17320 requests in 10.00s, 50.12MB read
  Non-2xx or 3xx responses: 3
Requests/sec:   1731.95
BENCH_RESULT requests=17320 duration_us=10000453 p50_us=8120.0 p99_us=41230.5 connect=0 read=1 write=0 status=3 timeout=2
"""


def test_parse_wrk_output_reads_the_summary_line() -> None:
    result = parse_wrk_output(WRK_OUTPUT)
    assert result.requests == 17320
    assert result.requests_per_s == pytest.approx(1731.92, rel=1e-4)
    assert result.p50_ms == pytest.approx(8.12)
    assert result.p99_ms == pytest.approx(41.2305)
    assert result.errors == 3
    assert result.non_2xx == 3


def test_parse_wrk_output_without_the_summary_line_fails_loudly() -> None:
    with pytest.raises(ValueError, match="BENCH_RESULT"):
        parse_wrk_output("unable to connect to 127.0.0.1:1 Connection refused")


def test_wrk_script_sets_method_and_escaped_headers() -> None:
    script = wrk_script(LoadTarget("http://x/", "POST", {"Authorization": 'Bearer a"b'}))
    assert 'wrk.method = "POST"' in script
    assert 'wrk.headers["Authorization"] = "Bearer a\\"b"' in script
    assert "latency:percentile(99)" in script


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([7.0], 99) == 7.0


# Targets and report


def _connector_rows(ours_incremental: float, minimal_full: float) -> list[Row]:
    return [
        Row(CONNECTOR, OURS, INCREMENTAL, 100_000, records_per_s=ours_incremental, peak_rss_mb=150.0),
        Row(CONNECTOR, OURS, INCREMENTAL, 1_000_000, records_per_s=ours_incremental, peak_rss_mb=210.0),
        Row(CONNECTOR, OURS, FULL_REFRESH, 100_000, records_per_s=1.0, peak_rss_mb=150.0),
        Row(CONNECTOR, OURS, FULL_REFRESH, 1_000_000, records_per_s=1.0, peak_rss_mb=450.0),
        Row(CONNECTOR, MINIMAL, FULL_REFRESH, 100_000, records_per_s=minimal_full),
        Row(CONNECTOR, MINIMAL, FULL_REFRESH, 1_000_000, records_per_s=minimal_full),
    ]  # fmt: skip


def _server_rows(ours_rps: float, prism_rps: float) -> list[Row]:
    return [
        Row(SERVER, MOCK, None, 16, concurrency=16, requests_per_s=ours_rps, note=f"{LOAD_TEST}: x"),
        Row(SERVER, PRISM, None, 16, concurrency=16, requests_per_s=prism_rps, note=f"{LOAD_TEST}: x"),
        Row(SERVER, MOCK, None, 1_000_000, seconds=2.5, peak_rss_mb=120.0, note=f"{BIG_RESPONSE}: x"),
        Row(SERVER, MOCK, None, 1_000_000, p50_ms=3.0, p99_ms=70.0, note=f"{UNDER_STREAM}: x"),
    ]  # fmt: skip


def test_targets_pass_and_miss_on_the_measured_ratios() -> None:
    rows = _connector_rows(ours_incremental=20_000, minimal_full=10_000) + _server_rows(5000, 400)
    status = {t.target: t.status for t in evaluate(rows, [100_000, 1_000_000])}
    assert list(status.values()) == [PASS, PASS, PASS, MISS, PASS, PASS, MISS]


def test_targets_miss_when_ours_is_slower_and_say_not_measured_without_rows() -> None:
    rows = _connector_rows(ours_incremental=9_000, minimal_full=10_000)
    results = evaluate(rows, [100_000, 1_000_000])
    assert [r.status for r in results[:2]] == [MISS, MISS]
    assert "0.90x" in results[0].measured
    assert [r.status for r in results[4:]] == [NOT_MEASURED] * 3


def test_error_rows_do_not_count_as_measurements() -> None:
    rows = _connector_rows(20_000, 10_000)
    rows[-1] = error_row(CONNECTOR, MINIMAL, FULL_REFRESH, 1_000_000, "timed out")
    assert evaluate(rows, [1_000_000])[0].status == NOT_MEASURED


def test_report_has_the_tables_and_flags_error_rows() -> None:
    rows = [
        *_connector_rows(20_000, 10_000),
        *_server_rows(5000, 400),
        error_row(SERVER, PRISM, None, 1_000_000, f"{BIG_RESPONSE}: Prism failed: out of memory"),
    ]
    text = render(
        rows,
        {"CPU": "test"},
        generated="now",
        command="python -m bench",
        runs_note="One run.",
        quick=False,
        complete=True,
    )
    for heading in ("## Machine", "## Targets", "## Connector suite", "### Ours / peer"):
        assert heading in text
    for heading in ("### Small responses under load", "### One big response"):
        assert heading in text
    assert "**1 error row(s)**" in text
    assert "Prism failed: out of memory" in text
    assert "| source-chatnode | incremental | 100,000 | 20,000 |" in text


# Inputs the bench writes


def test_incremental_catalog_carries_cursor_and_primary_key() -> None:
    stream = {"name": "leads", "json_schema": {}}
    incremental = configured_catalog(stream, INCREMENTAL, [["bot_id"], ["session_id"]])
    configured = incremental["streams"][0]
    assert configured["sync_mode"] == "incremental"
    assert configured["destination_sync_mode"] == "append_dedup"
    assert configured["cursor_field"] == ["created_at"]
    assert configured["primary_key"] == [["bot_id"], ["session_id"]]
    full = configured_catalog(stream, FULL_REFRESH, [["session_id"]])["streams"][0]
    assert full["sync_mode"] == "full_refresh" and "cursor_field" not in full


def _component_types(node: object) -> list[str]:
    if isinstance(node, dict):
        own = [node["type"]] if isinstance(node.get("type"), str) else []
        return own + [t for value in node.values() for t in _component_types(value)]
    if isinstance(node, list):
        return [t for value in node for t in _component_types(value)]
    return []


def test_minimal_manifest_has_no_cursor_and_its_incremental_variant_has_one(tmp_path: Path) -> None:
    base = yaml.safe_load(MINIMAL_MANIFEST.read_text())
    assert "incremental_sync" not in base["streams"][0]
    assert not [t for t in _component_types(base) if t.startswith("Custom")]
    write_incremental_manifest(MINIMAL_MANIFEST, tmp_path / "m.yaml")
    derived = yaml.safe_load((tmp_path / "m.yaml").read_text())
    assert derived["streams"][0]["incremental_sync"] == {"$ref": "#/definitions/created_at_cursor"}
    assert derived["definitions"]["created_at_cursor"]["is_client_side_incremental"] is True


def test_prism_spec_serves_exactly_the_given_body(tmp_path: Path) -> None:
    leads = [{"session_id": "a-1", "created_at": "2024-06-30T17:32:53.518+00:00"}]
    body = tmp_path / "body.json"
    body.write_bytes(orjson.dumps(leads))
    write_spec_with_example(body, tmp_path / "spec.json")
    document = json.loads((tmp_path / "spec.json").read_text())
    content = document["paths"][spec.LEADS_PATH_TEMPLATE]["post"]["responses"]["200"]["content"]
    assert content["application/json"]["examples"][EXAMPLE_NAME]["value"] == leads
    assert document["paths"].keys() == spec.spec_document()["paths"].keys()


# CLI


@pytest.mark.parametrize(("text", "leads"), [("10000", 10_000), ("10k", 10_000), ("1M", 1_000_000), ("2.5k", 2_500), ("1_000", 1_000)])  # fmt: skip
def test_lead_count_takes_plain_and_suffixed_numbers(text: str, leads: int) -> None:
    assert lead_count(text) == leads


@pytest.mark.parametrize("text", ["0", "-5", "ten", "1G"])
def test_lead_count_rejects_what_is_not_a_positive_count(text: str) -> None:
    with pytest.raises(Exception, match="lead count"):
        lead_count(text)


def test_quick_never_writes_over_the_committed_results() -> None:
    quick = config_from_args(build_parser().parse_args(["--quick"]))
    assert quick.output_dir == QUICK_OUTPUT_DIR and quick.runs == 1
    full = config_from_args(build_parser().parse_args(["--sizes", "1M", "--only", "server"]))
    assert full.output_dir == BENCH_DIR and full.sizes == (1_000_000,)
    assert full.suites == ("server",)


def test_progress_bar_fills_with_done_steps() -> None:
    assert render_bar(0, 4, width=8) == "[........]"
    assert render_bar(2, 4, width=8) == "[####....]"
    assert render_bar(4, 4, width=8) == "[########]"


# End to end


@pytest.mark.timeout(280)
def test_quick_bench_writes_well_formed_results_with_every_lead_delivered(tmp_path: Path) -> None:
    flags = ["--quick", "--skip-prism", "--no-install", "--output-dir", str(tmp_path)]
    done = subprocess.run(
        [sys.executable, "-m", "bench", *flags],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=270,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    data = json.loads((tmp_path / "results.json").read_text())
    assert all(schema_problems(item) == [] for item in data), data
    rows = [Row.from_json(item) for item in data]

    connector = [r for r in rows if r.suite == CONNECTOR]
    assert {(r.name, r.mode, r.leads) for r in connector} == {
        (name, mode, leads) for leads in (2_000, 10_000) for name, mode in CASES
    }
    for row in connector:
        assert not row.is_error, row.note
        if row.measured:
            assert f"{row.leads} records counted" in row.note
            assert row.records_per_s and row.peak_rss_mb
    assert any(r.name == OURS and r.measured for r in connector)

    server = [r for r in rows if r.suite == SERVER]
    assert not [r for r in server if r.name == MOCK and r.is_error]
    assert {kind_of(r) for r in server if r.name == MOCK} == {
        LOAD_TEST,
        "load generator ceiling",
        BIG_RESPONSE,
        UNDER_STREAM,
    }
    assert all(r.is_skipped for r in server if r.name == PRISM)

    report = (tmp_path / "results.md").read_text()
    for heading in ("## Targets", "## Connector suite", "## Server suite", "| Connector | Mode |"):
        assert heading in report
