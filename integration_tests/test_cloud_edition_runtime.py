"""The Cloud edition (`source_chatnode/builder/manifest.yaml`) runs as Airbyte Cloud would run it.

Through `source-declarative-manifest`, with nothing of ours importable, no components file and
custom code not allowed: check, discover, full refresh, incremental with saved state, the error
table and every malformed 200 body, for leads and chats, against the mock over real HTTP. Each
test packs several checks into few connector processes, to keep the suite fast.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from integration_tests.conftest import (
    API_KEY,
    SDM,
    Connector,
    assert_no_secret,
    assert_pure_protocol,
)
from integration_tests.connector_runner import ConnectorRun, run_cli, state_messages
from mock_server import faults
from mock_server.config import MockConfig
from mock_server.server import MockServer
from tools.cloud_edition import CLOUD_EDITION, load_manifest

NUMERIC_BOT = "1234567"
"""A bot id a careless `AddFields` would turn into an integer."""


@pytest.fixture
def cloud_env(isolated_env: dict[str, str]) -> dict[str, str]:
    """Our packages unimportable, and custom code refused, as on Airbyte Cloud."""
    return {**isolated_env, "AIRBYTE_ENABLE_UNSAFE_CODE": "false"}


def run_cloud(
    connector: Connector, command: str, env: dict[str, str], **inputs: Any
) -> ConnectorRun:
    run = run_cli(
        command,
        connector.next_workdir("cloud"),
        executable=SDM,
        extra_args=["--manifest-path", str(CLOUD_EDITION)],
        env=env,
        **inputs,
    )
    assert_no_secret(run)
    assert_pure_protocol(run, f"Cloud edition {command}")
    return run


def configured_catalog(stream: str, sync_mode: str) -> dict[str, Any]:
    """One stream of the edition, configured as the platform would configure it."""
    (definition,) = [s for s in load_manifest(CLOUD_EDITION)["streams"] if s["name"] == stream]
    primary_key = [[key] for key in definition["primary_key"]]
    incremental = sync_mode == "incremental"
    return {
        "streams": [
            {
                "stream": {
                    "name": stream,
                    "json_schema": definition["schema_loader"]["schema"],
                    "supported_sync_modes": ["full_refresh", "incremental"],
                    "source_defined_cursor": True,
                    "default_cursor_field": ["created_at"],
                    "source_defined_primary_key": primary_key,
                },
                "sync_mode": sync_mode,
                "destination_sync_mode": "append_dedup" if incremental else "overwrite",
                "cursor_field": ["created_at"],
                "primary_key": primary_key,
            }
        ]
    }


def read(
    connector: Connector,
    env: dict[str, str],
    bots: list[str],
    sync_mode: str,
    stream: str = "leads",
    **inputs: Any,
) -> ConnectorRun:
    config = inputs.pop("config", None) or connector.config(bots)
    catalog = configured_catalog(stream, sync_mode)
    return run_cloud(connector, "read", env, config=config, catalog=catalog, **inputs)


def expected_records(server: MockServer, bots: list[str]) -> list[dict[str, Any]]:
    """What the API serves for these bots, each lead stamped with its bot: what a sync emits
    (the CDK's message serialiser leaves out null fields, in both editions)."""
    records = (
        {**{k: v for k, v in lead.items() if v is not None}, "bot_id": bot}
        for bot in bots
        for lead in server.leads(bot)
    )
    return sorted(records, key=record_key)


def record_key(record: dict[str, Any]) -> tuple[str, str]:
    """Sorts even a record whose bot id came out as a number, so the diff shows it."""
    return str(record["bot_id"]), record["session_id"]


def instant(value: str) -> datetime:
    return datetime.fromisoformat(value)


CURSOR_FORMATS = ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z")
"""The Cloud edition's `cursor_datetime_formats`."""


def cloud_instant(record: dict[str, Any]) -> datetime | None:
    """The instant the Cloud edition reads in a lead's or message's `created_at`; None: undated."""
    for fmt in CURSOR_FORMATS:
        try:
            return datetime.strptime(record.get("created_at"), fmt)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
    return None


UNDATED = [
    {"session_id": "undated-missing"},
    {"session_id": "undated-null", "created_at": None},
    {"session_id": "undated-garbage", "created_at": "yesterday"},
    {"session_id": "undated-no-offset", "created_at": "2024-06-30T17:32:54"},
    {"session_id": "undated-number", "created_at": 1719770000},
]
"""Leads the Cloud edition cannot place in time: emitted on every sync, never moving a cursor."""


def assert_never_advanced(run: ConnectorRun, bots: set[str]) -> None:
    """No state message moves a failed bot's cursor past the start of time."""
    for state in run.states:
        for entry in state["stream"]["stream_state"].get("states", []):
            if entry["partition"]["bot_id"] in bots:
                assert instant(entry["cursor"]["created_at"]).year == 1970, entry


def keys(records: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {record_key(record) for record in records}


@pytest.fixture
def quirky(tmp_path: Path) -> Iterator[Connector]:
    """Loose timestamps, nulls, unknown fields, shuffled order; a numeric bot id; a third bot
    that the connection only adds later."""
    config = MockConfig(
        api_keys={API_KEY: None},
        bots=("bot-alpha", NUMERIC_BOT, "bot-late"),
        leads_per_bot=60,
        seed=11,
        quirks=True,
    )
    with MockServer(config) as server:
        yield Connector(server, tmp_path)


def test_check_and_discover_offer_the_main_manifests_streams(
    connector: Connector, cloud_env: dict[str, str]
) -> None:
    from source_chatnode.run import load_manifest as load_main_manifest

    schemas = load_main_manifest()["schemas"]
    check = run_cloud(connector, "check", cloud_env, config=connector.config())
    assert check.connection_status["status"] == "SUCCEEDED", check.stdout[-2000:]
    catalog = run_cloud(connector, "discover", cloud_env, config=connector.config()).catalog
    streams = {stream["name"]: stream for stream in catalog["streams"]}
    assert set(streams) == {"leads", "chats"}
    for name, key in (("leads", "session_id"), ("chats", "id")):
        assert streams[name]["json_schema"] == schemas[name]
        assert streams[name]["source_defined_primary_key"] == [["bot_id"], [key]]
        assert streams[name]["default_cursor_field"] == ["created_at"]
        assert set(streams[name]["supported_sync_modes"]) == {"full_refresh", "incremental"}


def test_reads_a_quirky_servers_leads_exactly_then_resumes_each_bot_from_its_state(
    quirky: Connector, cloud_env: dict[str, str]
) -> None:
    server, first_bots = quirky.server, ["bot-alpha", NUMERIC_BOT]
    server.append("bot-alpha", leads=UNDATED)

    full = read(quirky, cloud_env, first_bots, "full_refresh")
    assert full.returncode == 0, full.error_messages
    assert sorted(full.records, key=record_key) == expected_records(server, first_bots)

    first = read(quirky, cloud_env, first_bots, "incremental")
    assert first.returncode == 0, first.error_messages
    assert sorted(first.records, key=record_key) == expected_records(server, first_bots)
    cursors = {bot: instant(value) for bot, value in first.bot_cursors().items()}
    for bot in first_bots:
        dated = [cloud_instant(lead) for lead in server.leads(bot) if cloud_instant(lead)]
        assert cursors[bot] == max(dated), f"{bot}: the cursor is the newest dated lead"

    # Next sync: new leads for one bot, and a bot added to the connection.
    appended = server.append("bot-alpha", count=5)
    second = read(quirky, cloud_env, [*first_bots, "bot-late"], "incremental",
                  state=state_messages(first))  # fmt: skip
    assert second.returncode == 0, second.error_messages
    stream_state = first.final_state["stream"]["stream_state"]
    fallback = instant(stream_state["state"]["created_at"]) - timedelta(
        seconds=stream_state.get("lookback_window", 0)
    )
    starts = {**cursors, "bot-late": fallback}
    assert keys(second.records) == {
        (bot, lead["session_id"])
        for bot, start in starts.items()
        for lead in server.leads(bot)
        if (cloud_instant(lead) or start) >= start
    }, (
        "each bot resumes at its own cursor, inclusive, a new bot at the others' newest; undated again"
    )
    assert {("bot-alpha", lead["session_id"]) for lead in appended} <= keys(second.records)
    assert {("bot-alpha", lead["session_id"]) for lead in UNDATED} <= keys(second.records)
    late = server.leads("bot-late")
    assert len([k for k in keys(second.records) if k[0] == "bot-late"]) < len(late), (
        "the Cloud edition is documented to skip a late bot's older history"
    )

    # What the docs tell Cloud users to do after adding a bot: refresh the stream (no state).
    refreshed = read(quirky, cloud_env, [*first_bots, "bot-late"], "incremental")
    assert refreshed.returncode == 0, refreshed.error_messages
    assert sorted(refreshed.records, key=record_key) == expected_records(
        server, [*first_bots, "bot-late"]
    )


def test_error_table_401_403_naming_the_bot_429_and_5xx(
    connector: Connector, cloud_env: dict[str, str]
) -> None:
    wrong_key = {**connector.config(), "api_key": "cn-wrong-000000"}
    check = run_cloud(connector, "check", cloud_env, config=wrong_key)
    assert check.connection_status["status"] == "FAILED"
    assert "401" in check.connection_status["message"]
    assert "api_key" in check.connection_status["message"]
    assert "cn-wrong-000000" not in check.stdout + check.stderr

    server = connector.server
    requests_before = len(server.journal())
    server.inject(faults.status(429, retry_after=1, bot="bot-alpha", times=1))
    server.inject(faults.status(503, retry_after=1, bot="bot-beta"))
    run = read(connector, cloud_env, ["bot-alpha", "bot-beta", "bot-nobody"], "incremental")
    assert run.returncode != 0
    messages = run.error_messages
    assert any("bot-nobody" in m and "403" in m and "bot_ids" in m for m in messages), messages
    assert any("server error (5xx) after retries" in m for m in messages), messages
    journal = server.journal()[requests_before:]
    assert [e["status"] for e in journal if e.get("bot") == "bot-alpha"] == [429, 200]
    alpha = [record for record in run.records if record["bot_id"] == "bot-alpha"]
    assert sorted(alpha, key=record_key) == expected_records(server, ["bot-alpha"])
    assert len([e for e in journal if e.get("bot") == "bot-beta"]) == 6, "one try, five retries"
    assert_never_advanced(run, {"bot-beta", "bot-nobody"})


MALFORMED = {
    "bot-html": faults.html,
    "bot-truncated": faults.truncated,
    "bot-non-object": faults.non_object,
    "bot-object": lambda bot: faults.status(200, message="not a lead array", bot=bot),
}
"""One bot per malformed 200 body: HTML, a cut-off array, a non-object element, a JSON object."""


def test_every_malformed_200_body_fails_loudly_and_never_advances_its_bot(
    tmp_path: Path, cloud_env: dict[str, str]
) -> None:
    config = MockConfig(api_keys={API_KEY: None}, bots=("bot-alpha", *MALFORMED), seed=3)
    with MockServer(config) as server:
        for bot, fault in MALFORMED.items():
            server.inject(fault(bot=bot))
        connector = Connector(server, tmp_path)
        run = read(connector, cloud_env, ["bot-alpha", *MALFORMED], "incremental")
        healthy = expected_records(server, ["bot-alpha"])
    assert run.returncode != 0
    for bot in MALFORMED:
        assert any(
            "malformed leads response" in m and f"/get-conversation-ids/{bot}:" in m
            for m in run.error_messages
        ), f"{bot}: {run.error_messages}"
    assert {record["bot_id"] for record in run.records} == {"bot-alpha"}
    assert sorted(run.records, key=record_key) == healthy
    assert_never_advanced(run, set(MALFORMED))


# Chats: one request per session of each bot's leads, one cursor for the stream.


def sessions(server: MockServer, bot: str) -> list[str]:
    """The session ids the edition asks chats for: each of the bot's leads', once, in order."""
    return list(dict.fromkeys(lead["session_id"] for lead in server.leads(bot)))


def expected_messages(server: MockServer, bots: list[str]) -> list[dict[str, Any]]:
    """The messages of every session of these bots, each stamped with its bot; a message served
    under a session it does not belong to is not one of them."""
    records = (
        {**{k: v for k, v in message.items() if v is not None}, "bot_id": bot}
        for bot in bots
        for message in server.chats(bot, sessions(server, bot))
        if message.get("session_id") in set(sessions(server, bot))
    )
    return sorted(records, key=message_key)


def message_key(record: dict[str, Any]) -> tuple[str, str]:
    return str(record["bot_id"]), record["id"]


def requests_per_bot(journal: list[dict[str, Any]], route: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for entry in journal:
        if f"/{route}/" in entry["path"]:
            counts[entry["bot"]] = counts.get(entry["bot"], 0) + 1
    return counts


@pytest.fixture
def chatty(tmp_path: Path) -> Iterator[Connector]:
    """Quirky leads and messages (loose timestamps, unknown fields, an unexpected type, local
    disorder), a numeric bot id, and a third bot that the connection only adds later."""
    config = MockConfig(
        api_keys={API_KEY: None},
        bots=("bot-alpha", NUMERIC_BOT, "bot-late"),
        leads_per_bot=12,
        messages_per_session=(0, 5),
        seed=5,
        quirks=True,
    )
    with MockServer(config) as server:
        yield Connector(server, tmp_path)


def test_chats_full_refresh_reads_exactly_the_mocks_messages_one_request_per_session(
    chatty: Connector, cloud_env: dict[str, str]
) -> None:
    server, bots = chatty.server, ["bot-alpha", NUMERIC_BOT]
    run = read(chatty, cloud_env, bots, "full_refresh", stream="chats")
    assert run.returncode == 0, run.error_messages
    assert sorted(run.records, key=message_key) == expected_messages(server, bots)
    journal = server.journal()
    assert requests_per_bot(journal, "get-conversation-ids") == {bot: 1 for bot in bots}
    assert requests_per_bot(journal, "get-chats") == {
        bot: len(sessions(server, bot)) for bot in bots
    }


def test_chats_incremental_emits_due_messages_and_one_added_to_an_old_conversation(
    chatty: Connector, cloud_env: dict[str, str]
) -> None:
    server, bots = chatty.server, ["bot-alpha", NUMERIC_BOT]
    first = read(chatty, cloud_env, bots, "incremental", stream="chats")
    assert first.returncode == 0, first.error_messages
    assert sorted(first.records, key=message_key) == expected_messages(server, bots)
    stream_state = first.final_state["stream"]["stream_state"]
    assert stream_state["use_global_cursor"] is True, "one cursor for the whole stream"
    # The CDK keeps the greatest created_at as text: with mixed offsets it may lag the newest
    # message (the next sync reads a little more again), never pass it (it would skip some).
    dated = set(filter(None, map(cloud_instant, expected_messages(server, bots))))
    cursor = instant(stream_state["state"]["created_at"])
    assert cursor in dated and cursor <= max(dated)

    # Next sync: a message in the bots' oldest conversation, a message served under a session
    # it does not belong to, and a bot added to the connection.
    oldest = min(server.leads("bot-alpha"), key=lambda lead: instant(lead["created_at"]))
    added = server.append_message("bot-alpha", oldest["session_id"], content="Any news? 🙂\n")
    stray = server.append_message(
        NUMERIC_BOT,
        sessions(server, NUMERIC_BOT)[0],
        raw={**added, "id": "stray-message", "session_id": "a-session-not-asked-for"},
    )
    all_bots = [*bots, "bot-late"]
    second = read(chatty, cloud_env, all_bots, "incremental", stream="chats",
                  state=state_messages(first))  # fmt: skip
    assert second.returncode == 0, second.error_messages
    start = instant(stream_state["state"]["created_at"]) - timedelta(
        seconds=stream_state["lookback_window"]
    )
    assert keys_of(second.records) == {
        message_key(message)
        for message in expected_messages(server, all_bots)
        if (cloud_instant(message) or start) >= start
    }, "every bot resumes at the stream's cursor less the last sync's duration, inclusive"
    assert {**added, "bot_id": "bot-alpha"} in second.records
    assert stray["id"] not in {record["id"] for record in second.records}
    late = [key for key in keys_of(second.records) if key[0] == "bot-late"]
    assert len(late) < len(expected_messages(server, ["bot-late"])), (
        "the Cloud edition is documented to skip a late bot's older messages"
    )
    assert requests_per_bot(server.journal(), "get-chats")["bot-alpha"] == 2 * len(
        sessions(server, "bot-alpha")
    ), "every sync asks for every session, however old"


def keys_of(records: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {message_key(record) for record in records}


@pytest.fixture
def small(tmp_path: Path) -> Iterator[Connector]:
    """Two healthy bots with a few sessions, each with at least one message."""
    config = MockConfig(
        api_keys={API_KEY: None}, leads_per_bot=4, messages_per_session=(1, 3), seed=3
    )
    with MockServer(config) as server:
        yield Connector(server, tmp_path)


def test_a_403_on_chats_names_the_bot_and_never_moves_the_cursor(
    small: Connector, cloud_env: dict[str, str]
) -> None:
    server = small.server
    server.inject(faults.status(403, bot="bot-beta", route="chats"))
    run = read(small, cloud_env, ["bot-alpha", "bot-beta"], "incremental", stream="chats")
    assert run.returncode != 0
    forbidden = [m for m in run.error_messages if "403" in m and "bot_ids" in m]
    assert forbidden and all("'bot-beta'" in m for m in forbidden), run.error_messages
    assert sorted(run.records, key=message_key) == expected_messages(server, ["bot-alpha"])
    assert "state" not in run.final_state["stream"]["stream_state"], "no cursor saved"


MALFORMED_CHATS = {
    "bot-html": faults.html,
    "bot-truncated": faults.truncated,
    "bot-non-object": faults.non_object,
    "bot-object": lambda **scope: faults.status(200, message="not a message array", **scope),
}


def test_every_malformed_chats_body_fails_loudly_and_never_moves_the_cursor(
    tmp_path: Path, cloud_env: dict[str, str]
) -> None:
    config = MockConfig(
        api_keys={API_KEY: None},
        bots=("bot-alpha", *MALFORMED_CHATS),
        leads_per_bot=2,
        messages_per_session=(1, 3),
        seed=3,
    )
    with MockServer(config) as server:
        for bot, fault in MALFORMED_CHATS.items():
            server.inject(fault(bot=bot, route="chats"))
        connector = Connector(server, tmp_path)
        run = read(connector, cloud_env, ["bot-alpha", *MALFORMED_CHATS], "incremental",
                   stream="chats")  # fmt: skip
        healthy = expected_messages(server, ["bot-alpha"])
    assert run.returncode != 0
    for bot in MALFORMED_CHATS:
        assert any(
            "malformed messages response" in m and f"/get-chats/{bot}:" in m
            for m in run.error_messages
        ), f"{bot}: {run.error_messages}"
    assert sorted(run.records, key=message_key) == healthy
    assert "state" not in run.final_state["stream"]["stream_state"], "no cursor saved"
