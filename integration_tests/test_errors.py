"""Every API failure maps to one clear connector behaviour, and nothing is lost on the way."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from airbyte_cdk.models import ConfiguredAirbyteCatalogSerializer
from airbyte_cdk.test.entrypoint_wrapper import read as read_in_process

from integration_tests.conftest import (
    API_KEY,
    Connector,
    canonical,
    chats_requests,
    served_records,
)
from integration_tests.connector_runner import (
    bot_cursors_of,
    configured_catalog,
    state_messages,
)
from mock_server import faults
from mock_server.faults import FaultRule
from mock_server.server import MockServer
from source_chatnode.run import declarative_source, load_manifest

NO_STATE = datetime(1970, 1, 1, tzinfo=UTC)


def assert_never_advanced(cursors: dict[str, str], bot: str) -> None:
    """A failed bot's cursor, if the state lists it at all, stays at the start of time."""
    if bot in cursors:
        assert datetime.fromisoformat(cursors[bot]) == NO_STATE, f"{bot} state advanced"


def read(
    connector: Connector,
    sync_mode: str = "incremental",
    streams: tuple[str, ...] = ("leads",),
    **inputs,
):
    return connector.run(
        "read",
        config=inputs.pop("config", connector.config()),
        catalog=configured_catalog(sync_mode, streams),
        **inputs,
    )


def test_check_with_a_wrong_key_fails_and_names_the_option(connector: Connector) -> None:
    config = {**connector.config(), "api_key": "cn-wrong-000000"}
    run = connector.run("check", config=config)
    status = run.connection_status
    assert status["status"] == "FAILED"
    assert "401" in status["message"] and "api_key" in status["message"]
    assert "cn-wrong-000000" not in run.stdout + run.stderr


def test_read_with_a_wrong_key_is_a_config_error_for_both_streams(connector: Connector) -> None:
    run = read(
        connector,
        streams=("leads", "chats"),
        config={**connector.config(), "api_key": "cn-wrong-000000"},
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


def test_403_on_one_bot_fails_the_sync_but_the_other_bots_leads_and_state_arrive(
    connector: Connector,
) -> None:
    run = read(connector, config=connector.config(["bot-alpha", "bot-nobody"]))
    assert run.returncode != 0
    assert any("bot-nobody" in message and "403" in message for message in run.error_messages)
    assert {key[0] for key in run.record_keys()} == {"bot-alpha"}
    assert len(run.record_keys()) == len(connector.server.leads("bot-alpha"))
    assert_never_advanced(run.bot_cursors(), "bot-nobody")


def test_404_names_the_bot(connector: Connector) -> None:
    connector.server.inject(faults.status(404, bot="bot-beta"))
    run = read(connector)
    assert run.returncode != 0
    assert any("bot-beta" in message and "404" in message for message in run.error_messages)


def test_429_waits_for_retry_after_then_reads_everything(connector: Connector) -> None:
    connector.server.inject(faults.status(429, retry_after=1, times=2))
    run = read(connector, "full_refresh")
    assert run.returncode == 0, run.error_messages
    assert len(run.record_keys()) == 80
    statuses = [entry["status"] for entry in connector.server.journal() if entry.get("bot")]
    assert statuses.count(429) == 2


def test_transient_server_errors_and_latency_are_retried_until_everything_is_read(
    connector: Connector,
) -> None:
    # 500 then 502 back off exponentially; the 503 waits for its Retry-After, then a slow answer.
    for rule in (
        faults.status(500, bot="bot-alpha", times=1),
        faults.status(502, bot="bot-alpha", times=1),
        faults.status(503, retry_after=1, bot="bot-beta", times=1),
        faults.latency(0.2, bot="bot-beta", times=1),
    ):
        connector.server.inject(rule)
    run = read(connector, "full_refresh")
    assert run.returncode == 0, run.error_messages
    assert len(run.record_keys()) == 80
    statuses = {
        bot: [entry["status"] for entry in connector.server.journal() if entry["bot"] == bot]
        for bot in ("bot-alpha", "bot-beta")
    }
    assert statuses == {"bot-alpha": [500, 502, 200], "bot-beta": [503, 200]}


def test_a_persistent_server_error_fails_after_retries_with_a_clear_message(
    connector: Connector,
) -> None:
    connector.server.inject(faults.status(503, retry_after=1, bot="bot-beta"))
    first = read(connector)
    assert first.returncode != 0
    assert any("server error" in message for message in first.error_messages)
    attempts = [entry for entry in connector.server.journal() if entry.get("bot") == "bot-beta"]
    assert len(attempts) == 6, "one request and five retries"
    assert_never_advanced(first.bot_cursors(), "bot-beta")
    assert "bot-alpha" in first.bot_cursors()


CHATS_ROUTE_FAULTS: dict[str, tuple[FaultRule, ...]] = {
    "bot-alpha": (),
    "bot-locked": (faults.status(401, route="chats", bot="bot-locked"),),
    "bot-forbidden": (faults.status(403, route="chats", bot="bot-forbidden"),),
    "bot-missing": (faults.status(404, route="chats", bot="bot-missing"),),
    "bot-limited": (faults.status(429, retry_after=1, route="chats", bot="bot-limited", times=2),),
    "bot-flaky": (
        faults.status(500, retry_after=1, route="chats", bot="bot-flaky", times=1),
        faults.status(502, retry_after=1, route="chats", bot="bot-flaky", times=1),
    ),
    "bot-down": (faults.status(503, retry_after=1, route="chats", bot="bot-down"),),
}
"""A bot per row of the error table, its faults on the chats route only (one sync covers all).
Every wait is a 1 s Retry-After: the exponential backoff is the leads tests' business."""


def test_chats_route_errors_follow_the_same_table_and_the_other_bots_and_leads_complete(
    connector: Connector,
) -> None:
    server = connector.server
    for bot, rules in CHATS_ROUTE_FAULTS.items():
        if bot != "bot-alpha":
            server.add_bot(bot, count=5)
        for rule in rules:
            server.inject(rule)
    bots = tuple(CHATS_ROUTE_FAULTS)
    run = read(
        connector,
        streams=("leads", "chats"),
        config=connector.config(bots, chats_batch_size=10),
        extra_args=["--debug"],
    )
    assert run.returncode != 0
    errors = run.error_messages_of("chats")
    expected_errors = {
        "bot-locked": ("401", "api_key"),
        "bot-forbidden": ("403", "bot 'bot-forbidden'"),
        "bot-missing": ("404", "get-chats", "bot 'bot-missing'"),
        "bot-down": ("server error",),
    }
    for bot, parts in expected_errors.items():
        assert any(all(part in message for part in parts) for message in errors), (bot, errors)
    statuses = {bot: [entry["status"] for entry in chats_requests(server, bot)] for bot in bots}
    assert statuses["bot-limited"] == [429, 429, 200]
    assert statuses["bot-flaky"] == [500, 502, 200]
    assert statuses["bot-down"] == [503] * 6, "one request and five retries"

    completed = ("bot-alpha", "bot-limited", "bot-flaky")
    assert canonical(run.records_of("chats")) == canonical(
        served_records(server, "chats", completed)
    )
    cursors = run.bot_cursors("chats")
    for bot in set(expected_errors):
        assert_never_advanced(cursors, bot)
    assert set(completed) <= set(cursors)
    assert not run.error_messages_of("leads")
    assert canonical(run.records_of("leads")) == canonical(served_records(server, "leads", bots))
    # --debug logged the chats requests with their headers: the key was masked, not absent.
    assert any(
        "Making outbound API request" in line and "/get-chats/" in line and "Authorization" in line
        for line in run.stdout.splitlines()
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
    catalog = ConfiguredAirbyteCatalogSerializer.load(configured_catalog("full_refresh", ["chats"]))
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
ROUTE_STREAMS = {
    "leads": ("lead", ("leads",)),
    "chats": ("message", ("leads", "chats")),
}
"""Per faulty route: what its array holds, and the streams read (leads beside chats, to show
that a broken chats route leaves the leads stream whole)."""


def add_new_records(server: MockServer, route: str, bot: str) -> set[tuple[str, str]]:
    """New records on `route` for the bot, created after everything it had; their keys."""
    if route == "leads":
        return {(bot, lead["session_id"]) for lead in server.append(bot, count=3)}
    old_session = server.leads(bot)[0]["session_id"]
    return {(bot, server.append_message(bot, old_session)["id"])}


@pytest.mark.parametrize("route", ["leads", "chats"])
def test_a_malformed_200_fails_loudly_and_state_never_passes_an_unemitted_record(
    connector: Connector, route: str
) -> None:
    record, streams = ROUTE_STREAMS[route]
    for bot in MALFORMED_BODIES:
        connector.server.add_bot(bot, count=8)
    bots = ("bot-alpha", *MALFORMED_BODIES)
    config = connector.config(bots, chats_batch_size=3)
    first = read(connector, streams=streams, config=config)
    assert first.returncode == 0, first.error_messages
    before = first.bot_cursors(route)
    healthy_new = add_new_records(connector.server, route, "bot-alpha")
    appended: set[tuple[str, str]] = set()
    for bot, (fault, _) in MALFORMED_BODIES.items():
        appended |= add_new_records(connector.server, route, bot)
        connector.server.inject(fault(bot=bot, route=route))

    broken = read(connector, streams=streams, config=config, state=state_messages(first))
    assert broken.returncode != 0
    errors = broken.error_messages_of(route)
    for bot, (_, problem) in MALFORMED_BODIES.items():
        assert any(
            f"malformed {record}s response" in message
            and f"/{bot}:" in message
            and problem.format(record=record) in message
            for message in errors
        ), (bot, errors)
        for state in broken.states_of(route):
            assert bot_cursors_of(state)[bot] == before[bot], f"{bot}: state passed unemitted data"
    assert healthy_new <= set(broken.record_keys(route)), "the healthy bot did not complete"
    healthy_cursor = broken.bot_cursors(route)["bot-alpha"]
    assert datetime.fromisoformat(healthy_cursor) > datetime.fromisoformat(before["bot-alpha"])
    if route == "chats":
        assert not broken.error_messages_of("leads"), "the leads stream is not to fail"
        assert set(broken.bot_cursors("leads")) == set(bots)

    connector.server.clear_faults()
    healed = read(connector, streams=streams, config=config, state=state_messages(broken))
    assert healed.returncode == 0, healed.error_messages
    assert appended <= set(healed.record_keys(route))


def test_the_api_key_never_appears_even_in_debug_logs(connector: Connector) -> None:
    connector.server.inject(faults.status(401, times=1))
    run = read(connector, extra_args=["--debug"])
    output = run.stdout + run.stderr
    # First prove debug logging ran and logged the request with its headers, so the absence of
    # the key below means it was masked, not that nothing was printed.
    request_logs = [
        line
        for line in output.splitlines()
        if '"type": "DEBUG"' in line and "Making outbound API request" in line
    ]
    assert request_logs, "--debug logged no outbound request"
    assert all(
        "Authorization" in line and "/get-conversation-ids/" in line for line in request_logs
    )
    assert API_KEY not in output
