"""The Cloud edition (`source_chatnode/builder/manifest.yaml`) behaves as the main one, and runs as
Airbyte Cloud would run it.

One layer per concern, as `test_errors.py` does for the main edition:

- The behaviour (the error table, every malformed 200 body, full refresh and incremental reads of
  leads and chats, resuming each bot from its state) is read in process: the edition's manifest
  through airbyte-cdk's own entrypoint, the code `source-declarative-manifest` runs, since the
  edition has no custom components. The CDK's retry waits are recorded, not slept
  (`backoff_waits`, /conftest.py), so the 429 and 503 rows cost no real time.
- The runtime, with nothing of ours importable and custom code refused, as on Airbyte Cloud:
  check and discover on the source it builds (`run_in_manifest_only_runtime`, in process), and
  one `source-declarative-manifest` process for the console script's wiring: a read from saved
  state that a forbidden bot fails (exit code, records, state, pure protocol).
"""

from __future__ import annotations

import copy
import functools
import json
from collections import Counter
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from airbyte_cdk.models import (
    AirbyteMessageSerializer,
    AirbyteStateMessageSerializer,
)
from airbyte_cdk.sources.declarative.concurrent_declarative_source import (
    ConcurrentDeclarativeSource,
)
from airbyte_cdk.test.entrypoint_wrapper import read as read_in_process
from airbyte_cdk.test.models.outcome import ExpectedOutcome

from integration_tests.conftest import (
    API_KEY,
    SDM,
    Connector,
    assert_no_secret,
    assert_pure_protocol,
)
from integration_tests.connector_runner import (
    ConnectorRun,
    configured_catalog,
    run_cli,
    state_messages,
)
from integration_tests.in_process import run_in_manifest_only_runtime
from mock_server import faults
from mock_server.config import MockConfig
from mock_server.server import MockServer
from source_chatnode.in_process import configured_catalog as catalog_of
from tools.cloud_edition import CLOUD_EDITION, load_manifest

NUMERIC_BOT = "1234567"
"""A bot id a careless `AddFields` would turn into an integer."""


RETRY_AFTER_WAIT = 2.0
"""A Retry-After of one second, as the CDK waits it: the header's value plus one second."""


@pytest.fixture
def cloud_env(isolated_env: dict[str, str]) -> dict[str, str]:
    """Our packages unimportable, and custom code refused, as on Airbyte Cloud."""
    return {**isolated_env, "AIRBYTE_ENABLE_UNSAFE_CODE": "false"}


@pytest.fixture(autouse=True)
def unsafe_code_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """In process too, custom code is refused, as on Airbyte Cloud."""
    monkeypatch.setenv("AIRBYTE_ENABLE_UNSAFE_CODE", "false")


def run_cloud(
    connector: Connector, command: str, env: dict[str, str], **inputs: Any
) -> ConnectorRun:
    """One command of `source-declarative-manifest` over the edition, as Airbyte Cloud runs it:
    its output must be pure protocol, without the key."""
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


@functools.cache
def cloud_manifest() -> dict[str, Any]:
    return load_manifest(CLOUD_EDITION)


def cloud_source(
    config: Mapping[str, Any], catalog: Any = None, state: Any = None
) -> ConcurrentDeclarativeSource:
    """The edition as `source-declarative-manifest` builds it: the stock declarative source over
    the manifest alone, no components module."""
    return ConcurrentDeclarativeSource(
        config=config, catalog=catalog, state=state, source_config=copy.deepcopy(cloud_manifest())
    )


def as_run(messages: list[dict[str, Any]], failed: bool) -> ConnectorRun:
    """In-process messages in the shape of a connector process's output, so one set of
    assertions reads both. `failed`: what the CLI's non-zero exit code reports."""
    stdout = "\n".join(json.dumps(message) for message in messages)
    run = ConnectorRun(int(failed), stdout, "", messages)
    assert_no_secret(run)
    return run


def check(connector: Connector, config: Mapping[str, Any]) -> ConnectorRun:
    """`check` as `source-declarative-manifest` builds and runs the edition, in process."""
    workdir = connector.next_workdir("check")
    run = run_in_manifest_only_runtime("check", workdir, CLOUD_EDITION, config=config)
    assert_no_secret(run)
    return run


def read(
    connector: Connector,
    bots: list[str],
    sync_mode: str,
    stream: str = "leads",
    *,
    state: list[dict[str, Any]] | None = None,
) -> ConnectorRun:
    """One read of the edition in process, through the CDK's entrypoint. A sync fails (the CLI
    exits non-zero) exactly when it raised, which leaves an error trace."""
    config = connector.config(bots)
    catalog = catalog_of([stream], incremental=sync_mode == "incremental")
    saved = None if state is None else [AirbyteStateMessageSerializer.load(s) for s in state]
    output = read_in_process(
        cloud_source(config, catalog, saved),
        config,
        catalog,
        saved,
        expected_outcome=ExpectedOutcome.ALLOW_ANY,
    )
    messages = [AirbyteMessageSerializer.dump(m) for m in output.get_message_iterator()]
    return as_run(messages, failed=bool(output.errors))


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


def test_reads_a_quirky_servers_leads_exactly_then_resumes_each_bot_from_its_state(
    quirky: Connector,
) -> None:
    server, first_bots = quirky.server, ["bot-alpha", NUMERIC_BOT]
    server.append("bot-alpha", leads=UNDATED)

    full = read(quirky, first_bots, "full_refresh")
    assert full.returncode == 0, full.error_messages
    assert sorted(full.records, key=record_key) == expected_records(server, first_bots)

    first = read(quirky, first_bots, "incremental")
    assert first.returncode == 0, first.error_messages
    assert sorted(first.records, key=record_key) == expected_records(server, first_bots)
    cursors = {bot: instant(value) for bot, value in first.bot_cursors().items()}
    for bot in first_bots:
        dated = [cloud_instant(lead) for lead in server.leads(bot) if cloud_instant(lead)]
        assert cursors[bot] == max(dated), f"{bot}: the cursor is the newest dated lead"

    # Next sync: new leads for one bot, and a bot added to the connection.
    appended = server.append("bot-alpha", count=5)
    second = read(quirky, [*first_bots, "bot-late"], "incremental",
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
    refreshed = read(quirky, [*first_bots, "bot-late"], "incremental")
    assert refreshed.returncode == 0, refreshed.error_messages
    assert sorted(refreshed.records, key=record_key) == expected_records(
        server, [*first_bots, "bot-late"]
    )


def test_error_table_401_403_naming_the_bot_429_and_5xx(
    connector: Connector, backoff_waits: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    wrong_key = {**connector.config(), "api_key": "cn-wrong-000000"}
    check_run = check(connector, wrong_key)
    assert check_run.connection_status["status"] == "FAILED"
    assert "401" in check_run.connection_status["message"]
    assert "api_key" in check_run.connection_status["message"]
    assert "cn-wrong-000000" not in check_run.stdout + caplog.text

    server = connector.server
    requests_before = len(server.journal())
    server.inject(faults.status(429, retry_after=1, bot="bot-alpha", times=1))
    server.inject(faults.status(503, retry_after=1, bot="bot-beta"))
    run = read(connector, ["bot-alpha", "bot-beta", "bot-nobody"], "incremental")
    assert run.returncode != 0
    messages = run.error_messages
    assert any("bot-nobody" in m and "403" in m and "bot_ids" in m for m in messages), messages
    assert any("server error (5xx) after retries" in m for m in messages), messages
    journal = server.journal()[requests_before:]
    assert [e["status"] for e in journal if e.get("bot") == "bot-alpha"] == [429, 200]
    alpha = [record for record in run.records if record["bot_id"] == "bot-alpha"]
    assert sorted(alpha, key=record_key) == expected_records(server, ["bot-alpha"])
    assert len([e for e in journal if e.get("bot") == "bot-beta"]) == 6, "one try, five retries"
    assert Counter(backoff_waits) == {RETRY_AFTER_WAIT: 1 + 5}, "Retry-After honoured, not slept"
    assert_never_advanced(run, {"bot-beta", "bot-nobody"})


MALFORMED = {
    "bot-html": faults.html,
    "bot-truncated": faults.truncated,
    "bot-non-object": faults.non_object,
    "bot-object": lambda bot: faults.status(200, message="not a lead array", bot=bot),
}
"""One bot per malformed 200 body: HTML, a cut-off array, a non-object element, a JSON object."""


def test_every_malformed_200_body_fails_loudly_and_never_advances_its_bot(
    tmp_path: Path,
) -> None:
    config = MockConfig(api_keys={API_KEY: None}, bots=("bot-alpha", *MALFORMED), seed=3)
    with MockServer(config) as server:
        for bot, fault in MALFORMED.items():
            server.inject(fault(bot=bot))
        connector = Connector(server, tmp_path)
        run = read(connector, ["bot-alpha", *MALFORMED], "incremental")
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
    chatty: Connector,
) -> None:
    server, bots = chatty.server, ["bot-alpha", NUMERIC_BOT]
    run = read(chatty, bots, "full_refresh", stream="chats")
    assert run.returncode == 0, run.error_messages
    assert sorted(run.records, key=message_key) == expected_messages(server, bots)
    journal = server.journal()
    assert requests_per_bot(journal, "get-conversation-ids") == {bot: 1 for bot in bots}
    assert requests_per_bot(journal, "get-chats") == {
        bot: len(sessions(server, bot)) for bot in bots
    }


def test_chats_incremental_emits_due_messages_and_one_added_to_an_old_conversation(
    chatty: Connector,
) -> None:
    server, bots = chatty.server, ["bot-alpha", NUMERIC_BOT]
    first = read(chatty, bots, "incremental", stream="chats")
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
    second = read(chatty, all_bots, "incremental", stream="chats",
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
    small: Connector,
) -> None:
    server = small.server
    server.inject(faults.status(403, bot="bot-beta", route="chats"))
    run = read(small, ["bot-alpha", "bot-beta"], "incremental", stream="chats")
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
    tmp_path: Path,
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
        run = read(connector, ["bot-alpha", *MALFORMED_CHATS], "incremental",
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


# The runtime: the same edition in `source-declarative-manifest`, as Airbyte Cloud runs it.


def test_check_and_discover_in_the_runtime_offer_the_main_manifests_streams(
    connector: Connector,
) -> None:
    from source_chatnode.run import load_manifest as load_main_manifest

    schemas = load_main_manifest()["schemas"]
    check_run = check(connector, connector.config())
    assert check_run.returncode == 0, check_run.stderr[-2000:]
    assert check_run.connection_status["status"] == "SUCCEEDED", check_run.stdout[-2000:]
    workdir = connector.next_workdir("discover")
    discover = run_in_manifest_only_runtime(
        "discover", workdir, CLOUD_EDITION, config=connector.config()
    )
    assert discover.returncode == 0, discover.stderr[-2000:]
    streams = {stream["name"]: stream for stream in discover.catalog["streams"]}
    assert set(streams) == {"leads", "chats"}
    for name, key in (("leads", "session_id"), ("chats", "id")):
        assert streams[name]["json_schema"] == schemas[name]
        assert streams[name]["source_defined_primary_key"] == [["bot_id"], [key]]
        assert streams[name]["default_cursor_field"] == ["created_at"]
        assert set(streams[name]["supported_sync_modes"]) == {"full_refresh", "incremental"}


def test_a_read_in_the_runtime_resumes_from_saved_state_and_exits_non_zero_on_a_failed_bot(
    connector: Connector, cloud_env: dict[str, str]
) -> None:
    """The one read in a process: saved state in, records and state out as protocol only, and
    the exit code that marks the sync failed when a bot is forbidden."""
    server, bots = connector.server, ["bot-alpha", "bot-beta"]
    first = read(connector, bots, "incremental")
    assert first.returncode == 0, first.error_messages
    saved = {bot: instant(value) for bot, value in first.bot_cursors().items()}
    appended = server.append("bot-alpha", count=3)

    run = run_cloud(
        connector,
        "read",
        cloud_env,
        config=connector.config([*bots, "bot-nobody"]),
        catalog=configured_catalog("incremental", ("leads",)),
        state=state_messages(first),
    )
    assert run.returncode != 0, "a forbidden bot fails the sync"
    assert any("bot-nobody" in m and "403" in m and "bot_ids" in m for m in run.error_messages)
    assert keys(run.records) == {
        (bot, lead["session_id"])
        for bot in bots
        for lead in server.leads(bot)
        if instant(lead["created_at"]) >= saved[bot]
    }, "each bot resumes at its saved cursor, inclusive"
    assert {("bot-alpha", lead["session_id"]) for lead in appended} <= keys(run.records)
    cursors = {bot: instant(value) for bot, value in run.bot_cursors().items()}
    assert cursors["bot-alpha"] == max(instant(lead["created_at"]) for lead in appended)
    assert cursors["bot-beta"] == saved["bot-beta"]
    # A bot new to the state starts at the others' newest cursor (less the lookback): the
    # forbidden one must stay there, not follow bot-alpha's new leads.
    assert cursors["bot-alpha"] > max(saved.values())
    assert cursors.get("bot-nobody", max(saved.values())) <= max(saved.values())
