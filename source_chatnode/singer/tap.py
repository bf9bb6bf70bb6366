"""`tap-chatnode`: the Singer tap (Meltano extractor) over the connector's declarative source."""

from __future__ import annotations

import logging
import sys
from importlib.metadata import entry_points
from typing import Any

from singer_sdk import Tap
from singer_sdk.io_base import SingerWriter
from singer_sdk.singerlib.messages import Message

from source_chatnode.in_process import ConnectorError, drop_protocol_log_handler, stream_definitions
from source_chatnode.singer.config_schema import tap_config_schema
from source_chatnode.singer.streams import ConnectorStream


class ProtocolWriter(SingerWriter):
    """Writes Singer messages to the stdout the tap was started with, whatever `sys.stdout` is
    later: the connector's stray prints are sent to stderr while it reads (streams.py)."""

    def __init__(self) -> None:
        self._out = sys.stdout

    def write_message(self, message: Message) -> None:
        self._out.write(self.format_message(message) + "\n")
        self._out.flush()


def _distribution_name() -> str | None:
    """The installed distribution that declares `tap-chatnode`, for `--version` and `--about`
    (found through its entry point, which an editable install has too)."""
    for script in entry_points(group="console_scripts", name="tap-chatnode"):
        if script.dist is not None:
            return script.dist.name
    return None


class TapChatNode(Tap):
    """ChatNode leads and chat messages, per bot, incremental on created_at."""

    name = "tap-chatnode"
    package_name = _distribution_name()
    config_jsonschema = tap_config_schema()
    message_writer_class = ProtocolWriter

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        drop_protocol_log_handler()  # connector logs then go where singer-sdk's go: stderr
        super().__init__(*args, **kwargs)

    def discover_streams(self) -> list[ConnectorStream]:
        return [ConnectorStream(self, definition) for definition in stream_definitions()]


def main() -> None:
    """Console script `tap-chatnode`: singer-sdk's CLI; a connector failure ends with its own
    message on stderr and exit status 1, without a traceback."""
    drop_protocol_log_handler()  # connector logs then go where singer-sdk's go: stderr
    try:
        TapChatNode.cli()
    except ConnectorError as exc:
        logging.getLogger(TapChatNode.name).error("%s", exc)
        sys.exit(1)
