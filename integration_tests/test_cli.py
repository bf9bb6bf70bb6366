"""`source-chatnode` spec/check/discover/read through its CLI, against the mock API over HTTP."""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path

import pytest

from integration_tests.conftest import (
    API_KEY,
    BOTS,
    Connector,
    canonical,
    chats_requests,
    served_records,
)
from integration_tests.connector_runner import (
    CONFIGURED_CATALOG,
    configured_catalog,
    state_messages,
)
from mock_server.config import MockConfig
from mock_server.server import MockServer


def instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def served_keys(connector: Connector, bots: tuple[str, ...] = BOTS) -> set[tuple[str, str]]:
    return {(bot, lead["session_id"]) for bot in bots for lead in connector.server.leads(bot)}


def test_spec_lists_exactly_the_documented_options(connector: Connector) -> None:
    run = connector.run("spec")
    assert run.returncode == 0
    properties = run.of_type("SPEC")[0]["spec"]["connectionSpecification"]["properties"]
    shown = {name for name, option in properties.items() if not option.get("airbyte_hidden")}
    assert shown == {
        "api_key",
        "bot_ids",
        "start_date",
        "chats_batch_size",
        "base_url",
        "num_workers",
    }
    assert set(properties) - shown == {"connection_check"}, "only the check's own flag is hidden"


def test_check_succeeds_with_a_valid_key(connector: Connector) -> None:
    run = connector.run("check", config=connector.config())
    assert run.connection_status["status"] == "SUCCEEDED"


def test_discover_offers_leads_and_chats_keyed_by_bot_with_created_at_cursors(
    connector: Connector,
) -> None:
    streams = connector.run("discover", config=connector.config()).catalog["streams"]
    assert [stream["name"] for stream in streams] == ["leads", "chats"]
    keys = {stream["name"]: stream["source_defined_primary_key"] for stream in streams}
    assert keys == {"leads": [["bot_id"], ["session_id"]], "chats": [["bot_id"], ["id"]]}
    for stream in streams:
        assert stream["default_cursor_field"] == ["created_at"]
        assert set(stream["supported_sync_modes"]) == {"full_refresh", "incremental"}
    committed = json.loads(CONFIGURED_CATALOG.read_text(encoding="utf-8"))
    assert [entry["stream"] for entry in committed["streams"]] == streams, (
        "configured_catalog.json drifted from what the connector discovers"
    )


def test_full_refresh_emits_every_served_lead_exactly_once_with_its_bot(
    connector: Connector,
) -> None:
    run = connector.run(
        "read", config=connector.config(), catalog=configured_catalog("full_refresh")
    )
    assert run.returncode == 0, run.error_messages
    assert len(run.record_keys()) == len(set(run.record_keys()))
    assert set(run.record_keys()) == served_keys(connector)
    served = {lead["session_id"]: lead for lead in connector.server.leads("bot-alpha")}
    for record in run.records:
        if record["bot_id"] == "bot-alpha":
            expected = {k: v for k, v in served[record["session_id"]].items() if v is not None}
            assert {k: v for k, v in record.items() if k != "bot_id"} == expected


def test_second_incremental_sync_emits_new_leads_and_only_boundary_repeats(
    connector: Connector,
) -> None:
    catalog = configured_catalog("incremental")
    first = connector.run("read", config=connector.config(), catalog=catalog)
    assert first.returncode == 0, first.error_messages
    assert set(first.record_keys()) == served_keys(connector)
    cursors = first.bot_cursors()
    assert set(cursors) == set(BOTS)

    appended = connector.server.append("bot-alpha", count=5)
    second = connector.run(
        "read", config=connector.config(), catalog=catalog, state=state_messages(first)
    )
    assert second.returncode == 0, second.error_messages

    new_keys = {("bot-alpha", lead["session_id"]) for lead in appended}
    assert new_keys <= set(second.record_keys())
    for bot, session_id in set(second.record_keys()) - new_keys:
        lead = next(
            lead for lead in connector.server.leads(bot) if lead["session_id"] == session_id
        )
        assert instant(lead["created_at"]) == instant(cursors[bot]), "an old lead was re-emitted"
    assert instant(second.bot_cursors()["bot-alpha"]) == max(
        instant(lead["created_at"]) for lead in appended
    )
    assert second.bot_cursors()["bot-beta"] == cursors["bot-beta"]


def test_a_bot_added_later_gets_its_whole_history(connector: Connector) -> None:
    catalog = configured_catalog("incremental")
    first = connector.run("read", config=connector.config(["bot-alpha"]), catalog=catalog)
    connector.server.add_bot("bot-gamma", count=12)
    second = connector.run(
        "read",
        config=connector.config(["bot-alpha", "bot-gamma"]),
        catalog=catalog,
        state=state_messages(first),
    )
    assert second.returncode == 0, second.error_messages
    gamma = {key for key in second.record_keys() if key[0] == "bot-gamma"}
    assert gamma == served_keys(connector, ("bot-gamma",))


def test_start_date_emits_exactly_the_leads_at_or_after_it(connector: Connector) -> None:
    leads = sorted(
        connector.server.leads("bot-alpha"), key=lambda lead: instant(lead["created_at"])
    )
    start = leads[len(leads) // 2]["created_at"]
    run = connector.run(
        "read",
        config=connector.config(["bot-alpha"], start_date=instant(start).isoformat()),
        catalog=configured_catalog("incremental"),
    )
    expected = {
        ("bot-alpha", lead["session_id"])
        for lead in leads
        if instant(lead["created_at"]) >= instant(start)
    }
    assert set(run.record_keys()) == expected


def test_cursor_compares_instants_across_offsets_and_fraction_digits(connector: Connector) -> None:
    connector.server.set_leads(
        "bot-alpha",
        [
            {"session_id": "boundary", "created_at": "2024-06-30T17:32:53.518+00:00"},
            {"session_id": "old", "created_at": "2024-06-30T17:32:53Z"},
        ],
    )
    catalog = configured_catalog("incremental")
    first = connector.run("read", config=connector.config(["bot-alpha"]), catalog=catalog)
    assert {record["session_id"] for record in first.records} == {"boundary", "old"}
    connector.server.append(
        "bot-alpha",
        leads=[
            # Later instants written with other offsets and precisions: all new.
            {"session_id": "later-offset", "created_at": "2024-06-30T19:32:53.519+02:00"},
            {"session_id": "later-micro", "created_at": "2024-06-30T17:32:53.518001Z"},
            {"session_id": "later-plain", "created_at": "2024-06-30T17:32:54Z"},
            # Earlier instants that sort after the boundary as strings: not new.
            {"session_id": "earlier-offset", "created_at": "2024-06-30T19:32:53.517+02:00"},
            {"session_id": "earlier-tenth", "created_at": "2024-06-30T17:32:53.5Z"},
            # The same instant as the boundary, written differently: a boundary repeat.
            {"session_id": "same-instant", "created_at": "2024-06-30T12:32:53.518-05:00"},
        ],
    )
    second = connector.run(
        "read", config=connector.config(["bot-alpha"]), catalog=catalog, state=state_messages(first)
    )
    assert {record["session_id"] for record in second.records} == {
        "boundary",
        "same-instant",
        "later-offset",
        "later-micro",
        "later-plain",
    }
    assert instant(second.bot_cursors()["bot-alpha"]) == instant("2024-06-30T17:32:54Z")


def test_leads_without_a_usable_created_at_are_never_dropped(connector: Connector) -> None:
    connector.server.set_leads(
        "bot-alpha",
        [
            {"session_id": "dated", "created_at": "2024-06-30T17:32:53.518+00:00"},
            {"session_id": "missing"},
            {"session_id": "null", "created_at": None},
            {"session_id": "garbage", "created_at": "yesterday"},
        ],
    )
    undated = {"missing", "null", "garbage"}
    full = connector.run(
        "read", config=connector.config(["bot-alpha"]), catalog=configured_catalog("full_refresh")
    )
    assert {record["session_id"] for record in full.records} == undated | {"dated"}

    catalog = configured_catalog("incremental")
    first = connector.run("read", config=connector.config(["bot-alpha"]), catalog=catalog)
    second = connector.run(
        "read", config=connector.config(["bot-alpha"]), catalog=catalog, state=state_messages(first)
    )
    # Incremental: undated leads cannot be placed before or after the cursor, so every sync
    # emits them again (a warning says so); they never move the cursor.
    assert undated <= {record["session_id"] for record in first.records}
    assert {record["session_id"] for record in second.records} == undated | {"dated"}
    assert instant(second.bot_cursors()["bot-alpha"]) == instant("2024-06-30T17:32:53.518+00:00")
    assert "cursor" in second.stdout and "created_at" in second.stdout


def test_nulls_unknown_fields_and_out_of_order_leads_pass_through(connector: Connector) -> None:
    leads = [
        {
            "session_id": "b",
            "created_at": "2024-07-02T00:00:00Z",
            "enduser_name": None,
            "for_agent": None,
        },
        {"session_id": "a", "created_at": "2024-07-01T00:00:00Z", "crm_id": 42, "tags": ["x"]},
        {"session_id": "c", "created_at": "2024-07-03T00:00:00Z", "enduser_email": "c@example.com"},
    ]
    connector.server.set_leads("bot-alpha", leads)
    run = connector.run(
        "read", config=connector.config(["bot-alpha"]), catalog=configured_catalog("incremental")
    )
    assert run.returncode == 0, run.error_messages
    by_id = {record["session_id"]: record for record in run.records}
    assert by_id["a"]["crm_id"] == 42 and by_id["a"]["tags"] == ["x"]
    assert by_id["c"]["enduser_email"] == "c@example.com"
    assert by_id["b"].get("enduser_name") is None
    assert instant(run.bot_cursors()["bot-alpha"]) == instant("2024-07-03T00:00:00Z")


# --- chats: every message of every session of every lead ---------------------------------------


def by_bot(records: list[dict], bot: str) -> list[dict]:
    return [record for record in records if record["bot_id"] == bot]


@pytest.mark.parametrize("batch_size", [1, 7, 1000])
def test_chats_alone_emit_every_served_message_once_in_one_request_per_batch(
    connector: Connector, batch_size: int
) -> None:
    connector.server.add_bot("bot-silent", count=0)
    bots = (*BOTS, "bot-silent")
    run = connector.run(
        "read",
        config=connector.config(bots, chats_batch_size=batch_size),
        catalog=configured_catalog("full_refresh", ["chats"]),
    )
    assert run.returncode == 0, run.error_messages
    served = served_records(connector.server, "chats", bots)
    assert len(served) > len(BOTS) * 40, "the mock is expected to serve several messages a lead"
    assert not run.records_of("leads")
    assert canonical(run.records_of("chats")) == canonical(served)
    for bot in bots:
        sessions = len(connector.server.leads(bot))
        leads_requests = [
            entry
            for entry in connector.server.journal()
            if entry["bot"] == bot and "/get-conversation-ids/" in entry["path"]
        ]
        assert len(leads_requests) == 1, f"{bot}: its leads are read once per sync"
        assert len(chats_requests(connector.server, bot)) == math.ceil(sessions / batch_size)


def test_incremental_chats_emit_boundary_messages_and_messages_added_to_old_conversations(
    connector: Connector,
) -> None:
    server = connector.server
    catalog = configured_catalog("incremental", ["leads", "chats"])
    config = connector.config(chats_batch_size=7)
    first = connector.run("read", config=config, catalog=catalog)
    assert first.returncode == 0, first.error_messages
    assert canonical(first.records_of("leads")) == canonical(served_records(server, "leads", BOTS))
    assert canonical(first.records_of("chats")) == canonical(served_records(server, "chats", BOTS))
    lead_cursors, chat_cursors = first.bot_cursors("leads"), first.bot_cursors("chats")
    for bot in BOTS:
        messages = by_bot(first.records_of("chats"), bot)
        newest = max(instant(message["created_at"]) for message in messages)
        assert instant(chat_cursors[bot]) == newest, f"{bot}: state is not its newest message"

    old_lead = min(server.leads("bot-alpha"), key=lambda lead: instant(lead["created_at"]))
    added = server.append_message(
        "bot-alpha", old_lead["session_id"], content="Any news on my refund? 🙏\nThanks"
    )
    second = connector.run("read", config=config, catalog=catalog, state=state_messages(first))
    assert second.returncode == 0, second.error_messages

    for record in second.records_of("leads"):
        assert instant(record["created_at"]) == instant(lead_cursors[record["bot_id"]])
    assert ("bot-alpha", old_lead["session_id"]) not in second.record_keys("leads")
    chats = second.records_of("chats")
    assert {**added, "bot_id": "bot-alpha"} in chats, "a message added to an old session was lost"
    repeats = [message for message in chats if message["id"] != added["id"]]
    for bot in BOTS:
        boundary = [
            message
            for message in served_records(server, "chats", [bot])
            if instant(message["created_at"]) == instant(chat_cursors[bot])
        ]
        assert boundary, f"{bot}: its newest message is a boundary repeat"
        assert canonical(by_bot(repeats, bot)) == canonical(boundary)
    assert instant(second.bot_cursors("chats")["bot-alpha"]) == instant(added["created_at"])
    assert second.bot_cursors("chats")["bot-beta"] == chat_cursors["bot-beta"]


def test_quirky_chats_are_read_in_full_with_state_at_each_bots_newest_instant(
    tmp_path: Path,
) -> None:
    """Timestamps in every RFC 3339 form, unknown fields, odd message types, local disorder."""
    quirky = MockConfig(api_keys={API_KEY: None}, bots=BOTS, leads_per_bot=15, seed=3, quirks=True)
    with MockServer(quirky) as server:
        connector = Connector(server, tmp_path)
        run = connector.run(
            "read",
            config=connector.config(chats_batch_size=4),
            catalog=configured_catalog("incremental", ["chats"]),
        )
        assert run.returncode == 0, run.error_messages
        served = served_records(server, "chats", BOTS)
    assert canonical(run.records_of("chats")) == canonical(served)
    assert {message["message"]["type"] for message in served} > {"human", "ai"}
    for bot in BOTS:
        newest = max(instant(message["created_at"]) for message in by_bot(served, bot))
        assert instant(run.bot_cursors("chats")[bot]) == newest
