"""A Singer stream whose records, keys and cursor are the connector's, and whose bookmark is the
connector's own per-bot state."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from singer_sdk import Stream
from singer_sdk.streams.core import REPLICATION_INCREMENTAL

from source_chatnode.in_process import Checkpoint, StreamDefinition, read_stream
from source_chatnode.singer.boundary import BoundaryKeys

if TYPE_CHECKING:
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

CONNECTOR_STATE = "airbyte_state"
"""The bookmark key holding the connector's state for the stream: each bot's own cursor, exactly
as `source-chatnode` keeps it in an Airbyte STATE message (and reads it back)."""

DELIVERED_AT_CURSOR = "delivered_at_cursor"
"""The bookmark key holding, per bot, the keys already delivered at its cursor (boundary.py)."""


class ConnectorStream(Stream):
    """`leads` or `chats`, read by the declarative source in this process.

    Incremental state is the connector's, not singer-sdk's: records arrive per bot and out of
    order across bots, so one global "largest created_at" would be wrong as a bookmark (and
    singer-sdk compares it as a string). The stream therefore turns off singer-sdk's replication
    key bookkeeping and stores, at each connector checkpoint, the connector's per-bot state.
    Each checkpoint comes after the records it covers, so every STATE message does too. The
    records the connector repeats at each bot's inclusive cursor are dropped (boundary.py), so an
    appending target gets every record once.
    """

    def __init__(self, tap: Tap, definition: StreamDefinition) -> None:
        super().__init__(tap, schema=definition.schema, name=definition.name)
        self.definition = definition
        self.primary_keys = list(definition.primary_key)
        self.replication_key = definition.cursor_field

    @property
    def is_sorted(self) -> bool:
        """Records come per bot, each bot's in the API's order: not sorted on created_at."""
        return False

    @property
    def incremental(self) -> bool:
        return self.replication_method == REPLICATION_INCREMENTAL

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        incremental = self.incremental
        saved = self.stream_state if incremental else {}
        boundary = BoundaryKeys.from_state(
            saved.get(DELIVERED_AT_CURSOR),
            self.definition.primary_key,
            self.definition.cursor_field or "created_at",
        )
        with _stray_prints_to_stderr():
            for item in read_stream(
                self.config,
                self.definition,
                stream_state=saved.get(CONNECTOR_STATE),
                incremental=incremental,
                logger=self.logger,
            ):
                if isinstance(item, Checkpoint):
                    if incremental:
                        self._checkpoint(item, boundary)
                elif not incremental or boundary.admit(item):
                    yield item

    def _checkpoint(self, checkpoint: Checkpoint, boundary: BoundaryKeys) -> None:
        """Keep the connector's state and emit it now: the records it covers are written."""
        self.stream_state[CONNECTOR_STATE] = checkpoint.stream_state
        self.stream_state[DELIVERED_AT_CURSOR] = boundary.to_state(checkpoint.stream_state)
        self._is_state_flushed = False
        self._write_state_message()

    # singer-sdk's own replication-key bookmark stays off (see the class docstring).

    def _increment_stream_state(
        self, latest_record: dict[str, Any], *, context: Context | None = None
    ) -> None:
        """No global max of created_at: the connector's checkpoints are the bookmark."""

    def _write_starting_replication_value(self, context: Context | None) -> None:
        """The connector starts each bot from its own cursor (or start_date), not from one value."""

    def get_replication_key_signpost(self, context: Context | None = None) -> None:
        """No signpost: it only caps singer-sdk's own bookmark, which is off."""
        return None


@contextlib.contextmanager
def _stray_prints_to_stderr() -> Iterator[None]:
    """While the connector reads, anything printed to stdout goes to stderr instead.

    airbyte-cdk prints some Airbyte messages straight to stdout (a rate-limit status from its
    HTTP client's worker threads); on a Singer tap's stdout they would corrupt the stream. The
    tap's own messages do not go through `sys.stdout` (see `ProtocolWriter`), so they are kept.
    """
    original = sys.stdout
    sys.stdout = sys.stderr
    try:
        yield
    finally:
        sys.stdout = original
