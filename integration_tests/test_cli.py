"""`source-chatnode` spec/check/discover/read through its CLI, against the mock API over HTTP.

This layer proves the wiring (the console script, the files it reads and writes, the state
round trip, stdout that carries only protocol messages with every warning shown); what a read
emits in every case, full refresh included, is the business of the properties, which run the same
source in process (`test_properties.py`, `test_chats_properties.py`).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from integration_tests.conftest import (
    BOTS,
    WARNINGS_SHOWN,
    Connector,
    assert_pure_protocol,
    canonical,
    served_records,
)
from integration_tests.connector_runner import (
    CONFIGURED_CATALOG,
    ConnectorRun,
    configured_catalog,
    state_messages,
)


def instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def cli(connector: Connector, command: str, **inputs: Any) -> ConnectorRun:
    """One command of the console script with every warning shown, as Meltano runs its plugins:
    it succeeds and prints nothing but protocol messages on stdout (test_protocol_stdout.py)."""
    run = connector.run(command, env=WARNINGS_SHOWN, **inputs)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout, f"{command} printed nothing"
    assert_pure_protocol(run, command)
    return run


def test_spec_lists_exactly_the_documented_options(connector: Connector) -> None:
    run = cli(connector, "spec")
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
    run = cli(connector, "check", config=connector.config())
    assert run.connection_status["status"] == "SUCCEEDED"


def test_discover_offers_leads_and_chats_keyed_by_bot_with_created_at_cursors(
    connector: Connector,
) -> None:
    streams = cli(connector, "discover", config=connector.config()).catalog["streams"]
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


# --- chats: every message of every session of every lead ---------------------------------------


def by_bot(records: list[dict], bot: str) -> list[dict]:
    return [record for record in records if record["bot_id"] == bot]


def test_incremental_chats_emit_boundary_messages_and_messages_added_to_old_conversations(
    connector: Connector,
) -> None:
    server = connector.server
    catalog = configured_catalog("incremental", ["leads", "chats"])
    config = connector.config(chats_batch_size=7)
    first = cli(connector, "read", config=config, catalog=catalog)
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
    second = cli(connector, "read", config=config, catalog=catalog, state=state_messages(first))
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
