"""A server that stops answering fails the sync with a clear message, after the retries.

The manifest's timeouts (30 s to connect, 300 s between bytes) are too long for a test, so this
runs the same manifest in process with the read timeout cut to one second.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from airbyte_cdk.models import ConfiguredAirbyteCatalogSerializer
from airbyte_cdk.sources.declarative.concurrent_declarative_source import (
    ConcurrentDeclarativeSource,
)
from airbyte_cdk.test.entrypoint_wrapper import read

from integration_tests.conftest import API_KEY
from integration_tests.connector_runner import configured_catalog
from mock_server import faults
from mock_server.server import MockServer
from source_chatnode.run import declarative_source, load_manifest


def impatient_source(config: dict) -> ConcurrentDeclarativeSource:
    manifest = copy.deepcopy(load_manifest())
    manifest["definitions"]["requester"]["read_timeout_in_seconds"] = 1
    manifest["definitions"]["error_handler"]["max_retries"] = 1
    return declarative_source(config=config, manifest=manifest)


def test_a_server_that_stops_answering_fails_the_sync_clearly(
    chatnode_mock: MockServer, tmp_path: Path
) -> None:
    # bot-beta stops answering on both routes; bot-alpha on the chats route only.
    chatnode_mock.inject(faults.latency(4, bot="bot-beta"))
    chatnode_mock.inject(faults.latency(4, bot="bot-alpha", route="chats"))
    config = {
        "api_key": API_KEY,
        "bot_ids": ["bot-alpha", "bot-beta"],
        "base_url": chatnode_mock.base_url,
    }
    catalog = ConfiguredAirbyteCatalogSerializer.load(
        configured_catalog("full_refresh", ["leads", "chats"])
    )
    output = read(impatient_source(config), config, catalog, expecting_exception=True)

    bots_read = {(record.record.stream, record.record.data["bot_id"]) for record in output.records}
    assert bots_read == {("leads", "bot-alpha")}
    for stream in ("leads", "chats"):
        messages = [
            error.trace.error.message
            for error in output.errors
            if error.trace.error.stream_descriptor
            and error.trace.error.stream_descriptor.name == stream
        ]
        assert any("timed out" in message.lower() for message in messages), (stream, messages)
    everything = "\n".join(json.dumps(message, default=str) for message in output._messages)
    assert API_KEY not in everything
