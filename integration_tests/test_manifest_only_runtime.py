"""The manifest runs unchanged in Airbyte's manifest-only runtime, `source-declarative-manifest`.

On the platform the image holds airbyte-cdk, `manifest.yaml` and `components.py`, nothing else.
These runs shadow `source_chatnode` and `mock_server` with packages that refuse to import, so a
component that leans on our own code fails here as it would there.
"""

from __future__ import annotations

import sys

import pytest

from integration_tests.conftest import Connector, canonical, run_sdm
from integration_tests.connector_runner import configured_catalog, state_messages


def test_the_blocker_really_hides_our_packages(
    connector: Connector, isolated_env: dict[str, str]
) -> None:
    import subprocess

    probe = subprocess.run(
        [sys.executable, "-c", "import source_chatnode"],
        env={**isolated_env, "PATH": "/usr/bin:/bin"},
        cwd=connector.workdir,
        capture_output=True,
        text=True,
        check=False,
    )
    assert probe.returncode != 0 and "not installed in source-declarative-manifest" in probe.stderr


def test_check_and_discover_in_the_manifest_only_runtime(
    connector: Connector, isolated_env: dict[str, str]
) -> None:
    check = run_sdm(connector, "check", isolated_env, config=connector.config())
    assert check.connection_status["status"] == "SUCCEEDED", check.stdout[-2000:]
    ours = connector.run("discover", config=connector.config()).catalog
    theirs = run_sdm(connector, "discover", isolated_env, config=connector.config()).catalog
    assert theirs == ours


STREAMS = ("leads", "chats")


@pytest.mark.parametrize("sync_mode", ["full_refresh", "incremental"])
def test_manifest_only_runtime_reads_the_same_records_and_state_as_our_cli(
    connector: Connector, isolated_env: dict[str, str], sync_mode: str
) -> None:
    catalog = configured_catalog(sync_mode, STREAMS)
    config = connector.config(chats_batch_size=7)
    ours = connector.run("read", config=config, catalog=catalog)
    theirs = run_sdm(connector, "read", isolated_env, config=config, catalog=catalog)
    assert ours.returncode == 0, ours.error_messages
    assert theirs.returncode == 0, theirs.error_messages or theirs.stderr[-2000:]
    for stream in STREAMS:
        assert ours.records_of(stream), f"our CLI read no {stream}: nothing to compare"
        assert canonical(theirs.records_of(stream)) == canonical(ours.records_of(stream))
    if sync_mode == "incremental":
        for stream in STREAMS:
            assert theirs.bot_cursors(stream) == ours.bot_cursors(stream)
        connector.server.append("bot-alpha", count=3)
        old_session = connector.server.leads("bot-beta")[0]["session_id"]
        added = connector.server.append_message("bot-beta", old_session)
        ours_next = connector.run(
            "read", config=config, catalog=catalog, state=state_messages(ours)
        )
        theirs_next = run_sdm(
            connector,
            "read",
            isolated_env,
            config=config,
            catalog=catalog,
            state=state_messages(theirs),
        )
        assert ("bot-beta", added["id"]) in theirs_next.record_keys("chats")
        for stream in STREAMS:
            assert sorted(theirs_next.record_keys(stream)) == sorted(ours_next.record_keys(stream))
            assert theirs_next.bot_cursors(stream) == ours_next.bot_cursors(stream)


def test_manifest_only_runtime_fails_loudly_on_a_malformed_body(
    connector: Connector, isolated_env: dict[str, str]
) -> None:
    from mock_server import faults

    connector.server.inject(faults.html(bot="bot-beta", route="leads"))
    connector.server.inject(faults.truncated(bot="bot-alpha", route="chats"))
    run = run_sdm(
        connector,
        "read",
        isolated_env,
        config=connector.config(),
        catalog=configured_catalog("full_refresh", STREAMS),
    )
    assert run.returncode != 0
    assert any("malformed leads response" in message for message in run.error_messages_of("leads"))
    assert any(
        "malformed messages response" in message and "/get-chats/bot-alpha" in message
        for message in run.error_messages_of("chats")
    )
