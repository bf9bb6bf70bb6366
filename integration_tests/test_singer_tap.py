"""`tap-chatnode` against the mock over HTTP: discovery, selection, state, keys, errors, stdout.

Most runs are in process (singer-sdk's own sync loop, stdout captured); two go through the
console script, where stdout purity and exit status are what a Singer runner sees.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from singer_sdk.testing import SuiteConfig, get_tap_test_class

from integration_tests.conftest import canonical, served_records
from integration_tests.singer_tap import (
    discover,
    record_keys,
    run_cli,
    run_tap,
    select_only,
    tap_config,
)
from mock_server import faults
from mock_server.server import MockServer
from source_chatnode.in_process import ConnectorError
from source_chatnode.singer.tap import TapChatNode, main

BOTS = ("bot-alpha", "bot-beta")
KEYS = {"leads": ("bot_id", "session_id"), "chats": ("bot_id", "id")}
SECRET = "cn-live-5e4d3c2b1a09"
"""Looks like a real key, so a leak into any output is caught."""


SMALL_MOCK = {
    "api_keys": {SECRET: None},
    "bots": BOTS,
    "leads_per_bot": 6,
    "messages_per_session": (1, 3),
    "seed": 11,
}
pytestmark = pytest.mark.chatnode_mock(**SMALL_MOCK)
"""Every test's `chatnode_mock`: two bots of six leads, one to three messages a session."""


@pytest.fixture
def mock(chatnode_mock: MockServer) -> MockServer:
    return chatnode_mock


def without_nulls(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in record.items() if v is not None} for record in records]


# singer-sdk's built-in tap tests (discovery, connection, schema validity, records against the
# schema, ...). Their config is built when the class is, before any mock runs, so the mock's
# address is filled in when the class's mock starts (before singer-sdk's class-wide sync).
BUILT_IN_CONFIG: dict[str, Any] = {"api_key": SECRET, "bot_ids": list(BOTS), "base_url": ""}
_BuiltInTests = get_tap_test_class(
    TapChatNode,
    config=BUILT_IN_CONFIG,
    suite_config=SuiteConfig(max_records_limit=500),
)


class TestSingerSdkBuiltInTapTests(_BuiltInTests):  # type: ignore[misc, valid-type]
    @pytest.fixture(scope="class", autouse=True)
    def built_in_mock(self, chatnode_mock_factory: Callable[..., MockServer]) -> MockServer:
        server = chatnode_mock_factory(**SMALL_MOCK)
        BUILT_IN_CONFIG["base_url"] = server.base_url
        return server


def test_discovery_declares_composite_keys_and_created_at_incremental(mock: MockServer) -> None:
    catalog = discover(tap_config(mock, BOTS))
    entries = {entry["tap_stream_id"]: entry for entry in catalog["streams"]}
    assert set(entries) == {"leads", "chats"}
    for name, key in KEYS.items():
        entry = entries[name]
        root = next(m["metadata"] for m in entry["metadata"] if m["breadcrumb"] == [])
        assert entry["key_properties"] == list(key)
        assert root["table-key-properties"] == list(key)
        assert entry["replication_key"] == "created_at"
        assert root["valid-replication-keys"] == ["created_at"]
        assert entry["replication_method"] == "INCREMENTAL"
        assert set(entry["schema"]["properties"]) >= {*key, "created_at"}


def test_full_sync_emits_every_lead_and_message_once_with_both_key_columns(
    mock: MockServer,
) -> None:
    output = run_tap(tap_config(mock, BOTS))
    for stream, key in KEYS.items():
        records = output.records(stream)
        assert output.schema(stream)["key_properties"] == list(key)
        keys = record_keys(records, key)
        assert len(set(keys)) == len(keys), f"{stream}: a key emitted twice"
        assert canonical(without_nulls(records)) == canonical(served_records(mock, stream, BOTS))


def test_two_bots_sharing_session_ids_stay_apart_by_bot_id(mock: MockServer) -> None:
    """With the key cut to its first column the two bots' rows would merge into one per bot;
    with only `session_id`, into one per session. Both columns keep all of them."""
    mock.set_leads("bot-beta", mock.leads("bot-alpha"))
    output = run_tap(tap_config(mock, BOTS))
    leads = output.records("leads")
    sessions = {lead["session_id"] for lead in leads}
    assert len(leads) == 2 * len(sessions) == 12
    declared = output.schema("leads")["key_properties"]
    assert len(set(record_keys(leads, declared))) == len(leads), f"key {declared} merges rows"
    assert {lead["bot_id"] for lead in leads} == set(BOTS)


def test_catalog_selection_reads_only_the_selected_stream(mock: MockServer) -> None:
    config = tap_config(mock, BOTS)
    output = run_tap(config, catalog=select_only(discover(config), {"chats"}))
    assert output.streams == {"chats"}
    assert not [m for m in output.messages if m.get("stream") == "leads"]
    leads_requests = [e for e in mock.journal() if "/get-conversation-ids/" in e["path"]]
    assert len(leads_requests) == len(BOTS), "more than chats' one session-id request per bot"


def test_state_round_trip_emits_only_new_records_once(mock: MockServer) -> None:
    config = tap_config(mock, BOTS)
    first = run_tap(config)
    state = first.final_state
    for stream in KEYS:
        bookmark = state["bookmarks"][stream]
        bots = {entry["partition"]["bot_id"] for entry in bookmark["airbyte_state"]["states"]}
        assert bots == set(BOTS), f"{stream}: the connector's per-bot state is not in the bookmark"
        assert "replication_key_value" not in bookmark and "progress_markers" not in bookmark

    (new_lead,) = mock.append("bot-beta", count=1)
    old_session = mock.leads("bot-alpha")[0]["session_id"]
    new_message = mock.append_message("bot-alpha", old_session, content="one more question")
    second = run_tap(config, state=state)

    assert [lead["session_id"] for lead in second.records("leads")] == [new_lead["session_id"]]
    new_chats = {(m["bot_id"], m["id"]) for m in second.records("chats")}
    expected_chats = {("bot-alpha", new_message["id"])} | {
        ("bot-beta", m["id"]) for m in mock.chats("bot-beta", [new_lead["session_id"]])
    }
    assert new_chats == expected_chats
    assert len(second.records("chats")) == len(expected_chats)

    third = run_tap(config, state=second.final_state)
    assert third.records("leads") == third.records("chats") == []


def test_full_table_in_the_catalog_reads_everything_despite_a_state(mock: MockServer) -> None:
    config = tap_config(mock, BOTS)
    catalog = select_only(discover(config), {"leads"})
    for entry in catalog["streams"]:
        entry["replication_method"] = "FULL_TABLE"
    state = run_tap(config).final_state
    again = run_tap(config, state=state, catalog=catalog)
    assert len(again.records("leads")) == len(served_records(mock, "leads", BOTS))


def test_state_is_emitted_only_after_the_records_it_covers(mock: MockServer) -> None:
    output = run_tap(tap_config(mock, BOTS))
    seen: dict[str, set[str]] = {"leads": set(), "chats": set()}
    for message in output.messages:
        if message["type"] == "RECORD":
            record = message["record"]
            seen[message["stream"]].add(record["bot_id"])
        elif message["type"] == "STATE":
            for stream, bookmark in message["value"].get("bookmarks", {}).items():
                for entry in bookmark.get("airbyte_state", {}).get("states", []):
                    bot, cursor = entry["partition"]["bot_id"], entry["cursor"]["created_at"]
                    assert cursor.startswith("1970") or bot in seen[stream], (
                        f"{stream}: state moved {bot} before any of its records"
                    )


@pytest.mark.chatnode_mock(api_keys={SECRET: {"bot-alpha"}})
def test_bot_the_key_cannot_read_fails_with_the_connectors_403_message(mock: MockServer) -> None:
    with pytest.raises(ConnectorError) as failure:
        run_tap(tap_config(mock, BOTS))
    message = str(failure.value)
    assert "403" in message and "bot-beta" in message and "bot_ids" in message
    assert SECRET not in message


def test_cli_stdout_is_only_singer_messages_even_with_warnings_and_rate_limits(
    mock: MockServer, tmp_path: Path
) -> None:
    """airbyte-cdk logs and prints Airbyte messages to stdout (its rate-limit notice among
    them) and the manifest raises deprecation warnings: none of it may reach a Singer target."""
    mock.inject(faults.status(429, retry_after=0, times=1))
    run = run_cli(tmp_path, tap_config(mock, BOTS), PYTHONWARNINGS="default")
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.splitlines()
    messages = [json.loads(line) for line in lines]
    assert {m["type"] for m in messages} <= {"SCHEMA", "RECORD", "STATE"}
    assert sum(m["type"] == "RECORD" for m in messages) == sum(
        len(served_records(mock, stream, BOTS)) for stream in KEYS
    )
    assert "429" in run.stderr or "rate" in run.stderr.lower()
    assert SECRET not in run.stdout + run.stderr


def test_rejected_key_fails_with_the_connectors_401_message(
    mock: MockServer, caplog: pytest.LogCaptureFixture
) -> None:
    wrong_key = "cn-live-not-a-known-key-42"
    with pytest.raises(ConnectorError) as failure:
        run_tap({**tap_config(mock, BOTS), "api_key": wrong_key})
    assert "ChatNode rejected the API key (401): check `api_key`" in str(failure.value)
    assert wrong_key not in str(failure.value) + caplog.text


def test_cli_ends_a_connector_failure_with_its_message_and_status_1(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def failing_cli() -> None:
        raise ConnectorError("ChatNode rejected the API key (401): check `api_key`")

    monkeypatch.setattr(TapChatNode, "cli", failing_cli)
    with pytest.raises(SystemExit) as exit_status:
        main()
    assert exit_status.value.code == 1
    assert "ChatNode rejected the API key (401)" in caplog.text
