"""Every API failure maps to one clear connector behaviour, and nothing is lost on the way."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from integration_tests.conftest import API_KEY, Connector
from integration_tests.connector_runner import configured_catalog, state_messages
from mock_server import faults

NO_STATE = datetime(1970, 1, 1, tzinfo=UTC)


def assert_never_advanced(cursors: dict[str, str], bot: str) -> None:
    """A failed bot's cursor, if the state lists it at all, stays at the start of time."""
    if bot in cursors:
        assert datetime.fromisoformat(cursors[bot]) == NO_STATE, f"{bot} state advanced"


def read(connector: Connector, sync_mode: str = "incremental", **inputs):
    return connector.run(
        "read",
        config=inputs.pop("config", connector.config()),
        catalog=configured_catalog(sync_mode),
        **inputs,
    )


def test_check_with_a_wrong_key_fails_and_names_the_option(connector: Connector) -> None:
    config = {**connector.config(), "api_key": "cn-wrong-000000"}
    run = connector.run("check", config=config)
    status = run.connection_status
    assert status["status"] == "FAILED"
    assert "401" in status["message"] and "api_key" in status["message"]
    assert "cn-wrong-000000" not in run.stdout + run.stderr


def test_read_with_a_wrong_key_is_a_config_error(connector: Connector) -> None:
    run = read(connector, config={**connector.config(), "api_key": "cn-wrong-000000"})
    assert run.returncode != 0
    errors = [m["trace"]["error"] for m in run.of_type("TRACE") if m["trace"]["type"] == "ERROR"]
    assert any(
        error["failure_type"] == "config_error" and "401" in error["message"] for error in errors
    )
    assert not run.records


def test_check_names_a_first_bot_the_key_cannot_read(connector: Connector) -> None:
    # `check` reads the first lead of the first bot (the CDK's CheckStream reads one partition);
    # a forbidden bot further down the list is named by `read` (next test).
    run = connector.run("check", config=connector.config(["bot-nobody", "bot-alpha"]))
    assert run.connection_status["status"] == "FAILED"
    assert "bot-nobody" in run.connection_status["message"]
    assert "403" in run.connection_status["message"]


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


@pytest.mark.parametrize("code", [500, 502, 503])
def test_transient_server_errors_are_retried(connector: Connector, code: int) -> None:
    connector.server.inject(faults.status(code, bot="bot-alpha", times=1))
    run = read(connector, "full_refresh")
    assert run.returncode == 0, run.error_messages
    assert len(run.record_keys()) == 80


def test_latency_and_a_503_with_retry_after_are_absorbed(connector: Connector) -> None:
    connector.server.inject(faults.status(503, retry_after=1, bot="bot-beta", times=1))
    connector.server.inject(faults.latency(0.2, bot="bot-beta", times=1))
    run = read(connector, "full_refresh")
    assert run.returncode == 0, run.error_messages
    assert len(run.record_keys()) == 80


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


@pytest.mark.parametrize(
    ("fault", "problem"),
    [
        (faults.html, "expected a JSON array"),
        (faults.truncated, "truncated"),
        (faults.non_object, "not a lead object"),
        (faults.drop, "malformed leads response"),
    ],
)
def test_a_malformed_200_fails_loudly_and_state_never_passes_an_unemitted_lead(
    connector: Connector, fault, problem: str
) -> None:
    catalog = configured_catalog("incremental")
    first = connector.run("read", config=connector.config(), catalog=catalog)
    before = first.bot_cursors()
    appended = connector.server.append("bot-beta", count=10)
    connector.server.inject(fault(bot="bot-beta"))

    broken = connector.run(
        "read", config=connector.config(), catalog=catalog, state=state_messages(first)
    )
    assert broken.returncode != 0
    assert any(problem in message for message in broken.error_messages), broken.error_messages
    emitted = set(broken.record_keys())
    for state in broken.states:
        cursors = {
            entry["partition"]["bot_id"]: entry["cursor"]["created_at"]
            for entry in state["stream"]["stream_state"].get("states", [])
        }
        assert cursors.get("bot-beta") == before["bot-beta"], "state moved past leads never emitted"
    assert not {("bot-beta", lead["session_id"]) for lead in appended} <= emitted

    connector.server.clear_faults()
    healed = connector.run(
        "read", config=connector.config(), catalog=catalog, state=[broken.final_state]
    )
    assert healed.returncode == 0, healed.error_messages
    assert {("bot-beta", lead["session_id"]) for lead in appended} <= set(healed.record_keys())


def test_the_api_key_never_appears_even_in_debug_logs(connector: Connector) -> None:
    connector.server.inject(faults.status(401, times=1))
    run = connector.run("check", config=connector.config(), extra_args=["--debug"])
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
