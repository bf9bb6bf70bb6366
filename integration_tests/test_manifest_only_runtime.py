"""The manifest runs unchanged in Airbyte's manifest-only runtime, `source-declarative-manifest`.

On the platform the image holds airbyte-cdk, `manifest.yaml` and `components.py`, nothing else.
These runs build the source as that runtime does (`create_declarative_source`: the manifest
injected from `--manifest-path`, `components.py` loaded from `--components-path`), in process
and with `source_chatnode` and `mock_server` unimportable while they run, so a component that
leans on our own code fails here as it would there. The runtime's console script itself runs in
a process in test_check.py (its `check`) and, for the Cloud edition, in
test_cloud_edition_runtime.py.
"""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from integration_tests.conftest import COMPONENTS, MANIFEST, Connector, canonical
from integration_tests.connector_runner import ConnectorRun, configured_catalog, state_messages
from integration_tests.in_process import (
    manifest_only_runtime,
    run_entrypoint,
    run_in_manifest_only_runtime,
)
from source_chatnode.run import create_source

STREAMS = ("leads", "chats")


def in_runtime(connector: Connector, command: str, **inputs: Any) -> ConnectorRun:
    """One command of the manifest-only runtime over our manifest and components."""
    workdir = connector.next_workdir(f"sdm-{command}")
    return run_in_manifest_only_runtime(command, workdir, MANIFEST, COMPONENTS, **inputs)


def run_ours(connector: Connector, command: str, **inputs: Any) -> ConnectorRun:
    """The same command of `source-chatnode`, as its console script builds the source."""
    return run_entrypoint(create_source, command, connector.next_workdir(command), **inputs)


def test_our_packages_cannot_be_imported_in_the_runtime() -> None:
    with manifest_only_runtime(custom_code=True):
        for package in ("source_chatnode", "source_chatnode.components", "mock_server.faults"):
            with pytest.raises(ImportError):
                importlib.import_module(package)
    assert importlib.import_module("source_chatnode.components"), "not restored afterwards"


def test_check_and_discover_in_the_manifest_only_runtime(connector: Connector) -> None:
    check = in_runtime(connector, "check", config=connector.config())
    assert check.connection_status["status"] == "SUCCEEDED", check.stdout[-2000:]
    ours = run_ours(connector, "discover", config=connector.config()).catalog
    assert in_runtime(connector, "discover", config=connector.config()).catalog == ours


@pytest.mark.parametrize("sync_mode", ["full_refresh", "incremental"])
def test_manifest_only_runtime_reads_the_same_records_and_state_as_our_cli(
    connector: Connector, sync_mode: str
) -> None:
    catalog = configured_catalog(sync_mode, STREAMS)
    config = connector.config(chats_batch_size=7)
    ours = run_ours(connector, "read", config=config, catalog=catalog)
    theirs = in_runtime(connector, "read", config=config, catalog=catalog)
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
        ours_next = run_ours(
            connector, "read", config=config, catalog=catalog, state=state_messages(ours)
        )
        theirs_next = in_runtime(
            connector, "read", config=config, catalog=catalog, state=state_messages(theirs)
        )
        assert ("bot-beta", added["id"]) in theirs_next.record_keys("chats")
        for stream in STREAMS:
            assert sorted(theirs_next.record_keys(stream)) == sorted(ours_next.record_keys(stream))
            assert theirs_next.bot_cursors(stream) == ours_next.bot_cursors(stream)


def test_manifest_only_runtime_fails_loudly_on_a_malformed_body(connector: Connector) -> None:
    from mock_server import faults

    connector.server.inject(faults.html(bot="bot-beta", route="leads"))
    connector.server.inject(faults.truncated(bot="bot-alpha", route="chats"))
    run = in_runtime(
        connector,
        "read",
        config=connector.config(),
        catalog=configured_catalog("full_refresh", STREAMS),
    )
    assert run.returncode != 0
    assert any("malformed leads response" in message for message in run.error_messages_of("leads"))
    assert any(
        "malformed messages response" in message and "/get-chats/bot-alpha" in message
        for message in run.error_messages_of("chats")
    )
