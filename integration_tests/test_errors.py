"""Every API failure maps to one clear connector behaviour, and nothing is lost on the way.

The behaviour (which message, which retries after which wait, whose records and state survive)
is read in process (`integration_tests.in_process`), where the CDK's retry waits are recorded
instead of slept (`backoff_waits`, /conftest.py). The tests at the end prove the wiring: exit
code and failure type through the console script's entrypoint, and, in a process, a key that
never reaches the output, even with `--debug`.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from airbyte_cdk.models import AirbyteStateMessageSerializer
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput
from airbyte_cdk.test.entrypoint_wrapper import read as read_in_process

from integration_tests.conftest import (
    API_KEY,
    Connector,
    canonical,
    chats_requests,
    served_records,
)
from integration_tests.connector_runner import bot_cursors_of, configured_catalog
from integration_tests.in_process import read_streams, run_entrypoint
from mock_server import faults
from mock_server.faults import FaultRule
from mock_server.server import MockServer
from source_chatnode.in_process import configured_catalog as catalog_of
from source_chatnode.run import create_source, declarative_source, load_manifest

NO_STATE = datetime(1970, 1, 1, tzinfo=UTC)
RETRY_AFTER_WAIT = 2.0
"""A Retry-After of one second, as the CDK waits it: the header's value plus one second."""
STREAMS_FOR_ROUTE = {"leads": ("leads",), "chats": ("leads", "chats")}
"""The streams a test of a route reads: chats beside leads, to show the leads stream stays whole."""


def errors_of(output: EntrypointOutput, stream: str) -> list[str]:
    """The messages of the errors the CDK attributes to `stream`."""
    return [
        message.trace.error.message
        for message in output.errors
        if message.trace.error.stream_descriptor is not None
        and message.trace.error.stream_descriptor.name == stream
    ]


def records_of(output: EntrypointOutput, stream: str) -> list[dict[str, Any]]:
    return [dict(m.record.data) for m in output.records if m.record.stream == stream]


def states_of(output: EntrypointOutput, stream: str) -> list[dict[str, Any]]:
    """The stream's state messages, as JSON, in order."""
    return [
        AirbyteStateMessageSerializer.dump(message.state)
        for message in output.state_messages
        if message.state.stream.stream_descriptor.name == stream
    ]


def cursors_of(output: EntrypointOutput, stream: str) -> dict[str, str]:
    states = states_of(output, stream)
    return bot_cursors_of(states[-1]) if states else {}


def next_state(output: EntrypointOutput, streams: Sequence[str]) -> list[dict[str, Any]]:
    """The state file of the next sync: each stream's last state message."""
    return [states_of(output, stream)[-1] for stream in streams if states_of(output, stream)]


def assert_never_advanced(cursors: dict[str, str], bot: str) -> None:
    """A failed bot's cursor, if the state lists it at all, stays at the start of time."""
    if bot in cursors:
        assert datetime.fromisoformat(cursors[bot]) == NO_STATE, f"{bot} state advanced"


def statuses(server: MockServer, route: str, bot: str) -> list[int]:
    path = "/get-chats/" if route == "chats" else "/get-conversation-ids/"
    return [e["status"] for e in server.journal() if e["bot"] == bot and path in e["path"]]


def error_table(route: str) -> dict[str, tuple[tuple[FaultRule, ...], tuple[str, ...] | None]]:
    """A bot per row of the manifest's error table, its faults on `route` only (one sync covers
    all), and what the failed ones' error says (None: the bot's read must succeed)."""
    endpoint = "get-chats" if route == "chats" else "get-conversation-ids"
    return {
        "bot-alpha": ((), None),
        "bot-locked": ((faults.status(401, route=route, bot="bot-locked"),), ("401", "api_key")),
        "bot-forbidden": (
            (faults.status(403, route=route, bot="bot-forbidden"),),
            ("403", "bot 'bot-forbidden'"),
        ),
        "bot-missing": (
            (faults.status(404, route=route, bot="bot-missing"),),
            ("404", endpoint, "bot 'bot-missing'"),
        ),
        "bot-limited": (
            (faults.status(429, retry_after=1, route=route, bot="bot-limited", times=2),),
            None,
        ),
        "bot-flaky": (  # no Retry-After: the exponential backoff
            (
                faults.status(500, route=route, bot="bot-flaky", times=1),
                faults.status(502, route=route, bot="bot-flaky", times=1),
            ),
            None,
        ),
        "bot-slow": (
            (
                faults.status(503, retry_after=1, route=route, bot="bot-slow", times=1),
                faults.latency(0.2, route=route, bot="bot-slow", times=1),
            ),
            None,
        ),
        "bot-down": (
            (faults.status(503, retry_after=1, route=route, bot="bot-down"),),
            ("server error",),
        ),
    }


@pytest.mark.parametrize("route", ["leads", "chats"])
def test_each_api_failure_follows_the_error_table_and_the_other_bots_complete(
    chatnode_mock: MockServer, backoff_waits: list[float], route: str
) -> None:
    server = chatnode_mock
    table = error_table(route)
    for bot, (rules, _) in table.items():
        if bot != "bot-alpha":
            server.add_bot(bot, count=5)
        for rule in rules:
            server.inject(rule)
    bots = tuple(table)
    output = read_streams(server, bots, STREAMS_FOR_ROUTE[route], chats_batch_size=10)

    errors = errors_of(output, route)
    for bot, (_, parts) in table.items():
        if parts is not None:
            assert any(all(part in m for part in parts) for m in errors), (bot, errors)
    assert statuses(server, route, "bot-limited") == [429, 429, 200]
    assert statuses(server, route, "bot-flaky") == [500, 502, 200]
    assert statuses(server, route, "bot-slow") == [503, 200]
    assert statuses(server, route, "bot-down") == [503] * 6, "one request and five retries"
    # Retry-After honoured (plus the CDK's second of margin) for the 429s and 503s; the 500 and
    # the 502, which send none, back off exponentially (2 s, then 4 s, plus the same margin).
    assert Counter(backoff_waits) == {RETRY_AFTER_WAIT: 2 + 1 + 5, 3.0: 1, 5.0: 1}

    completed = [bot for bot, (_, parts) in table.items() if parts is None]
    assert canonical(records_of(output, route)) == canonical(
        served_records(server, route, completed)
    )
    cursors = cursors_of(output, route)
    for bot, (_, parts) in table.items():
        if parts is not None:
            assert_never_advanced(cursors, bot)
    assert set(completed) <= set(cursors)
    if route == "chats":
        assert not errors_of(output, "leads"), "a broken chats route failed the leads stream"
        assert canonical(records_of(output, "leads")) == canonical(
            served_records(server, "leads", bots)
        )


def test_a_body_the_cdk_would_drop_stops_the_sync_before_any_chats_request(
    chatnode_mock: MockServer,
) -> None:
    """Without its leading whitespace the body template renders a Python list literal, which the
    CDK's requester would send as no body at all (answered with recent conversations, not these):
    the connector's guard must stop the sync instead."""
    manifest = copy.deepcopy(load_manifest())
    body = manifest["definitions"]["chats_requester"]["request_body"]
    assert body["value"].startswith(" \n ")
    body["value"] = body["value"].lstrip()
    config = {"api_key": API_KEY, "bot_ids": ["bot-alpha"], "base_url": chatnode_mock.base_url}
    catalog = catalog_of(["chats"], incremental=False)
    source = declarative_source(config=config, catalog=catalog, manifest=manifest)
    output = read_in_process(source, config, catalog, expecting_exception=True)

    assert not output.records
    messages = [error.trace.error.message for error in output.errors]
    assert any("could not build the Get Chat History request body" in m for m in messages), messages
    assert not chats_requests(chatnode_mock, "bot-alpha"), (
        "a request without its session ids was sent"
    )


MALFORMED_BODIES: dict[str, tuple[Callable[..., FaultRule], str]] = {
    "bot-html": (faults.html, "expected a JSON array of {record}s"),
    "bot-truncated": (faults.truncated, "truncated"),
    "bot-non-object": (faults.non_object, "not a {record} object"),
    "bot-drop": (faults.drop, "connection broke"),
}
"""A bot per kind of malformed 200, and what the error says about it."""
RECORD_OF_ROUTE = {"leads": "lead", "chats": "message"}


def add_new_records(server: MockServer, route: str, bot: str) -> set[tuple[str, str]]:
    """New records on `route` for the bot, created after everything it had; their keys."""
    if route == "leads":
        return {(bot, lead["session_id"]) for lead in server.append(bot, count=3)}
    old_session = server.leads(bot)[0]["session_id"]
    return {(bot, server.append_message(bot, old_session)["id"])}


def keys_of(output: EntrypointOutput, route: str) -> set[tuple[str, str]]:
    own = "session_id" if route == "leads" else "id"
    return {(record["bot_id"], record[own]) for record in records_of(output, route)}


@pytest.mark.parametrize("route", ["leads", "chats"])
def test_a_malformed_200_fails_loudly_and_state_never_passes_an_unemitted_record(
    chatnode_mock: MockServer, route: str
) -> None:
    server = chatnode_mock
    record, streams = RECORD_OF_ROUTE[route], STREAMS_FOR_ROUTE[route]
    for bot in MALFORMED_BODIES:
        server.add_bot(bot, count=8)
    bots = ("bot-alpha", *MALFORMED_BODIES)
    first = read_streams(server, bots, streams, chats_batch_size=3)
    assert not first.errors, first.get_formatted_error_message()
    before = cursors_of(first, route)
    healthy_new = add_new_records(server, route, "bot-alpha")
    appended: set[tuple[str, str]] = set()
    for bot, (fault, _) in MALFORMED_BODIES.items():
        appended |= add_new_records(server, route, bot)
        server.inject(fault(bot=bot, route=route))

    broken = read_streams(
        server, bots, streams, chats_batch_size=3, state=next_state(first, streams)
    )
    errors = errors_of(broken, route)
    for bot, (_, problem) in MALFORMED_BODIES.items():
        assert any(
            f"malformed {record}s response" in message
            and f"/{bot}:" in message
            and problem.format(record=record) in message
            for message in errors
        ), (bot, errors)
        for state in states_of(broken, route):
            assert bot_cursors_of(state)[bot] == before[bot], f"{bot}: state passed unemitted data"
    assert healthy_new <= keys_of(broken, route), "the healthy bot did not complete"
    healthy_cursor = cursors_of(broken, route)["bot-alpha"]
    assert datetime.fromisoformat(healthy_cursor) > datetime.fromisoformat(before["bot-alpha"])
    if route == "chats":
        assert not errors_of(broken, "leads"), "the leads stream is not to fail"
        assert set(cursors_of(broken, "leads")) == set(bots)

    server.clear_faults()
    healed = read_streams(
        server, bots, streams, chats_batch_size=3, state=next_state(broken, streams)
    )
    assert not healed.errors, healed.get_formatted_error_message()
    assert appended <= keys_of(healed, route)


# The CLI: the same failures reach the platform as exit code, failure type and clean output.


def test_read_with_a_wrong_key_is_a_config_error_for_both_streams(connector: Connector) -> None:
    """In process, as the console script builds and runs the source: the exit code is whether
    the entrypoint raised; the --debug test below runs the process and reads all it prints."""
    run = run_entrypoint(
        create_source,
        "read",
        connector.next_workdir(),
        config={**connector.config(), "api_key": "cn-wrong-000000"},
        catalog=configured_catalog("incremental", ("leads", "chats")),
    )
    assert run.returncode != 0
    for stream in ("leads", "chats"):
        assert any(
            error["failure_type"] == "config_error"
            and "401" in error["message"]
            and "api_key" in error["message"]
            and error["stream_descriptor"]["name"] == stream
            for error in run.errors
        ), f"no 401 config error for {stream}"
    assert not run.records
    assert "cn-wrong-000000" not in run.stdout + run.stderr


def test_the_api_key_never_appears_even_in_debug_logs(connector: Connector) -> None:
    connector.server.inject(faults.status(401, route="leads", bot="bot-beta", times=1))
    run = connector.run(
        "read",
        config=connector.config(),
        catalog=configured_catalog("incremental", ("leads", "chats")),
        extra_args=["--debug"],
    )
    output = run.stdout + run.stderr
    # First prove debug logging ran and logged the requests of both routes with their headers,
    # so the absence of the key below means it was masked, not that nothing was printed.
    request_logs = [
        line
        for line in output.splitlines()
        if '"type": "DEBUG"' in line and "Making outbound API request" in line
    ]
    for endpoint in ("/get-conversation-ids/", "/get-chats/"):
        assert any(endpoint in line for line in request_logs), f"--debug logged no {endpoint}"
    assert all("Authorization" in line for line in request_logs)
    assert any("401" in message for message in run.error_messages), "the 401 went unreported"
    assert API_KEY not in output
