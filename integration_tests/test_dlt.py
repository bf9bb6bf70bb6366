"""`source_chatnode.dlt.chatnode` into DuckDB against the mock over real HTTP, as a dlt user runs it:
every lead and message once after each run, only what is new extracted by the next, per-bot
state in dlt's state, and a failure that fails the pipeline and keeps nothing of its run."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import dlt
import pytest
from dlt.pipeline.exceptions import PipelineStepFailed

from integration_tests.conftest import API_KEY, served_records
from integration_tests.oracle import EPOCH, due_by_created_at, newest
from mock_server import faults
from mock_server.server import MockServer
from source_chatnode.dlt import STATE_KEY, chatnode
from unit_tests.strategies import instant_of

BOTS = ("bot-alpha", "bot-beta")
KEYS = {"leads": ("bot_id", "session_id"), "chats": ("bot_id", "id")}
MOCK = pytest.mark.chatnode_mock(
    api_keys={API_KEY: None}, bots=BOTS, leads_per_bot=25, messages_per_session=(1, 3), seed=5,
    quirks=True,
)  # fmt: skip
"""Quirky data: timestamps with 0-6 fraction digits and any offset, nulls, unknown fields,
records a little out of order."""

pytestmark = MOCK


class Warehouse:
    """A dlt pipeline into DuckDB, everything of it (and of dlt) under one scratch folder."""

    def __init__(self, server: MockServer, folder: Path) -> None:
        self.server = server
        self.pipeline = dlt.pipeline(
            "chatnode_test",
            destination=dlt.destinations.duckdb(str(folder / "warehouse.duckdb")),
            dataset_name="chatnode",
            pipelines_dir=str(folder / "pipelines"),
        )

    def run(self, bots: Sequence[str] = BOTS, **options: Any) -> dict[str, int]:
        """One `pipeline.run`; the rows it extracted per table."""
        source = chatnode(
            api_key=API_KEY, bot_ids=list(bots), base_url=self.server.base_url, **options
        )
        self.pipeline.run(source)
        return self.extracted()

    def extracted(self) -> dict[str, int]:
        counts = self.pipeline.last_trace.last_normalize_info.row_counts
        return {table: counts.get(table, 0) for table in KEYS}

    def keys(self, table: str, last_load_only: bool = False) -> list[tuple[str, str]]:
        """The table's primary keys, duplicates kept; only those the last run wrote, if asked
        (a merge rewrites the rows it gets, so these are what the last run extracted)."""
        columns = ", ".join(KEYS[table])
        where = ""
        if last_load_only:
            where = (
                f"WHERE _dlt_load_id = '{self.pipeline.last_trace.last_load_info.loads_ids[-1]}'"
            )
        with self.pipeline.sql_client() as sql:
            return [tuple(row) for row in sql.execute_sql(f"SELECT {columns} FROM {table} {where}")]

    def query(self, text: str) -> list[tuple[Any, ...]]:
        with self.pipeline.sql_client() as sql:
            return [tuple(row) for row in sql.execute_sql(text)]

    def connector_states(self) -> dict[str, Any]:
        """Each resource's saved connector state, as dlt keeps it for the next run."""
        resources = self.pipeline.state["sources"]["chatnode"]["resources"]
        return {name: resources[name][STATE_KEY] for name in KEYS if name in resources}


@pytest.fixture
def warehouse(
    chatnode_mock: MockServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Warehouse]:
    # dlt's global folder and project folder in the scratch folder too, and no telemetry.
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt-data"))
    monkeypatch.setenv("DLT_PROJECT_DIR", str(tmp_path))
    monkeypatch.setenv("RUNTIME__DLT_TELEMETRY", "false")
    yield Warehouse(chatnode_mock, tmp_path)


def keys_of(table: str, records: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    bot, own = KEYS[table]
    return [(record[bot], record[own]) for record in records]


def served_keys(
    server: MockServer, table: str, bots: Sequence[str] = BOTS
) -> list[tuple[str, str]]:
    return keys_of(table, served_records(server, table, bots))


def due_keys(
    server: MockServer, table: str, before: dict[str, list[dict[str, Any]]]
) -> set[tuple[str, str]]:
    """What an incremental read after one that saw `before` (records per bot) must extract:
    per bot, every record at or after the newest one it had seen (the cursor is inclusive)."""
    due: set[tuple[str, str]] = set()
    for bot, seen in before.items():
        now = served_records(server, table, [bot])
        due |= set(keys_of(table, due_by_created_at(now, newest(EPOCH, seen))))
    return due


def test_full_then_incremental_run_loads_each_record_once_typed_and_extracts_only_the_new(
    warehouse: Warehouse,
) -> None:
    server = warehouse.server
    first = warehouse.run()
    for table in KEYS:
        assert first[table] == len(served_keys(server, table)) > 0
        assert sorted(warehouse.keys(table)) == sorted(served_keys(server, table))

    assert_typed_from_the_stream_schemas(warehouse)

    before = {table: {bot: served_records(server, table, [bot]) for bot in BOTS} for table in KEYS}
    server.append("bot-alpha", count=3)
    old_session = server.leads("bot-beta")[0]["session_id"]
    server.append_message("bot-beta", old_session, content="Is the offer still valid?")
    second = warehouse.run()

    for table in KEYS:
        due = due_keys(server, table, before[table])
        seen = {key for records in before[table].values() for key in keys_of(table, records)}
        new = set(served_keys(server, table)) - seen
        # Besides the new records, each bot's newest already-loaded one (the cursor's boundary).
        assert new and new <= due and len(due - new) <= len(BOTS), (table, due, new)
        assert second[table] == len(due), f"{table}: extracted more than the new records"
        assert set(warehouse.keys(table, last_load_only=True)) == due
        assert sorted(warehouse.keys(table)) == sorted(served_keys(server, table)), table


def assert_typed_from_the_stream_schemas(warehouse: Warehouse) -> None:
    """Column types come from the stream schemas, and every value arrives intact."""
    types = {
        (table, column): (data_type, nullable)
        for table in KEYS
        for column, data_type, nullable, *_ in warehouse.query(f"DESCRIBE {table}")
    }
    assert types["leads", "bot_id"] == types["leads", "session_id"] == ("VARCHAR", "NO")
    assert types["chats", "bot_id"] == types["chats", "id"] == ("VARCHAR", "NO")
    assert types["leads", "created_at"] == ("TIMESTAMP WITH TIME ZONE", "YES")
    assert types["chats", "created_at"] == ("TIMESTAMP WITH TIME ZONE", "YES")
    assert types["leads", "for_agent"][0] == "BOOLEAN"
    assert types["chats", "message"][0] == "JSON", "the message object is one JSON column"
    assert ("leads", "visitor_country") in types, "an undeclared field still gets its column"

    # Each created_at (a ParsedInstant in the connector; 0-6 fraction digits, any offset) lands
    # as the instant it names.
    for table in KEYS:
        key = KEYS[table]
        loaded = dict(
            ((bot, own), moment)
            for bot, own, moment in warehouse.query(
                f"SELECT {', '.join(key)}, created_at FROM {table}"
            )
        )
        for record in served_records(warehouse.server, table, BOTS):
            assert loaded[record[key[0]], record[key[1]]] == instant_of(record.get("created_at"))
    messages = warehouse.query("SELECT id, message FROM chats")
    served = {r["id"]: r["message"] for r in served_records(warehouse.server, "chats", BOTS)}
    assert {id_: json.loads(message) for id_, message in messages} == served


def test_a_bot_added_later_gets_its_whole_history_with_options_from_the_environment(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    server = warehouse.server
    warehouse.run(["bot-alpha"])
    older = [
        {"session_id": f"early-{n}", "created_at": f"2001-0{n}-01T00:00:00Z"} for n in (1, 2, 3)
    ]
    server.add_bot("bot-late", leads=older)
    monkeypatch.setenv("SOURCES__CHATNODE__API_KEY", API_KEY)
    monkeypatch.setenv("SOURCES__CHATNODE__BOT_IDS", json.dumps(["bot-alpha", "bot-late"]))
    warehouse.pipeline.run(chatnode(base_url=server.base_url))

    for table in KEYS:
        late = [key for key in warehouse.keys(table, last_load_only=True) if key[0] == "bot-late"]
        assert sorted(late) == sorted(served_keys(server, table, ["bot-late"])) != []
        assert sorted(warehouse.keys(table)) == sorted(served_keys(server, table, ["bot-alpha", "bot-late"]))  # fmt: skip
    cursors = {e["partition"]["bot_id"]: e for e in warehouse.connector_states()["leads"]["states"]}
    assert set(cursors) == {"bot-alpha", "bot-late"}
    saved = datetime.fromisoformat(cursors["bot-late"]["cursor"]["created_at"])
    assert saved == instant_of(older[-1]["created_at"]), "the new bot's cursor is its newest lead"
    assert_no_key_written(warehouse, tmp_path, API_KEY)


def test_a_forbidden_bot_fails_the_pipeline_and_no_state_or_row_of_that_run_is_kept(
    warehouse: Warehouse,
) -> None:
    server = warehouse.server
    warehouse.run()
    states, rows = warehouse.connector_states(), {t: warehouse.keys(t) for t in KEYS}
    for bot in BOTS:
        server.append(bot, count=2)
    server.inject(faults.status(403, bot="bot-beta"))

    with pytest.raises(PipelineStepFailed) as failed:
        warehouse.run()
    assert failed.value.step == "extract"
    assert "bot-beta" in str(failed.value) and "(403)" in str(failed.value)
    assert warehouse.connector_states() == states, "a failed run moved a bot's cursor"
    assert {t: warehouse.keys(t) for t in KEYS} == rows, "a failed run loaded rows"

    server.clear_faults()
    warehouse.run()
    for table in KEYS:
        assert sorted(warehouse.keys(table)) == sorted(served_keys(server, table))


def assert_no_key_written(warehouse: Warehouse, folder: Path, key: str) -> None:
    """Neither dlt's trace nor any file of the pipeline (state, schemas, packages) holds it."""
    assert key not in repr(warehouse.pipeline.last_trace.asdict())
    written = [p for p in folder.rglob("*") if p.is_file() and key.encode() in p.read_bytes()]
    assert not written, f"the key is in {written}"


def test_a_wrong_key_fails_naming_api_key_and_no_key_is_written_anywhere(
    warehouse: Warehouse, tmp_path: Path, capfd: pytest.CaptureFixture[str], caplog: Any
) -> None:
    wrong = "cn-wrong-0000000000"
    source = chatnode(api_key=wrong, bot_ids=list(BOTS), base_url=warehouse.server.base_url)
    with pytest.raises(PipelineStepFailed) as failed:
        warehouse.pipeline.run(source)
    assert "(401)" in str(failed.value) and "`api_key`" in str(failed.value)
    output = capfd.readouterr()
    assert wrong not in str(failed.value) + output.out + output.err + caplog.text
    assert_no_key_written(warehouse, tmp_path, wrong)
    assert '{"type":' not in output.out, "Airbyte protocol lines on a dlt user's stdout"


def test_options_the_spec_rejects_fail_before_any_request(warehouse: Warehouse) -> None:
    for options, named in (({"bot_ids": []}, "bot_ids"), ({"chats_batch_size": 0}, "chats_batch_size")):  # fmt: skip
        arguments = {"bot_ids": list(BOTS), **options}
        with pytest.raises(ValueError, match=f"^chatnode source options are not valid: {named}: "):
            chatnode(api_key=API_KEY, base_url=warehouse.server.base_url, **arguments)
    assert warehouse.server.journal() == []
