"""Custom components for the ChatNode manifest, for what the declarative YAML cannot express.

This file ships beside `manifest.yaml` into Airbyte's manifest-only runtime, where it is loaded as
`source_declarative_manifest.components`: it may import only the standard library, airbyte-cdk and
airbyte-cdk's own dependencies (`requests`, `orjson`), never `source_chatnode` itself.
"""

from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from dataclasses import InitVar, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.declarative.decoders.decoder import Decoder
from airbyte_cdk.sources.declarative.extractors.record_filter import RecordFilter
from airbyte_cdk.sources.declarative.migrations.state_migration import StateMigration
from airbyte_cdk.sources.declarative.transformations.transformation import RecordTransformation
from airbyte_cdk.sources.types import Config, StreamSlice, StreamState
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

_WHITESPACE = b" \t\r\n"
_READ_CHUNK_BYTES = 1 << 20
_SNIPPET_CHARS = 120
_MAX_CUTS_PER_CHUNK = 8
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MICROSECOND = timedelta(microseconds=1)


class MalformedLeadsResponse(AirbyteTracedException):
    """A 200 response whose body is not a JSON array of lead objects.

    The CDK's stock JSON decoder turns such a body into zero records and a green sync; for a
    source that promises every lead, that is silent data loss, so this fails the sync instead.
    """

    def __init__(self, problem: str, url: str | None) -> None:
        where = f" from {url}" if url else ""
        super().__init__(
            message=(
                f"ChatNode returned a malformed leads response{where}: {problem}. "
                "The sync stopped so that no lead is lost silently; retry later, and contact "
                "ChatNode support if it persists."
            ),
            internal_message=f"Malformed leads response{where}: {problem}",
            failure_type=FailureType.system_error,
        )


def _snippet(data: bytes) -> str:
    text = data[:_SNIPPET_CHARS].decode("utf-8", errors="replace")
    return repr(text) + ("..." if len(data) > _SNIPPET_CHARS else "")


class LeadArrayParser:
    """Incremental parser for one top-level JSON array of objects, fed in byte chunks.

    Parsing the whole body at once (what the CDK does) holds the body and every lead in memory
    together; this yields leads in batches as the bytes arrive, so memory stays flat whatever the
    bot's size. Each batch is cut after a `}` and confirmed by orjson: a cut that falls inside a
    string or a nested object cannot parse, so only real element boundaries are accepted.
    """

    def __init__(self, url: str | None = None) -> None:
        self._url = url
        self._pending = b""
        self._opened = False
        self._elements_seen = 0

    def feed(self, chunk: bytes) -> list[dict[str, Any]]:
        """Take the next bytes of the body; return the leads now complete."""
        data = self._pending + chunk
        if not self._opened:
            data = data.lstrip(_WHITESPACE)
            if not data:
                self._pending = b""
                return []
            if data[:1] != b"[":
                raise self._error(f"expected a JSON array of leads, got {_snippet(data)}")
            self._opened = True
            data = data[1:]
        cut = data.rfind(b"}")
        for _ in range(_MAX_CUTS_PER_CHUNK):
            if cut < 0:
                break
            batch = self._try_parse(data[: cut + 1])
            if batch is not None:
                self._pending = data[cut + 1 :]
                return batch
            cut = data.rfind(b"}", 0, cut)
        # No boundary confirmed yet (a long element, or garbage): wait for more bytes.
        self._pending = data
        return []

    def finish(self) -> list[dict[str, Any]]:
        """The body ended: return the last leads, or fail if the array is not properly closed."""
        data = self._pending.strip(_WHITESPACE)
        if not self._opened:
            raise self._error("the body is empty, expected a JSON array of leads")
        if not data.endswith(b"]"):
            raise self._error(
                f"the JSON array is truncated or followed by extra data after "
                f"{self._elements_seen} leads "
                f"(body ends with {_snippet(data[-_SNIPPET_CHARS:])})"
            )
        body = data[:-1].strip(_WHITESPACE)
        if not body:
            self._pending = b""
            return []
        batch = self._try_parse(body)
        if batch is None:
            near = _snippet(body[:_SNIPPET_CHARS])
            raise self._error(f"invalid JSON after {self._elements_seen} leads near {near}")
        self._pending = b""
        return batch

    def _try_parse(self, fragment: bytes) -> list[dict[str, Any]] | None:
        """Parse a run of elements (with its leading comma after the first batch), or None."""
        fragment = fragment.lstrip(_WHITESPACE)
        if self._elements_seen:
            if fragment[:1] != b",":
                return None
            fragment = fragment[1:]
        try:
            elements = orjson.loads(b"[" + fragment + b"]")
        except orjson.JSONDecodeError:
            return None
        for position, element in enumerate(elements, start=self._elements_seen):
            if not isinstance(element, dict):
                raise self._error(
                    f"element {position} of the array is {type(element).__name__} "
                    f"{_snippet(orjson.dumps(element))}, not a lead object"
                )
        self._elements_seen += len(elements)
        return elements

    def _error(self, problem: str) -> MalformedLeadsResponse:
        return MalformedLeadsResponse(problem, self._url)


@dataclass
class LeadArrayDecoder(Decoder):
    """Streams the leads array and fails loudly on anything that is not an array of objects.

    Yields one list of leads per parsed batch; the record extractor (`field_path: []`) flattens
    lists, which keeps even an empty object `{}` as a record rather than dropping it.
    """

    parameters: InitVar[dict[str, Any]]

    def is_stream_response(self) -> bool:
        return True

    def decode(self, response: requests.Response) -> Iterator[MutableMapping[str, Any]]:
        parser = LeadArrayParser(url=response.url)
        try:
            for chunk in response.iter_content(chunk_size=_READ_CHUNK_BYTES):
                batch = parser.feed(chunk)
                if batch:
                    yield batch  # type: ignore[misc]  # a list: DpathExtractor flattens it
        except requests.RequestException as error:
            raise MalformedLeadsResponse(
                f"the connection broke while the body was being read ({type(error).__name__})",
                response.url,
            ) from error
        finally:
            response.close()
        last = parser.finish()
        if last:
            yield last  # type: ignore[misc]


@dataclass
class PerBotStateMigration(StateMigration):
    """Drops the all-bots fallback cursor from incoming per-bot state.

    The CDK's per-partition cursor saves, beside each bot's cursor, the newest cursor of all bots
    and starts any bot missing from the state there. For leads that means a bot added to
    `bot_ids` later would skip all of its history older than the other bots' newest lead. Without
    the fallback a new bot starts at `start_date`, and each bot's state depends on its own leads.
    """

    parameters: InitVar[Mapping[str, Any] | None] = None

    def should_migrate(self, stream_state: Mapping[str, Any]) -> bool:
        return (
            "states" in stream_state
            and not stream_state.get("use_global_cursor", False)
            and ("state" in stream_state or "lookback_window" in stream_state)
        )

    def migrate(self, stream_state: Mapping[str, Any]) -> Mapping[str, Any]:
        return {
            key: value
            for key, value in stream_state.items()
            if key not in ("state", "lookback_window")
        }


@dataclass
class AddBotId(RecordTransformation):
    """Stamps each lead with the bot it was read for (part of the primary key).

    Does what `AddFields` with `{{ stream_partition.bot_id }}` would, without rendering a Jinja
    template per lead: that rendering was a quarter of the connector's time per record.
    """

    parameters: InitVar[Mapping[str, Any] | None] = None

    def transform(
        self,
        record: dict[str, Any],
        config: Config | None = None,
        stream_state: StreamState | None = None,
        stream_slice: StreamSlice | None = None,
    ) -> None:
        if stream_slice is None:
            raise ValueError("AddBotId needs the bot partition of the record")
        record["bot_id"] = stream_slice.partition["bot_id"]


def epoch_microseconds(value: str) -> int | None:
    """The instant an RFC 3339 timestamp names, in microseconds since the epoch, or None.

    Takes every form real servers send: `Z`, `+00:00` or any offset, 0 to 6 (or more, then
    truncated) fractional digits. A timestamp without offset is read as UTC (the CDK's `%z`
    formats would reject it, making the lead undated).
    """
    if len(value) < 19 or value[10] not in "Tt ":
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return (parsed - _EPOCH) // _ONE_MICROSECOND


class ParsedInstant(str):
    """A `created_at` string that carries the instant it names, parsed once.

    It is the same string (records are emitted unchanged), but `int()` of it is the instant in
    epoch microseconds, which the manifest's first cursor format (`%epoch_microseconds`) reads in
    constant time. The CDK otherwise runs `strptime` over every cursor format up to three times
    per lead (filter, per-bot cursor, stream cursor): the connector's measured hot spot.
    """

    instant_us: int | None

    def __new__(cls, value: str) -> "ParsedInstant":
        instance = super().__new__(cls, value)
        instance.instant_us = epoch_microseconds(value)
        return instance

    def __int__(self) -> int:
        if self.instant_us is None:
            # ValueError is what the CDK's cursor reads as "no usable cursor value": the lead
            # is emitted (never dropped) and does not move the state.
            raise ValueError(f"created_at {str(self)!r} is not an RFC 3339 date-time")
        return self.instant_us


@dataclass
class ParseCreatedAtOnce(RecordTransformation):
    """Turns each lead's `created_at` into a `ParsedInstant` before the cursor filters it.

    A `created_at` that is not a string at all (a number, a list) is emitted as its JSON text:
    that fits the stream's declared string type, keeps the information, and makes the lead an
    undated one (always emitted) instead of being misread as an epoch number.
    """

    parameters: InitVar[Mapping[str, Any] | None] = None

    def transform(
        self,
        record: dict[str, Any],
        config: Config | None = None,
        stream_state: StreamState | None = None,
        stream_slice: StreamSlice | None = None,
    ) -> None:
        value = record.get("created_at")
        if value is None or isinstance(value, ParsedInstant):
            return
        if not isinstance(value, str):
            value = orjson.dumps(value).decode()
        record["created_at"] = ParsedInstant(value)


@dataclass
class CreatedAtWindowFilter(RecordFilter):
    """Keeps the leads whose `created_at` falls in the bot's cursor window, and every undated one.

    The window is the slice the per-bot cursor hands out: from the saved state (or `start_date`)
    up to the sync's start, both inclusive, so a lead at the boundary instant is re-emitted
    rather than risked. It replaces the CDK's client-side filter, which re-parses the timestamp
    and re-serialises the bot partition for every lead; here the window is parsed once per slice
    and each lead costs one integer comparison. A lead with no usable `created_at` cannot be
    placed in time, so it is kept: emitted on every sync, never lost.
    """

    def filter_records(
        self,
        records: Iterable[Mapping[str, Any]],
        stream_state: StreamState,
        stream_slice: StreamSlice | None = None,
        next_page_token: Mapping[str, Any] | None = None,
    ) -> Iterable[Mapping[str, Any]]:
        start_us, end_us = self._window(stream_slice)
        for record in records:
            created_at = record.get("created_at")
            instant = created_at.instant_us if isinstance(created_at, ParsedInstant) else None
            if instant is None or start_us <= instant <= end_us:
                yield record

    @staticmethod
    def _window(stream_slice: StreamSlice | None) -> tuple[int, int]:
        cursor_slice = stream_slice.cursor_slice if stream_slice is not None else {}
        start = epoch_microseconds(str(cursor_slice.get("start_time", "")))
        end = epoch_microseconds(str(cursor_slice.get("end_time", "")))
        if start is None or end is None:
            raise ValueError(
                f"the leads cursor gave no time window for slice {stream_slice!r}; "
                "CreatedAtWindowFilter needs the DatetimeBasedCursor's start_time/end_time"
            )
        return start, end
