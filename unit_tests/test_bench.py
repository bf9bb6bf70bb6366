"""The benchmark harness: one tiny run end to end, and the pieces a tiny run cannot show.

The tiny run reads a few hundred leads with ours, the global-cursor variant and dlt through
`source_chatnode.dlt` (its count is the rows DuckDB holds after the load), and a few dozen
chat messages with ours and the minimal chats manifest (so every kind of reader process runs
once: the minimal leads manifest runs under the same `source-declarative-manifest`), has both
cursors observe a few hundred leads, and probes a small mock server; it skips Prism, whose start alone would take most of the time this test may
have. No timing is asserted: only that every row is produced with real counts, that the results
files render, and that a short read becomes an error row.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from airbyte_cdk.sources.declarative.requesters.request_options import (
    InterpolatedRequestOptionsProvider,
)
from airbyte_cdk.sources.types import StreamSlice
from hypothesis import example, given
from hypothesis import strategies as st

from bench.cli import build_parser, config_from_args, run
from bench.config import BENCH_DIR, CASES, BenchConfig, Case, LatencyConfig, Shape
from bench.connector import (
    CLOUD_EDITION,
    COMMANDS,
    MINIMAL_CHATS_MANIFEST,
    add_run,
    configured_catalog,
    global_cursor_manifest,
    grouped_chats_manifest,
    incremental_minimal_manifest,
    measure_read,
    prepare,
)
from bench.cursor_cost import ascending_leads, leads_cursor
from bench.latency import before_manifest
from bench.latency_report import MEASURE, readers
from bench.procs import ProcessGroup
from bench.report import ceiling_table
from bench.rows import Measure, Mode, Name, Row, Stream
from bench.run_state import Run
from bench.servers import LEAD_MARKER, STREAM_PATHS, MarkerCounter, prism_spec
from bench.targets import evaluate
from chatnode_spec import api_document
from source_chatnode.run import load_manifest

TINY_CASES = (
    Case(Name.OURS, "incremental"),
    Case(Name.GLOBAL_CURSOR, "incremental"),
    Case(Name.DLT_SOURCE, "incremental"),
    Case(Name.OURS, "incremental", "chats"),
    Case(Name.MINIMAL, "full_refresh", "chats"),
)
SERVED = {"leads": 300, "chats": 60}
"""300 leads; 20 sessions of 3 messages."""
TODAYS_FIELDS = {"suite", "name", "mode", "leads", "concurrency", "records_per_s",
                 "requests_per_s", "p50_ms", "p99_ms", "seconds", "peak_rss_mb", "note"}  # fmt: skip


@pytest.mark.timeout(120)
def test_a_tiny_run_measures_every_reader_and_server_test_with_real_counts(tmp_path: Path) -> None:
    config = BenchConfig(output_dir=tmp_path, sizes=(300,), chat_sizes=(60,), chat_sessions=20,
                         cases=TINY_CASES, runs=1, observe_leads=500, big_leads=20_000, load_seconds=0.5,
                         warmup_seconds=0.1, skip_prism=True,
                         suites=("connector", "cursor", "server"))  # fmt: skip
    rows, complete = run(config)

    assert complete
    reads = [r for r in rows if r.suite == "connector"]
    assert [(r.name, r.mode, r.stream) for r in reads] == [(c.name, c.mode, c.stream) for c in TINY_CASES]  # fmt: skip
    for row in reads:
        assert (row.status, row.records, len(row.runs)) == ("ok", SERVED[row.stream], 1), row
        assert row.records_per_s and row.peak_rss_mb and row.seconds == row.runs[0]
    observed = [r for r in rows if r.suite == "cursor"]
    assert [(r.name, r.measure) for r in observed] == [(Name.OURS, Measure.OBSERVE), (Name.GLOBAL_CURSOR, Measure.OBSERVE)]  # fmt: skip
    for row in observed:
        assert (row.status, row.records, row.runs) == ("ok", 500, [row.seconds]), row
        assert row.seconds > 0 and row.note.endswith(" µs per lead")
    served = {(r.name, r.measure): r for r in rows if r.suite == "server"}
    load = served[Name.MOCK, Measure.LOAD]
    assert load.status == "ok" and load.requests_per_s and load.concurrency == 16
    big = served[Name.MOCK, Measure.BIG_RESPONSE]
    assert (big.status, big.records) == ("ok", 20_000) and big.seconds and big.peak_rss_mb
    probe = served[Name.MOCK, Measure.UNDER_STREAM]
    assert probe.status == "ok" and 0 < probe.p50_ms <= probe.p99_ms
    assert served[Name.PRISM, Measure.LOAD].status == "skipped"

    written = json.loads((tmp_path / "results.json").read_text())
    assert [Row(**item).records for item in written] == [row.records for row in rows]
    assert written[0].keys() >= TODAYS_FIELDS and written[0]["runs"] == [written[0]["seconds"]]
    report = (tmp_path / "results.md").read_text()
    for text in ("## Targets", "300 leads: ours incremental seconds ≤ 1.15x the global-cursor",
                 "| source-chatnode-global-cursor | incremental | leads | 300 |",
                 "| dlt-source-chatnode | incremental | leads | 300 |",
                 "60 chat messages: ours incremental messages/s ≥ 1.0x minimal chats manifest",
                 "| minimal-manifest | full refresh | chats | 60 |", "## Cursor suite",
                 "| source-chatnode-global-cursor | 500 |",
                 "### One big response", "| prism | 16 | - |", "skipped: --skip-prism"):  # fmt: skip
        assert text in report


def test_a_read_short_of_the_served_leads_is_an_error_row(tmp_path: Path) -> None:
    script = 'print(\'{"type":"RECORD","record":{}}\\n\' * 3, end=\'\')'
    with ProcessGroup() as group:
        measured, problem = measure_read(group, [sys.executable, "-c", script], tmp_path / "r", 5)
    assert (measured.returncode, problem) == (0, "3 records delivered of 5 served")
    row = add_run(Row("connector", Name.OURS, "incremental", 5), measured, problem)
    assert (row.status, row.error, row.records_per_s, row.runs) == ("error", problem, None, [])
    assert (tmp_path / "r" / "stdout").exists(), "a failed run's output is kept"


def test_a_failed_read_reports_the_connectors_own_error(tmp_path: Path) -> None:
    trace = '{"type":"TRACE","trace":{"type":"ERROR","error":{"message":"API key rejected"}}}'
    script = f"print({trace!r}); raise SystemExit(1)"
    with ProcessGroup() as group:
        _, problem = measure_read(group, [sys.executable, "-c", script], tmp_path / "r", 5)
    assert problem == "exit code 1: API key rejected"


def test_global_cursor_variant_differs_from_our_manifest_only_by_the_flag() -> None:
    ours, variant = load_manifest(), global_cursor_manifest()
    [leads] = [s for s in variant["streams"] if s["name"] == "leads"]
    cursor = leads.pop("incremental_sync")
    assert cursor.pop("global_substream_cursor") is True
    assert cursor == ours["definitions"]["created_at_cursor"]
    [leads] = [s for s in ours["streams"] if s["name"] == "leads"]
    assert leads.pop("incremental_sync") == {"$ref": "#/definitions/created_at_cursor"}
    assert variant == ours


def test_minimal_manifest_has_no_cursor_and_its_incremental_variant_has_one() -> None:
    text = (BENCH_DIR / "minimal_manifest.yaml").read_text()
    assert "incremental_sync" not in yaml.safe_load(text)["streams"][0]
    assert "Custom" not in text, "the Builder's baseline has no custom components"
    derived = incremental_minimal_manifest()
    assert derived["streams"][0]["incremental_sync"] == {"$ref": "#/definitions/created_at_cursor"}
    assert derived["definitions"]["created_at_cursor"]["is_client_side_incremental"] is True


def _chats_stream(manifest: dict) -> dict:
    [chats] = manifest["streams"]
    return chats


def _body(template: str, session_ids: str | list[str]) -> Any:
    """The request body the CDK renders from a `request_body_data` template for a partition."""
    provider = InterpolatedRequestOptionsProvider(
        request_body_data=template, config={}, parameters={}
    )
    partition = {"session_id": session_ids, "parent_slice": {"bot_id": "a"}}
    return provider.get_request_body_data(stream_slice=StreamSlice(partition=partition, cursor_slice={}))  # fmt: skip


def test_minimal_chats_manifest_sends_each_session_as_a_json_array_body() -> None:
    text = MINIMAL_CHATS_MANIFEST.read_text()
    assert "Custom" not in text, "the Builder's baseline has no custom components"
    chats = _chats_stream(yaml.safe_load(text))
    assert "incremental_sync" not in chats
    template = chats["retriever"]["requester"]["request_body_data"]
    body = _body(template, 'a "quoted" id')
    assert isinstance(body, str) and json.loads(body) == ['a "quoted" id']
    # Without the leading whitespace the CDK makes it a Python list, which its requester drops.
    assert _body(template.strip(), "s-1") == ["s-1"]


def test_minimal_chats_incremental_variant_adds_only_a_global_client_side_cursor() -> None:
    plain = _chats_stream(yaml.safe_load(MINIMAL_CHATS_MANIFEST.read_text()))
    incremental = incremental_minimal_manifest(MINIMAL_CHATS_MANIFEST)
    chats = _chats_stream(incremental)
    assert chats.pop("incremental_sync") == {"$ref": "#/definitions/created_at_cursor"}
    assert chats == plain
    cursor = incremental["definitions"]["created_at_cursor"]
    assert cursor["is_client_side_incremental"] is cursor["global_substream_cursor"] is True


def test_grouped_chats_variant_batches_sessions_under_the_first_sessions_bot() -> None:
    plain = _chats_stream(yaml.safe_load(MINIMAL_CHATS_MANIFEST.read_text()))
    grouped = _chats_stream(grouped_chats_manifest(group_size=7))
    router = {"type": "GroupingPartitionRouter", "group_size": 7,
              "underlying_partition_router": plain["retriever"].pop("partition_router")}  # fmt: skip
    assert grouped["retriever"].pop("partition_router") == router
    requester, first_bot = (
        grouped["retriever"]["requester"],
        "stream_partition.parent_slice[0].bot_id",
    )
    assert json.loads(_body(requester.pop("request_body_data"), ["s-1", "s-2"])) == ["s-1", "s-2"]
    assert requester.pop("path") == f"/get-chats/{{{{ {first_bot} | urlencode }}}}"
    assert grouped["transformations"][0]["fields"][0].pop("value") == f"{{{{ {first_bot} }}}}"
    for key in ("request_body_data", "path"):
        plain["retriever"]["requester"].pop(key)
    plain["transformations"][0]["fields"][0].pop("value")
    assert grouped == plain


def test_chat_sizes_are_whole_sessions_and_only_the_read_streams_get_a_server() -> None:
    with pytest.raises(ValueError, match="multiple of 20 sessions"):
        BenchConfig(chat_sizes=(50,), chat_sessions=20)
    chats = tuple(case for case in TINY_CASES if case.stream == "chats")
    config = BenchConfig(sizes=(5,), chat_sizes=(40, 60), chat_sessions=20, cases=chats)
    assert config.servings() == [("chats", 40), ("chats", 60)]
    assert config.mock_data("chats", 60) == (20, 3) and config.mock_data("leads", 5) == (5, None)
    streams = build_parser().parse_args(["--streams", "chats", "--chat-sizes", "100000"])
    assert {c.stream for c in config_from_args(streams).cases} == {"chats"}


def test_readers_pick_connector_cases_by_name_within_the_streams() -> None:
    both = ["--readers", "dlt-rest-api", "dlt-source-chatnode"]
    picked = config_from_args(build_parser().parse_args(both)).cases
    assert picked == (Case(Name.DLT, "full_refresh"), Case(Name.DLT_SOURCE, "incremental"))
    ours = ["--readers", "source-chatnode", "--streams", "chats"]
    assert {(c.name, c.stream) for c in config_from_args(build_parser().parse_args(ours)).cases} == {(Name.OURS, "chats")}  # fmt: skip
    assert config_from_args(build_parser().parse_args([])).cases == CASES


def test_configured_catalogs_take_cursor_and_primary_key_from_discover() -> None:
    [stream] = configured_catalog(load_manifest(), Case(Name.OURS, "incremental"))["streams"]
    assert (stream["sync_mode"], stream["destination_sync_mode"]) == ("incremental", "append_dedup")
    assert (stream["cursor_field"], stream["primary_key"]) == (["created_at"], [["bot_id"], ["session_id"]])  # fmt: skip
    [full] = configured_catalog(load_manifest(), Case(Name.OURS, "full_refresh"))["streams"]
    assert full["sync_mode"] == "full_refresh" and not full.get("cursor_field")


def test_prism_spec_serves_the_given_body_and_leaves_the_shared_spec_alone(tmp_path: Path) -> None:
    leads = [{"session_id": "a-1", "created_at": "2024-06-30T17:32:53.518+00:00"}]
    (tmp_path / "body.json").write_text(json.dumps(leads))
    spec = json.loads(prism_spec(tmp_path / "body.json").read_text())

    def answer(document: dict) -> dict:
        return document["paths"][STREAM_PATHS["leads"]]["post"]["responses"]["200"]["content"]

    assert answer(spec)["application/json"]["examples"] == {"bench": {"value": leads}}
    assert "examples" not in answer(api_document())["application/json"]


@given(
    st.lists(st.sampled_from([LEAD_MARKER, b"x", b'"', b":", b"session_id"]), max_size=40),
    st.lists(st.integers(min_value=1, max_value=7), min_size=1, max_size=30),
)
@example(parts=[b'"session_id"', b"session_id", b'"', b":"], cuts=[1, 4, 7])
def test_leads_split_across_chunks_are_counted_once(parts: list[bytes], cuts: list[int]) -> None:
    body, counter, position = b"".join(parts), MarkerCounter(LEAD_MARKER), 0
    for size in cuts:
        counter.feed(body[position : position + size])
        position += size
    counter.feed(body[position:])
    assert counter.count == body.count(LEAD_MARKER)


def _read(
    name: Name,
    mode: Mode,
    served: int,
    seconds: float,
    rss: float = 100.0,
    stream: Stream = "leads",
) -> Row:
    return Row("connector", name, mode, served, stream=stream, seconds=seconds,
               records_per_s=served / seconds, peak_rss_mb=rss)  # fmt: skip


def test_targets_pass_miss_or_say_what_was_not_measured() -> None:
    rows = [
        _read(Name.OURS, "incremental", 100_000, 5.0, rss=100),
        _read(Name.GLOBAL_CURSOR, "incremental", 100_000, 4.0),
        _read(Name.MINIMAL, "full_refresh", 100_000, 4.0),
        _read(Name.OURS, "incremental", 1_000_000, 40.0, rss=160),
        _read(Name.GLOBAL_CURSOR, "incremental", 1_000_000, 36.0),
        Row("connector", Name.MINIMAL, "full_refresh", 1_000_000).failed("timed out"),
        _read(Name.OURS, "incremental", 100_000, 4.0, rss=120, stream="chats"),
        _read(Name.MINIMAL, "full_refresh", 100_000, 40.0, stream="chats"),
        _read(Name.OURS, "incremental", 1_000_000, 50.0, rss=170, stream="chats"),
        _read(Name.MINIMAL, "full_refresh", 1_000_000, 30.0, stream="chats"),
        _read(Name.OURS, "full_refresh", 100_000, 4.0, rss=300, stream="chats"),
        _read(Name.OURS, "full_refresh", 1_000_000, 40.0, rss=450, stream="chats"),
        Row("server", Name.MOCK, None, 16, Measure.LOAD, requests_per_s=12_000.0),
        Row("server", Name.PRISM, None, 16, Measure.LOAD, requests_per_s=1_800.0),
        Row("server", Name.MOCK, None, 1_000_000, Measure.BIG_RESPONSE, seconds=1.9, peak_rss_mb=99),
    ]  # fmt: skip
    targets = evaluate(rows)
    assert [t.status for t in targets] == [
        "miss",  # 100k: ours 5.0 s vs the global cursor's 4.0 s = 1.25x
        "pass",  # 100k: ours 20,000 rec/s vs the minimal manifest's 25,000 = 0.80x
        "pass",  # 1M: 40 s vs 36 s = 1.11x
        "n/a",  # 1M: the minimal manifest's row is an error
        "pass",  # 100k chat messages: ours 25,000 msg/s vs the minimal chats manifest's 2,500
        "miss",  # 1M chat messages: ours 20,000 msg/s vs 33,333 = 0.60x
        "miss",  # leads incremental peak RSS 160 MB at 1M vs 100 MB at 100k = 1.6x
        "n/a",  # no leads full refresh rows
        "pass",  # chats incremental peak RSS 170 MB at 1M vs 120 MB at 100k = 1.42x
        "miss",  # chats full refresh: 450 MB at 1M vs 300 MB = 1.5x, but not < 400 MB
        "miss",  # 12,000 vs 1,800 req/s = 6.67x
        "pass",  # 1M leads in 1.9 s, 99 MB
        "n/a",  # no latency probe
    ]
    assert targets[0].measured == "5.00 vs 4.00 = 1.25x"
    assert targets[4].target.startswith("100,000 chat messages: ours incremental messages/s")


def test_the_ceiling_adds_the_per_bot_cursors_cost_to_the_minimal_manifests_full_refresh() -> None:
    rows = [
        _read(Name.MINIMAL, "full_refresh", 100_000, 4.0),
        _read(Name.OURS, "incremental", 100_000, 5.0),
        _read(Name.MINIMAL, "full_refresh", 1_000_000, 20.0),
        _read(Name.MINIMAL, "full_refresh", 10_000, 1.0),  # no cursor row: no ceiling
        Row("cursor", Name.OURS, "incremental", 200_000, Measure.OBSERVE, seconds=2.0),
        Row("cursor", Name.GLOBAL_CURSOR, "incremental", 200_000, Measure.OBSERVE, seconds=1.0),
    ]
    assert ceiling_table(rows[:2]) == []
    lines = ceiling_table(rows)
    # 10 µs per lead: 1 s more at 100k, 4 / 5 = 0.80x; 10 s at 1M, 20 / 30 = 0.67x; the global
    # cursor's 5 µs: 4 / 4.5 = 0.89x, 20 / 25 = 0.80x.
    assert lines[-3:] == [
        "| 10,000 | 1.00 | 0.10 | 0.91x | - | 0.95x |",
        "| 100,000 | 4.00 | 1.00 | 0.80x | 0.80x | 0.89x |",
        "| 1,000,000 | 20.00 | 10.00 | 0.67x | - | 0.80x |",
    ]


def test_the_cursor_suite_observes_ascending_leads_with_the_cursor_a_read_builds() -> None:
    ours, bot_slice = leads_cursor(load_manifest(), "bench-bot")
    variant, _ = leads_cursor(global_cursor_manifest(), "bench-bot")
    assert (ours.state["use_global_cursor"], variant.state["use_global_cursor"]) == (False, True)
    assert bot_slice.partition == {"bot_id": "bench-bot"}
    leads = ascending_leads(50, bot_slice)
    instants = [lead.data["created_at"].instant_us for lead in leads]
    assert instants == sorted(set(instants)) and len(instants) == 50
    assert all(len(lead.data["created_at"]) == len("2024-01-01T00:00:00.000000Z") for lead in leads)
    assert {lead.associated_slice for lead in leads} == {bot_slice}
    assert all(hash(lead.associated_slice) == hash(bot_slice) for lead in leads)


def test_quick_never_writes_over_the_committed_results() -> None:
    quick = config_from_args(build_parser().parse_args(["--quick"]))
    assert quick.output_dir != BENCH_DIR and quick.runs == 1 and quick.cases == CASES
    assert (quick.chat_sizes, quick.chat_sessions) == ((1_000,), 200)
    full = config_from_args(build_parser().parse_args(["--sizes", "1000000", "--only", "server"]))
    assert (full.output_dir, full.sizes, full.suites) == (BENCH_DIR, (1_000_000,), ("server",))


def test_the_cloud_edition_reads_its_generated_manifest_without_components(tmp_path: Path) -> None:
    (inputs,) = prepare((Case(Name.CLOUD, "incremental"),), tmp_path).values()
    assert Path(inputs["manifest"]) == CLOUD_EDITION
    assert CLOUD_EDITION.parts[-2:] == ("builder", "manifest.yaml")
    catalog = json.loads(Path(inputs["catalog"]).read_text())
    assert [(s["stream"]["name"], s["sync_mode"]) for s in catalog["streams"]] == [
        ("leads", "incremental")
    ]
    assert "--components-path" not in COMMANDS[Name.CLOUD]


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


def test_a_run_of_some_readers_keeps_the_rows_it_does_not_measure_again(tmp_path: Path) -> None:
    """`--readers dlt-source-chatnode` replaces that reader's rows in results.json and keeps
    every other row, of its own suite too: a focused run must not erase the full run's table."""
    previous = [
        {"suite": "connector", "name": name, "mode": "full_refresh", "leads": 1000,
         "measure": "read", "seconds": 1.0}
        for name in ("source-chatnode", "dlt-source-chatnode")
    ]  # fmt: skip
    (tmp_path / "results.json").write_text(json.dumps(previous))
    dlt_cases = tuple(case for case in CASES if case.name == "dlt-source-chatnode")
    focused = Run(BenchConfig(output_dir=tmp_path, suites=("connector",), cases=dlt_cases))
    focused.put(Row(**{**previous[1], "seconds": 2.0}))

    written = json.loads((tmp_path / "results.json").read_text())
    assert {(row["name"], row["seconds"]) for row in written} == {
        ("source-chatnode", 1.0),
        ("dlt-source-chatnode", 2.0),
    }
    assert "1 rows not measured again are kept" in (tmp_path / "results.md").read_text()
