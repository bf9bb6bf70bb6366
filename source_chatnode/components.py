"""Custom components for the ChatNode manifest, for what the declarative YAML cannot express.

This file ships beside `manifest.yaml` into Airbyte's manifest-only runtime, where it is loaded as
`source_declarative_manifest.components`: it may import only the standard library, airbyte-cdk and
airbyte-cdk's own dependencies (`requests`, `orjson`), never `source_chatnode` itself.
"""

import logging
import queue
import socket
import threading
from collections.abc import Iterable, Iterator, Mapping, MutableMapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import InitVar, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import orjson
import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.declarative.decoders.decoder import Decoder
from airbyte_cdk.sources.declarative.extractors.record_filter import RecordFilter
from airbyte_cdk.sources.declarative.interpolation.interpolated_string import InterpolatedString
from airbyte_cdk.sources.declarative.migrations.state_migration import StateMigration
from airbyte_cdk.sources.declarative.requesters.requester import Requester
from airbyte_cdk.sources.declarative.retrievers.retriever import Retriever
from airbyte_cdk.sources.declarative.transformations.transformation import RecordTransformation
from airbyte_cdk.sources.streams.core import StreamData
from airbyte_cdk.sources.streams.http.error_handlers.response_models import ResponseAction
from airbyte_cdk.sources.types import Config, StreamSlice, StreamState
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

_WHITESPACE = b" \t\r\n"
_READ_CHUNK_BYTES = 1 << 20
_SNIPPET_CHARS = 120
_MAX_CUTS_PER_CHUNK = 8
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MICROSECOND = timedelta(microseconds=1)
MAX_CHATS_BATCH = 1000
"""The most session ids one Get Chat History request carries (`chats_batch_size`'s maximum)."""
MAX_WORKERS = 20
"""The most requests in flight `num_workers` allows (its maximum, and the CDK's max_concurrency)."""
_MESSAGES_PER_HANDOFF = 256
"""Messages a batch's thread hands to its bot's reader at once: few queue operations per message,
and a bounded number of messages held between the two."""
_HANDOFF_POLL_SECONDS = 0.1
_LOGGER = logging.getLogger("airbyte")


class MalformedResponse(AirbyteTracedException):
    """A 200 response whose body is not a JSON array of objects (leads, or chat messages).

    The CDK's stock JSON decoder turns such a body into zero records and a green sync; for a
    source that promises every record, that is silent data loss, so this fails the sync instead.
    """

    def __init__(self, problem: str, url: str | None, record: str) -> None:
        where = f" from {url}" if url else ""
        super().__init__(
            message=(
                f"ChatNode returned a malformed {record}s response{where}: {problem}. "
                f"The sync stopped so that no {record} is lost silently; retry later, and "
                "contact ChatNode support if it persists."
            ),
            internal_message=f"Malformed {record}s response{where}: {problem}",
            failure_type=FailureType.system_error,
        )


def _snippet(data: bytes) -> str:
    text = data[:_SNIPPET_CHARS].decode("utf-8", errors="replace")
    return repr(text) + ("..." if len(data) > _SNIPPET_CHARS else "")


class ObjectArrayParser:
    """Incremental parser for one top-level JSON array of objects, fed in byte chunks.

    Parsing the whole body at once (what the CDK does) holds the body and every record in memory
    together; this yields records in batches as the bytes arrive, so memory stays flat whatever
    the bot's size. Each batch is cut after a `}` and confirmed by orjson: a cut that falls inside a
    string or a nested object cannot parse, so only real element boundaries are accepted.
    """

    def __init__(self, url: str | None, record: str) -> None:
        self._url = url
        self._record = record
        self._pending = b""
        self._opened = False
        self._elements_seen = 0

    def feed(self, chunk: bytes) -> list[dict[str, Any]]:
        """Take the next bytes of the body; return the records now complete."""
        data = self._pending + chunk
        if not self._opened:
            data = data.lstrip(_WHITESPACE)
            if not data:
                self._pending = b""
                return []
            if data[:1] != b"[":
                raise self._error(f"expected a JSON array of {self._record}s, got {_snippet(data)}")
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
        """The body ended: return the last records, or fail if the array is not properly closed."""
        data = self._pending.strip(_WHITESPACE)
        if not self._opened:
            raise self._error(f"the body is empty, expected a JSON array of {self._record}s")
        if not data.endswith(b"]"):
            raise self._error(
                f"the JSON array is truncated or followed by extra data after "
                f"{self._elements_seen} {self._record}s "
                f"(body ends with {_snippet(data[-_SNIPPET_CHARS:])})"
            )
        body = data[:-1].strip(_WHITESPACE)
        if not body:
            self._pending = b""
            return []
        batch = self._try_parse(body)
        if batch is None:
            near = _snippet(body[:_SNIPPET_CHARS])
            raise self._error(
                f"invalid JSON after {self._elements_seen} {self._record}s near {near}"
            )
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
                    f"{_snippet(orjson.dumps(element))}, not a {self._record} object"
                )
        self._elements_seen += len(elements)
        return elements

    def _error(self, problem: str) -> MalformedResponse:
        return MalformedResponse(problem, self._url, self._record)


@dataclass
class ObjectArrayDecoder(Decoder):
    """Streams a JSON array of objects and fails loudly on anything else.

    Yields one list of records per parsed batch; the record extractor (`field_path: []`) flattens
    lists, which keeps even an empty object `{}` as a record rather than dropping it. `record`
    names what the array holds (`lead`, `message`) in the error a malformed body raises; the
    manifest sets it on every decoder, as no stream's word is the right default for another.
    """

    parameters: InitVar[dict[str, Any]]
    record: str

    def is_stream_response(self) -> bool:
        return True

    def decode(self, response: requests.Response) -> Iterator[MutableMapping[str, Any]]:
        parser = ObjectArrayParser(url=response.url, record=self.record)
        try:
            for chunk in response.iter_content(chunk_size=_READ_CHUNK_BYTES):
                batch = parser.feed(chunk)
                if batch:
                    yield batch  # type: ignore[misc]  # a list: DpathExtractor flattens it
        except requests.RequestException as error:
            raise MalformedResponse(
                f"the connection broke while the body was being read ({type(error).__name__})",
                response.url,
                self.record,
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
    and starts any bot missing from the state there. That means a bot added to `bot_ids` later
    would skip all of its history older than the other bots' newest record. Without the fallback
    a new bot starts at `start_date`, and each bot's state depends on its own records.
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
    """Stamps each record (lead or message) with the bot it was read for (part of the primary key).

    Does what `AddFields` with `{{ stream_partition.bot_id }}` would, without rendering a Jinja
    template per record: that rendering was a quarter of the connector's time per record.
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
    truncated) fractional digits, and RFC 3339's lower-case `t` and `z`. A timestamp without
    offset is read as UTC (the CDK's `%z` formats would reject it, making the record undated).
    """
    if len(value) < 19 or value[10] not in "Tt ":
        return None
    if value[-1] == "z":
        value = value[:-1] + "Z"
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
    per record (filter, per-bot cursor, stream cursor): the connector's measured hot spot.
    """

    instant_us: int | None

    def __new__(cls, value: str) -> "ParsedInstant":
        instance = super().__new__(cls, value)
        instance.instant_us = epoch_microseconds(value)
        return instance

    def __int__(self) -> int:
        if self.instant_us is None:
            # ValueError is what the CDK's cursor reads as "no usable cursor value": the record
            # is emitted (never dropped) and does not move the state.
            raise ValueError(f"created_at {str(self)!r} is not an RFC 3339 date-time")
        return self.instant_us


@dataclass
class ParseCreatedAtOnce(RecordTransformation):
    """Turns each record's `created_at` into a `ParsedInstant` before the cursor filters it.

    A `created_at` that is not a string at all (a number, a list) is emitted as its JSON text:
    that fits the stream's declared string type, keeps the information, and makes the record an
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
    """Keeps the records whose `created_at` falls in the bot's cursor window, and every undated one.

    The window is the slice the per-bot cursor hands out: from the saved state (or `start_date`)
    up to the sync's start, both inclusive, so a record at the boundary instant is re-emitted
    rather than risked. It replaces the CDK's client-side filter, which re-parses the timestamp
    and re-serialises the bot partition for every record; here the window is parsed once per
    slice and each record costs one integer comparison. A record with no usable `created_at` cannot be
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
                f"the per-bot cursor gave no time window for slice {stream_slice!r}; "
                "CreatedAtWindowFilter needs the DatetimeBasedCursor's start_time/end_time"
            )
        return start, end


class SliceWithCachedHash(StreamSlice):
    """One bot's slice, equal to and hashing like the CDK's own, but hashed only once.

    The CDK's per-bot cursor keys a bot's newest record by `hash(record.associated_slice)`, twice
    per record, and a StreamSlice recomputes that hash every time (JSON plus SHA-256): a fifth of
    the connector's time per record. A slice never changes once made, so this copy asks the original
    for its hash once and keeps it. Being equal to the original and hashing the same, it is the
    same dictionary key: the cursor still finds the bot's newest record when it closes the slice
    under the original, and saves that record's instant as the bot's cursor.
    """

    def __init__(self, original: StreamSlice, known_hash: int | None = None) -> None:
        super().__init__(
            partition=original.partition,
            cursor_slice=original.cursor_slice,
            extra_fields=original.extra_fields,
        )
        self._hash = hash(original) if known_hash is None else known_hash

    def __hash__(self) -> int:
        return self._hash


@dataclass
class CachedSliceHashRetriever(Retriever):
    """Reads each slice through the nested retriever as a `SliceWithCachedHash`.

    The records a retriever yields carry the slice it was given as their `associated_slice`,
    which is what the per-bot cursor hashes for every lead; handing the nested retriever a slice
    that hashes once makes per-bot state cost close to what a global cursor costs. Nothing else
    changes: same requests, same records, same state.
    """

    retriever: Retriever
    parameters: InitVar[Mapping[str, Any] | None] = None

    def read_records(
        self, records_schema: Mapping[str, Any], stream_slice: StreamSlice | None = None
    ) -> Iterable[StreamData]:
        if isinstance(stream_slice, StreamSlice) and not isinstance(
            stream_slice, SliceWithCachedHash
        ):
            stream_slice = SliceWithCachedHash(stream_slice)
        # Returned, not re-yielded: one generator less between each lead and the cursor.
        return self.retriever.read_records(records_schema, stream_slice)


CONNECTION_CHECK = "connection_check"
"""The config flag the manifest's `check` block sets (`config_overrides`) for the check only."""
PROBE_SESSION_ID = "airbyte-connection-check"
"""The one session id the check asks each bot's chat history for: none has it, so a bot the key
reads answers `[]` at once, and the status alone tells access."""


class BotAccessProbe:
    """Answers `check`: can the key read every bot of `bot_ids`, at the configured `base_url`?

    Each bot gets one Get Chat History request for one session id that does not exist: the
    chats stream's own request (its URL, headers, body template and authenticator), with the
    status as the whole answer. Its cost does not grow with the bot: the answer is about one
    session (`[]` for a readable bot, as the mock gives it), and the body is not even read.
    Get Leads would answer the same question, but only with the bot's whole lead list, which
    the server has to build and send, however big (what the old check downloaded). `/auth_me`
    checks only the key, has no published schema, and the first bot's 401 says the same: it
    would add a request and tell nothing more.

    No retries and short timeouts: a check is a person waiting in a setup form. A refused
    connection or an unknown host fails at once with a message naming `base_url`; reads keep
    the manifest's retries. A 401 stops the check (the key is bad for every bot); 403s and 404s
    are collected so that one check names every bot the key cannot read. Their messages come
    from the manifest's error table, the very words a sync would fail with.
    """

    def __init__(self, requester: Requester, connect_timeout: float, read_timeout: float) -> None:
        self._requester = requester
        self._timeout = (connect_timeout, read_timeout)

    def check(self, bot_ids: Iterable[str]) -> None:
        """Returns when the key reads every bot; raises a config error naming what is wrong."""
        refused = []
        for bot_id in dict.fromkeys(bot_ids):
            problem = self._problem_with(bot_id)
            if problem is not None:
                refused.append(problem)
        if refused:
            raise AirbyteTracedException(
                message=" ".join(refused), failure_type=FailureType.config_error
            )

    def _problem_with(self, bot_id: str) -> str | None:
        """None when the key reads the bot, else the message of a 403/404 (others raise)."""
        requester = self._requester
        probe_slice = StreamSlice(
            partition={"bot_id": bot_id},
            cursor_slice={},
            extra_fields={"session_ids": [PROBE_SESSION_ID]},
        )
        url = _request_url(requester, probe_slice)
        try:
            response = requests.request(
                requester.get_method().value,
                url,
                headers=dict(requester.get_request_headers(stream_slice=probe_slice)),
                data=requester.get_request_body_data(stream_slice=probe_slice),
                auth=requester.get_authenticator(),  # type: ignore[attr-defined]
                timeout=self._timeout,
                stream=True,
            )
        except (
            requests.exceptions.MissingSchema,
            requests.exceptions.InvalidSchema,
            requests.exceptions.InvalidURL,
        ) as error:
            raise AirbyteTracedException(
                message=(
                    f"`base_url` does not make an http(s) URL: the check would ask {url!r}. "
                    "Set `base_url` to the API root, e.g. https://api.public.chatnode.ai/v1, or "
                    "leave it empty for ChatNode's own API."
                ),
                internal_message=f"connection check of bot {bot_id!r} failed: {error!r}",
                failure_type=FailureType.config_error,
            ) from None
        except requests.RequestException as error:
            raise AirbyteTracedException(
                message=(
                    f"Could not reach ChatNode at {_origin(url)} (`base_url`): "
                    f"{self._unreachable_because(error)}. Check `base_url` (leave it empty for "
                    "ChatNode's own API) and that this machine can reach it."
                ),
                internal_message=f"connection check of bot {bot_id!r} failed: {error!r}",
                failure_type=FailureType.config_error,
            ) from None
        with response:  # closed unread: the status is the answer
            if response.ok:
                return None
            resolution = requester.error_handler.interpret_response(response)  # type: ignore[attr-defined]
            known = (
                resolution.response_action == ResponseAction.FAIL
                and resolution.failure_type == FailureType.config_error
                and resolution.error_message
            )
            if not known:
                raise AirbyteTracedException(
                    message=(
                        f"ChatNode answered HTTP {response.status_code} when asked whether the "
                        f"API key may read bot {bot_id!r}; it may be busy or down: test the "
                        "connection again in a few minutes."
                    ),
                    failure_type=FailureType.transient_error,
                )
            if response.status_code == 401:
                raise AirbyteTracedException(
                    message=resolution.error_message, failure_type=FailureType.config_error
                )
            return resolution.error_message

    def _unreachable_because(self, error: requests.RequestException) -> str:
        connect, read = self._timeout
        if isinstance(error, requests.ConnectTimeout):
            return f"no connection within {connect:g} s"
        if isinstance(error, requests.ReadTimeout):
            return f"no answer within {read:g} s"
        if isinstance(error, requests.exceptions.SSLError):
            return "the TLS (https) handshake failed"
        causes = list(_causes(error))
        if any(isinstance(cause, socket.gaierror) for cause in causes):
            return "its host name could not be resolved"
        if any(isinstance(cause, ConnectionRefusedError) for cause in causes):
            return "the connection was refused (nothing listens there)"
        return f"the connection failed ({type(error).__name__})"


def _request_url(requester: Requester, stream_slice: StreamSlice) -> str:
    """The URL the requester sends a slice's request to: its `url`, or (the deprecated form)
    `url_base` and `path` joined as the CDK joins them."""
    url = requester.get_url(stream_slice=stream_slice)  # type: ignore[call-arg]
    if url:
        return str(url)
    base = requester.get_url_base(stream_slice=stream_slice)  # type: ignore[call-arg]
    path = requester.get_path(stream_slice=stream_slice)  # type: ignore[call-arg]
    return f"{str(base).rstrip('/')}/{str(path).lstrip('/')}"


def _origin(url: str) -> str:
    """`scheme://host:port` of a URL: where the check went, without path or credentials."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}"


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error and everything it wraps: urllib3 keeps the socket error as `reason`, causes
    and arguments, depending on the layer."""
    seen: set[int] = set()
    pending: list[object] = [error]
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending += [current.__cause__, current.__context__, getattr(current, "reason", None)]
        pending += list(current.args)


@dataclass
class ConnectionCheckingRetriever(CachedSliceHashRetriever):
    """The leads retriever, which during `check` asks whether the key reads every bot instead.

    Airbyte's manifest-only runtime offers no custom check: the manifest's `check` can only read
    a stream (`CheckStream`), and only that stream's first partition, the first bot. So the
    check block reads `leads` with the config flag `connection_check` set (`config_overrides`),
    and this retriever answers its first slice with `BotAccessProbe` over every bot of
    `bot_ids`, then yields no lead: a check succeeds on zero records. Otherwise it reads leads
    as its parent does.

    The flag is never meant for a sync: there it would read nothing. Syncs read their
    partitions in the CDK's worker threads, `check` in the main thread, so a sync that meets
    the flag fails loudly instead of emitting no leads.
    """

    probe: Requester | None = None
    config: Config | None = None
    connect_timeout_in_seconds: float = 5
    read_timeout_in_seconds: float = 15

    def read_records(
        self, records_schema: Mapping[str, Any], stream_slice: StreamSlice | None = None
    ) -> Iterable[StreamData]:
        config = self.config or {}
        if not config.get(CONNECTION_CHECK):
            return super().read_records(records_schema, stream_slice)
        if threading.current_thread() is not threading.main_thread() or self.probe is None:
            raise AirbyteTracedException(
                message=(
                    f"`{CONNECTION_CHECK}` is set only by the connector's own check; remove it "
                    "from the configuration, or this sync would read no leads."
                ),
                failure_type=FailureType.config_error,
            )
        BotAccessProbe(
            self.probe, self.connect_timeout_in_seconds, self.read_timeout_in_seconds
        ).check(config.get("bot_ids") or [])
        return []


def _names_one_of(message: Mapping[str, Any], sessions: set[str]) -> bool:
    """Whether a message's `session_id` is one of `sessions`. One that is not a string (a list,
    an object: a malformed message) names none, rather than crash the set lookup."""
    session_id = message.get("session_id")
    return isinstance(session_id, str) and session_id in sessions


@dataclass
class _BatchDone:
    """A batch's thread finished its batch: every message was handed over."""

    foreign: int
    """Messages of sessions the batch did not ask for, not emitted."""


@dataclass
class _BatchFailed:
    """A batch's thread failed; the bot's reader raises `error` in its own thread."""

    error: BaseException


class _Handoff:
    """The bounded queue between one bot's reader and the threads reading its batches.

    Bounded, so memory stays flat however fast the API answers: a batch's thread that gets ahead
    of the reader waits (its response is read as a stream, so the rest of the body waits in the
    socket). `close()` releases every waiting thread once the reader is gone (failed, or stopped
    by the CDK), so no thread is left blocked on a queue nobody reads.
    """

    def __init__(self) -> None:
        # Two chunks, whatever `num_workers` is: the CDK reads up to `num_workers` bots at once,
        # each with its own handoff, so a bound that grew with the workers grew as their square.
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=2)
        self._closed = threading.Event()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def put(self, item: Any) -> bool:
        """Hand `item` to the reader; False once the reader is gone (the batch should stop)."""
        while not self._closed.is_set():
            try:
                self._queue.put(item, timeout=_HANDOFF_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def get(self) -> Any:
        return self._queue.get()

    def close(self) -> None:
        self._closed.set()


@dataclass
class SessionBatchRetriever(Retriever):
    """Reads a bot's chat messages: its session ids from its leads, then the messages in batches.

    ChatNode's Get Chat History takes a JSON array of session ids and has no way to list them, and
    an empty array means "recent conversations" rather than "all": so every sync reads the bot's
    leads (`sessions`), and asks `chats` for the messages of every session, `batch_size` ids per
    request, never an empty batch. Each batch travels in the slice's `extra_fields`, which the
    CDK leaves out of a slice's equality and hash: every batch is the same bot slice to the per-bot
    cursor, and the state stays one cursor per bot, as for leads. A message whose `session_id`
    was not in its batch is not emitted (it would repeat or cross bots); the sync logs how many.

    Up to `batches_in_flight` batches are in flight at once (`num_workers`), shared by every bot of
    the stream, so one big bot's batches wait on the network together rather than in turn. They
    stay inside the bot's one slice: the CDK closes the slice, and moves the bot's cursor, only
    once this read has returned, after every batch succeeded; a failed batch stops the others and
    fails the read, leaving the bot's cursor where it was.
    """

    sessions: Retriever
    chats: Retriever
    config: Config
    batch_size: int | str = 100
    batches_in_flight: int | str = 1
    parameters: InitVar[Mapping[str, Any] | None] = None

    def __post_init__(self, parameters: Mapping[str, Any] | None) -> None:
        self._batch_size = self._config_int(
            "chats_batch_size", self.batch_size, MAX_CHATS_BATCH, parameters
        )
        self._batches_in_flight = self._config_int(
            "num_workers", self.batches_in_flight, MAX_WORKERS, parameters
        )
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def _config_int(
        self, option: str, value: int | str, maximum: int, parameters: Mapping[str, Any] | None
    ) -> int:
        """An integer setting, from the config when it is a template; out of range is the
        user's config error, worded as such."""
        if isinstance(value, str):
            value = InterpolatedString.create(value, parameters=parameters or {}).eval(self.config)
        number = int(value)
        if not 1 <= number <= maximum:
            raise AirbyteTracedException(
                message=(
                    f"{option} must be between 1 and {maximum}, got {number}: change it in the "
                    "connector's configuration."
                ),
                failure_type=FailureType.config_error,
            )
        return number

    def read_records(
        self, records_schema: Mapping[str, Any], stream_slice: StreamSlice | None = None
    ) -> Iterable[StreamData]:
        if stream_slice is None:
            raise ValueError("SessionBatchRetriever reads one bot's slice at a time")
        session_ids = self._session_ids(stream_slice)
        slice_hash = hash(stream_slice)
        batch_slices = []
        for start in range(0, len(session_ids), self._batch_size):
            batch = session_ids[start : start + self._batch_size]
            batch_slice = SliceWithCachedHash(
                StreamSlice(
                    partition=stream_slice.partition,
                    cursor_slice=stream_slice.cursor_slice,
                    extra_fields={**stream_slice.extra_fields, "session_ids": batch},
                ),
                slice_hash,
            )
            self._check_body(batch_slice, batch)
            batch_slices.append(batch_slice)
        foreign = [0]
        if self._batches_in_flight == 1 or len(batch_slices) <= 1:
            for batch_slice in batch_slices:
                yield from self._messages(records_schema, batch_slice, foreign)
        else:
            yield from self._messages_in_parallel(records_schema, batch_slices, foreign)
        if foreign[0]:
            _LOGGER.warning(
                "ChatNode returned %d message(s) of bot %r for sessions that were not asked for; "
                "they were not emitted (each session's messages are read with its own batch).",
                foreign[0],
                stream_slice.partition.get("bot_id"),
            )

    def _messages(
        self, records_schema: Mapping[str, Any], batch_slice: StreamSlice, foreign: list[int]
    ) -> Iterator[StreamData]:
        """One batch's messages, less those of sessions it did not ask for (counted in
        `foreign[0]`)."""
        asked = set(batch_slice.extra_fields["session_ids"])
        for message in self.chats.read_records(records_schema, batch_slice):
            if isinstance(message, Mapping) and not _names_one_of(message, asked):
                foreign[0] += 1
                continue
            yield message

    def _messages_in_parallel(
        self,
        records_schema: Mapping[str, Any],
        batch_slices: Sequence[StreamSlice],
        foreign: list[int],
    ) -> Iterator[StreamData]:
        """The batches' messages, read by the shared pool and yielded here as they arrive."""
        handoff = _Handoff()
        pool = self._shared_pool()
        futures: list[Future[None]] = [
            pool.submit(self._read_batch, records_schema, batch_slice, handoff)
            for batch_slice in batch_slices
        ]
        unfinished = len(futures)
        try:
            while unfinished:
                item = handoff.get()
                if isinstance(item, _BatchDone):
                    unfinished -= 1
                    foreign[0] += item.foreign
                elif isinstance(item, _BatchFailed):
                    raise item.error
                else:
                    yield from item
        finally:
            # On failure, or when the CDK stops reading: send no batch not yet sent, and let the
            # threads of those in flight go.
            handoff.close()
            for future in futures:
                future.cancel()

    def _read_batch(
        self, records_schema: Mapping[str, Any], batch_slice: StreamSlice, handoff: _Handoff
    ) -> None:
        """In a pool thread: one batch's messages, handed over in bounded chunks."""
        if handoff.closed:
            return
        foreign = [0]
        messages = self._messages(records_schema, batch_slice, foreign)
        try:
            chunk: list[StreamData] = []
            for message in messages:
                chunk.append(message)
                if len(chunk) >= _MESSAGES_PER_HANDOFF:
                    if not handoff.put(chunk):
                        return
                    chunk = []
            if chunk and not handoff.put(chunk):
                return
            handoff.put(_BatchDone(foreign[0]))
        except BaseException as error:  # whatever it is, the bot's reader must hear of it
            handoff.put(_BatchFailed(error))
        finally:
            messages.close()  # a batch stopped early closes its response

    def _shared_pool(self) -> ThreadPoolExecutor:
        """One pool per stream: at most `batches_in_flight` batches in flight across all its bots.
        Its idle threads end with the source (or the process)."""
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=self._batches_in_flight, thread_name_prefix="chats-batches"
                )
            return self._pool

    def _check_body(self, batch_slice: StreamSlice, batch: list[str]) -> None:
        """Fail before sending a request whose body would not be exactly this batch's ids.

        The manifest renders the body from a template; should a CDK version render it into
        something else (or nothing), ChatNode would answer with recent conversations instead of
        these, and their messages would be lost without a word.
        """
        requester = getattr(self.chats, "requester", None)
        body = requester.get_request_body_data(stream_slice=batch_slice) if requester else None
        try:
            sent = orjson.loads(body) if isinstance(body, str | bytes) else None
        except orjson.JSONDecodeError:
            sent = None
        if sent != batch:
            raise AirbyteTracedException(
                message=(
                    "The connector could not build the Get Chat History request body (a JSON "
                    "array of session ids); the sync stopped rather than ask for the wrong "
                    "conversations. Report this with the airbyte-cdk version in use."
                ),
                internal_message=f"chats request body {body!r} does not carry {len(batch)} ids",
                failure_type=FailureType.system_error,
            )

    def _session_ids(self, stream_slice: StreamSlice) -> list[str]:
        """The bot's session ids, in the order its leads came, each once."""
        bot_slice = StreamSlice(partition=stream_slice.partition, cursor_slice={})
        seen: dict[str, None] = {}
        unusable = 0
        for lead in self.sessions.read_records({}, bot_slice):
            session_id = lead.get("session_id") if isinstance(lead, Mapping) else None
            if isinstance(session_id, str) and session_id:
                seen[session_id] = None
            else:
                unusable += 1
        if unusable:
            _LOGGER.warning(
                "%d lead(s) of bot %r have no usable session_id: their chats cannot be asked for.",
                unusable,
                stream_slice.partition.get("bot_id"),
            )
        return list(seen)
