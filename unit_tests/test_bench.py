"""The benchmark harness's pieces, and the cursor suite's tiny run (in process, no server).

Each suite that starts processes has its own file, `test_bench_<suite>.py`, so that
pytest-xdist runs them side by side. No timing is asserted anywhere: only that rows have real
counts, that the results files render them, and that a short or failed read becomes an error
row.
"""

from __future__ import annotations

import json
import re
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
from bench.config import BENCH_DIR, CASES, BenchConfig, Case
from bench.connector import (
    CLOUD_EDITION,
    COMMANDS,
    MINIMAL_CHATS_MANIFEST,
    add_run,
    global_cursor_manifest,
    grouped_chats_manifest,
    incremental_minimal_manifest,
    manifests,
    measure_read,
    reader_files,
)
from bench.cursor_cost import ascending_leads, leads_cursor
from bench.procs import ProcessGroup
from bench.report import ceiling_table, render
from bench.rows import Measure, Mode, Name, Row, Stream
from bench.run_state import Run
from bench.servers import LEAD_MARKER, LEADS_PATH, MarkerCounter, prism_spec
from bench.targets import evaluate
from chatnode_spec import api_document
from source_chatnode.run import load_manifest

TODAYS_FIELDS = {"suite", "name", "mode", "leads", "concurrency", "records_per_s",
                 "requests_per_s", "p50_ms", "p99_ms", "seconds", "peak_rss_mb", "note"}  # fmt: skip


def test_a_tiny_cursor_run_observes_real_leads_and_writes_the_results_files(
    tmp_path: Path,
) -> None:
    rows, complete = run(BenchConfig(output_dir=tmp_path, suites=("cursor",), observe_leads=500))

    assert complete
    assert [(r.name, r.measure) for r in rows] == [(Name.OURS, Measure.OBSERVE), (Name.GLOBAL_CURSOR, Measure.OBSERVE)]  # fmt: skip
    for row in rows:
        assert (row.status, row.records, len(row.runs)) == ("ok", 500, 2), row
        assert row.seconds == min(row.runs) > 0 and row.note.endswith(" µs per lead")
    written = json.loads((tmp_path / "results.json").read_text())
    assert written[0].keys() >= TODAYS_FIELDS
    assert [Row(**item).runs for item in written] == [row.runs for row in rows]
    report = (tmp_path / "results.md").read_text()
    assert "## Cursor suite" in report and "| source-chatnode-global-cursor | 500 |" in report


def test_the_committed_results_json_still_renders_the_committed_results_md() -> None:
    """Every section, column and row of the committed report comes back from its rows: the
    code can still read them and write that format. Only digits may differ, where the JSON's
    three decimals round a ratio the report computed from the unrounded numbers."""
    committed = (BENCH_DIR / "results.md").read_text(encoding="utf-8").splitlines()
    rows = [Row(**item) for item in json.loads((BENCH_DIR / "results.json").read_text())]
    machine = committed[committed.index("## Machine") : committed.index("## Targets") - 1]
    rendered = render(rows, machine, evaluate(rows), committed[2]).splitlines()
    digits = re.compile(r"\d")
    assert [digits.sub("0", line) for line in rendered] == [
        digits.sub("0", line) for line in committed
    ]


@pytest.mark.parametrize(
    ("script", "dlt"),
    [
        ('print(\'{"type":"RECORD","record":{}}\\n\' * 3, end=\'\')', False),
        ('print(\'{"type":"LOG"}\\n{"rows": 3}\')', True),
    ],
    ids=["airbyte-records", "dlt-rows"],
)
def test_a_read_short_of_the_served_records_is_an_error_row(
    tmp_path: Path, script: str, dlt: bool
) -> None:
    """Airbyte readers' RECORD lines are counted; a dlt peer prints the rows DuckDB holds."""
    argv = [sys.executable, "-c", script]
    with ProcessGroup() as group:
        measured, problem = measure_read(group, argv, tmp_path / "r", 5, dlt)
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
    chats = tuple(case for case in CASES if case.stream == "chats")
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


def test_every_manifest_reader_reads_a_stream_its_manifest_declares(tmp_path: Path) -> None:
    """The catalogs come from the connector's one builder: each must select, in the case's
    mode, a stream the case's manifest has. The Cloud edition runs its generated manifest
    with no components file."""
    cases = list(manifests())
    places = reader_files(cases, tmp_path)
    for case in cases:
        [stream] = json.loads(Path(places[case]["catalog"]).read_text())["streams"]
        assert (stream["stream"]["name"], stream["sync_mode"]) == (case.stream, case.mode)
        manifest = yaml.safe_load(Path(places[case]["manifest"]).read_text())
        assert case.stream in {s["name"] for s in manifest["streams"]}, case
    assert places[Case(Name.CLOUD, "incremental")]["manifest"] == str(CLOUD_EDITION)
    assert CLOUD_EDITION.parts[-2:] == ("builder", "manifest.yaml")
    assert "--components-path" not in COMMANDS[Name.CLOUD]


def test_prism_spec_serves_the_given_body_and_leaves_the_shared_spec_alone(tmp_path: Path) -> None:
    leads = [{"session_id": "a-1", "created_at": "2024-06-30T17:32:53.518+00:00"}]
    (tmp_path / "body.json").write_text(json.dumps(leads))
    spec = json.loads(prism_spec(tmp_path / "body.json").read_text())

    def answer(document: dict) -> dict:
        return document["paths"][LEADS_PATH]["post"]["responses"]["200"]["content"]

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
