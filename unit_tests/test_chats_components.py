"""The chats stream's components in isolation: `SessionBatchRetriever` over fake nested
retrievers (and once over the manifest's real chats requester), and the messages decoder's errors.
"""

from __future__ import annotations

import io
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import orjson
import pytest
import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.declarative.retrievers.retriever import Retriever
from airbyte_cdk.sources.types import Record, StreamSlice
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from hypothesis import example, given
from hypothesis import strategies as st

from source_chatnode.components import (
    MAX_CHATS_BATCH,
    MalformedResponse,
    ObjectArrayDecoder,
    SessionBatchRetriever,
)
from source_chatnode.run import declarative_source
from unit_tests.strategies import chat_lists, session_ids, spec_chats

BOT_SLICE = StreamSlice(
    partition={"bot_id": "bot-a"},
    cursor_slice={
        "start_time": "2024-01-01T00:00:00.000000+0000",
        "end_time": "2025-01-01T00:00:00.000000+0000",
    },
    extra_fields={"router": "kept"},
)
"""A bot's slice as the per-bot cursor hands it to the retriever."""
GUARD_ERROR = "could not build the Get Chat History request body"


def manifest_body(stream_slice: StreamSlice) -> str:
    """The body as manifest.yaml's chats `request_body` template renders it."""
    return " \n " + orjson.dumps(stream_slice.extra_fields["session_ids"]).decode()


@dataclass
class FakeRequester:
    """Stands in for the chats HttpRequester: renders the body of a batch's slice."""

    render: Callable[[StreamSlice], Any] = manifest_body

    def get_request_body_data(self, **kwargs: Any) -> Any:
        return self.render(kwargs["stream_slice"])


@dataclass
class FakeLeads(Retriever):
    """The `sessions` retriever: the bot's leads, whatever the slice."""

    leads: list[Any]
    slices: list[StreamSlice | None] = field(default_factory=list)

    def read_records(
        self, records_schema: Mapping[str, Any], stream_slice: StreamSlice | None = None
    ) -> Iterable[Any]:
        self.slices.append(stream_slice)
        yield from self.leads


@dataclass
class FakeChats(Retriever):
    """The `chats` retriever: per batch, the messages of its sessions, then `foreign` ones, each a
    Record stamped with the batch's slice as the CDK's SimpleRetriever stamps them."""

    by_session: Mapping[str, list[dict[str, Any]]] = field(default_factory=dict)
    foreign: list[dict[str, Any]] = field(default_factory=list)
    requester: FakeRequester | None = field(default_factory=FakeRequester)
    slices: list[StreamSlice] = field(default_factory=list)

    def read_records(
        self, records_schema: Mapping[str, Any], stream_slice: StreamSlice | None = None
    ) -> Iterator[Record]:
        assert stream_slice is not None
        self.slices.append(stream_slice)
        for session_id in stream_slice.extra_fields["session_ids"]:
            for message in self.by_session.get(session_id, []):
                yield Record(data=message, stream_name="chats", associated_slice=stream_slice)
        for message in self.foreign:
            yield Record(data=message, stream_name="chats", associated_slice=stream_slice)

    @property
    def batches(self) -> list[list[str]]:
        return [batch_slice.extra_fields["session_ids"] for batch_slice in self.slices]


def retriever(
    leads: list[Any],
    chats: Retriever | None = None,
    batch_size: int | str = 3,
    in_flight: int | str = 1,
    **config: Any,
) -> SessionBatchRetriever:
    return SessionBatchRetriever(
        sessions=FakeLeads(leads),
        chats=chats or FakeChats(),
        config=config,
        batch_size=batch_size,
        batches_in_flight=in_flight,
        parameters={},
    )


def leads_of(*sessions: Any) -> list[dict[str, Any]]:
    return [{"session_id": session, "created_at": "2024-06-30T17:32:53Z"} for session in sessions]


def message(session_id: str, message_id: str) -> dict[str, Any]:
    return {
        "id": message_id,
        "message": {"data": {"type": "human", "content": "hi"}, "type": "human"},
        "session_id": session_id,
        "created_at": "2024-07-01T00:00:00Z",
    }


# --- batches ------------------------------------------------------------------------------------


@given(
    sessions=st.lists(session_ids(), max_size=25),
    batch_size=st.integers(min_value=1, max_value=8),
)
@example(sessions=["a", "b", "a", "0", "b", "1", "é", "01"], batch_size=3)
def test_batches_hold_each_session_once_in_lead_order_batch_size_at_a_time(
    sessions: list[str], batch_size: int
) -> None:
    chats = FakeChats()
    list(retriever(leads_of(*sessions), chats, batch_size).read_records({}, BOT_SLICE))
    unique = list(dict.fromkeys(sessions))
    assert [s for batch in chats.batches for s in batch] == unique
    assert len(chats.batches) == math.ceil(len(unique) / batch_size)
    assert all(len(batch) == batch_size for batch in chats.batches[:-1])
    assert all(chats.batches), "an empty batch asks ChatNode for recent conversations"


def test_messages_come_batch_by_batch_as_the_chats_retriever_yields_them() -> None:
    by_session = {s: [message(s, f"{s}-1"), message(s, f"{s}-2")] for s in "abcde"}
    chats = FakeChats(by_session=by_session)
    records = list(retriever(leads_of(*"abcde"), chats, 2).read_records({}, BOT_SLICE))
    assert chats.batches == [["a", "b"], ["c", "d"], ["e"]]
    assert [record["id"] for record in records] == [f"{s}-{n}" for s in "abcde" for n in (1, 2)]
    assert all(isinstance(record, Record) for record in records), "records pass through as is"


def test_the_leads_are_read_once_for_the_bot_without_a_cursor_window() -> None:
    leads = FakeLeads(leads_of("a", "b"))
    batch_retriever = SessionBatchRetriever(
        sessions=leads, chats=FakeChats(), config={}, batch_size=1, parameters={}
    )
    list(batch_retriever.read_records({}, BOT_SLICE))
    (leads_slice,) = leads.slices
    assert leads_slice is not None
    assert leads_slice.partition == BOT_SLICE.partition
    assert leads_slice.cursor_slice == {}, "every lead counts: old sessions get new messages"


def test_a_bot_without_leads_sends_no_chats_request() -> None:
    chats = FakeChats()
    assert list(retriever([], chats).read_records({}, BOT_SLICE)) == []
    assert chats.slices == []


def test_leads_without_a_usable_session_id_are_skipped_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    leads = [*leads_of("a", "", None, 7), {"created_at": "2024-01-01T00:00:00Z"}, "not a lead"]
    chats = FakeChats()
    with caplog.at_level(logging.WARNING, logger="airbyte"):
        list(retriever(leads, chats).read_records({}, BOT_SLICE))
    assert chats.batches == [["a"]]
    assert "5 lead(s) of bot 'bot-a' have no usable session_id" in caplog.text


def test_a_read_without_a_bot_slice_is_refused() -> None:
    with pytest.raises(ValueError, match="reads one bot's slice at a time"):
        list(retriever(leads_of("a")).read_records({}, None))


# --- messages of sessions that were not asked for -------------------------------------------------


def test_messages_of_sessions_not_in_their_batch_are_dropped_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A message of another batch's session would be emitted twice, one of an unknown session
    may belong to another bot, one without a string session_id belongs to none: none is
    emitted."""
    # Each batch of one session also gets a message of the other batch's session, and a stranger's.
    chats = FakeChats(
        by_session={
            "a": [message("a", "a-1"), message("b", "b-early")],
            "b": [message("b", "b-1"), message("a", "a-late")],
        },
        foreign=[
            message("zz", "z-1"),
            {**message("a", "unhashable"), "session_id": ["a"]},
            {
                key: value
                for key, value in message("a", "no-session").items()
                if key != "session_id"
            },
        ],
    )
    with caplog.at_level(logging.WARNING, logger="airbyte"):
        records = list(retriever(leads_of("a", "b"), chats, 1).read_records({}, BOT_SLICE))
    assert [record["id"] for record in records] == ["a-1", "b-1"]
    assert "returned 8 message(s) of bot 'bot-a' for sessions that were not asked for" in (
        caplog.text
    )


def test_no_warning_when_every_message_was_asked_for(caplog: pytest.LogCaptureFixture) -> None:
    chats = FakeChats(by_session={"a": [message("a", "a-1")]})
    with caplog.at_level(logging.WARNING, logger="airbyte"):
        list(retriever(leads_of("a"), chats).read_records({}, BOT_SLICE))
    assert "not asked for" not in caplog.text


@given(data=st.data(), sessions=st.lists(session_ids(), min_size=1, max_size=6, unique=True))
def test_exactly_the_messages_of_each_batchs_sessions_are_emitted(
    data: st.DataObject, sessions: list[str]
) -> None:
    """Whatever a response holds (here every message of every session, asked or not, as an API
    ignoring the body would send), a batch emits the messages of its own sessions only."""
    asked = sessions[: data.draw(st.integers(1, len(sessions)))]
    served = data.draw(chat_lists(sessions, max_size=10))
    chats = FakeChats(foreign=served)
    records = list(retriever(leads_of(*asked), chats, 2).read_records({}, BOT_SLICE))
    assert [dict(record) for record in records] == [
        served_message
        for batch in chats.batches
        for served_message in served
        if served_message["session_id"] in batch
    ]


# --- state stays per bot --------------------------------------------------------------------------


def test_every_batch_slice_is_the_bot_slice_to_the_cursor() -> None:
    """The per-bot cursor keys a bot's newest record by its slice: every batch must be the same
    key as the bot's slice, or the state would not follow the messages."""
    chats = FakeChats(by_session={s: [message(s, f"{s}-1")] for s in "abcdefg"})
    records = list(retriever(leads_of(*"abcdefg"), chats, 3).read_records({}, BOT_SLICE))
    assert len(chats.slices) == 3
    for batch_slice in chats.slices:
        assert batch_slice == BOT_SLICE
        assert hash(batch_slice) == hash(BOT_SLICE)
        assert {BOT_SLICE: "newest"}[batch_slice] == "newest"
        assert batch_slice.partition == BOT_SLICE.partition
        assert batch_slice.cursor_slice == BOT_SLICE.cursor_slice
        assert batch_slice.extra_fields["router"] == "kept"
    assert {record.associated_slice for record in records} == {BOT_SLICE}
    assert "session_ids" not in BOT_SLICE.extra_fields, "the bot's own slice is left untouched"


# --- batches in flight together ------------------------------------------------------------------


@dataclass
class SlowChats(FakeChats):
    """FakeChats whose every batch takes `seconds` before its first message, counting how many
    batches are in flight at once; `fail_batch` (an index in sending order) raises instead, and
    with a `gate` every other batch waits for it to open first."""

    seconds: float = 0.05
    fail_batch: int | None = None
    gate: threading.Event | None = None
    started: int = 0
    produced: int = 0
    in_flight: int = 0
    most_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def read_records(
        self, records_schema: Mapping[str, Any], stream_slice: StreamSlice | None = None
    ) -> Iterator[Record]:
        with self.lock:
            index, self.started = self.started, self.started + 1
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            time.sleep(self.seconds)
            if index == self.fail_batch:
                raise AirbyteTracedException(message=f"batch {index} failed")
            if self.gate is not None:
                self.gate.wait(timeout=10)
            for record in super().read_records(records_schema, stream_slice):
                with self.lock:
                    self.produced += 1
                yield record
        finally:
            with self.lock:
                self.in_flight -= 1


def sessions_with_messages(sessions: int, per_session: int) -> dict[str, list[dict[str, Any]]]:
    return {
        f"s{n}": [message(f"s{n}", f"s{n}-{m}") for m in range(per_session)]
        for n in range(sessions)
    }


@given(
    sessions=st.lists(session_ids(), max_size=25),
    batch_size=st.integers(min_value=1, max_value=6),
    in_flight=st.integers(min_value=2, max_value=5),
)
def test_batches_in_flight_together_emit_every_message_of_every_batch_once(
    sessions: list[str], batch_size: int, in_flight: int
) -> None:
    by_session = {s: [message(s, f"{s}-1"), message(s, f"{s}-2")] for s in sessions}
    parallel = FakeChats(by_session=by_session)
    records = list(
        retriever(leads_of(*sessions), parallel, batch_size, in_flight).read_records({}, BOT_SLICE)
    )
    one_by_one = FakeChats(by_session=by_session)
    expected = list(
        retriever(leads_of(*sessions), one_by_one, batch_size).read_records({}, BOT_SLICE)
    )
    assert sorted(r["id"] for r in records) == sorted(r["id"] for r in expected)
    assert sorted(map(tuple, parallel.batches)) == sorted(map(tuple, one_by_one.batches))
    assert {record.associated_slice for record in records} <= {BOT_SLICE}


def test_up_to_batches_in_flight_batches_wait_on_the_network_together() -> None:
    chats = SlowChats(by_session=sessions_with_messages(12, 1), seconds=0.1)
    records = list(retriever(leads_of(*chats.by_session), chats, 1, 4).read_records({}, BOT_SLICE))
    assert len(records) == 12
    assert chats.most_in_flight == 4, "batches were sent one after another, or beyond the limit"


def test_one_batch_in_flight_sends_the_batches_in_turn_in_lead_order() -> None:
    chats = SlowChats(by_session=sessions_with_messages(4, 1), seconds=0.01)
    records = list(retriever(leads_of(*chats.by_session), chats, 1, 1).read_records({}, BOT_SLICE))
    assert chats.most_in_flight == 1
    assert [record["id"] for record in records] == ["s0-0", "s1-0", "s2-0", "s3-0"]


def test_a_failed_batch_fails_the_read_and_the_batches_not_yet_sent_are_never_sent() -> None:
    """Two batches in flight: the second fails while the first waits on the network (the gate);
    the pool's free thread may take one more batch before the reader hears of the failure; the
    other 17 are never sent, and the batches in flight end once the network answers."""
    gate = threading.Event()
    chats = SlowChats(by_session=sessions_with_messages(20, 1), fail_batch=1, gate=gate)
    with pytest.raises(AirbyteTracedException, match="batch 1 failed"):
        list(retriever(leads_of(*chats.by_session), chats, 1, 2).read_records({}, BOT_SLICE))
    gate.set()
    deadline = time.monotonic() + 10
    while chats.in_flight and time.monotonic() < deadline:
        time.sleep(0.01)
    assert chats.in_flight == 0, "a batch's thread is still waiting on a reader that is gone"
    assert chats.started <= 3, f"{chats.started} of 20 batches were sent despite the failure"


def test_memory_stays_bounded_when_the_reader_is_slower_than_the_batches() -> None:
    """The batches' threads run ahead of the bot's reader by a bounded number of messages, and
    none is left waiting once the reader stops."""
    chats = SlowChats(by_session=sessions_with_messages(10, 1000), seconds=0)
    batch_retriever = retriever(leads_of(*chats.by_session), chats, 1, 2)
    records = iter(batch_retriever.read_records({}, BOT_SLICE))
    next(records)
    time.sleep(0.3)
    assert chats.produced <= 2_000, f"{chats.produced} of 10,000 messages held ahead of the reader"
    records.close()  # type: ignore[attr-defined]
    deadline = time.monotonic() + 10
    while chats.in_flight and time.monotonic() < deadline:
        time.sleep(0.01)
    assert chats.in_flight == 0, "a batch's thread is still waiting on a reader that is gone"
    assert chats.produced < 10_000


@pytest.mark.parametrize(
    ("in_flight", "config", "expected"),
    [
        ("{{ config.get('num_workers') or 5 }}", {}, 5),
        ("{{ config.get('num_workers') or 5 }}", {"num_workers": 12}, 12),
        (1, {}, 1),
    ],
)
def test_batches_in_flight_come_from_num_workers_or_its_default(
    in_flight: int | str, config: dict, expected: int
) -> None:
    assert retriever(leads_of("a"), in_flight=in_flight, **config)._batches_in_flight == expected


@pytest.mark.parametrize("num_workers", [0, 21, -3])
def test_num_workers_out_of_range_is_a_config_error(num_workers: int) -> None:
    with pytest.raises(
        AirbyteTracedException, match=rf"num_workers must be between 1 and 20, got {num_workers}"
    ) as raised:
        retriever(leads_of("a"), in_flight="{{ config['num_workers'] }}", num_workers=num_workers)
    assert raised.value.failure_type == FailureType.config_error


def test_the_manifest_sends_num_workers_batches_at_once() -> None:
    assert manifest_chats_retriever(7)._batches_in_flight == 5, "the spec's default"


# --- the batch size -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("batch_size", "config"),
    [
        (0, {}),
        (MAX_CHATS_BATCH + 1, {}),
        (-1, {}),
        ("{{ config['chats_batch_size'] }}", {"chats_batch_size": 1001}),
    ],
)
def test_a_batch_size_out_of_range_is_a_config_error(batch_size: int | str, config: dict) -> None:
    got = config.get("chats_batch_size", batch_size)
    with pytest.raises(
        AirbyteTracedException, match=rf"chats_batch_size must be between 1 and 1000, got {got}"
    ) as raised:
        retriever(leads_of("a"), batch_size=batch_size, **config)
    assert raised.value.failure_type == FailureType.config_error


@pytest.mark.parametrize(
    ("batch_size", "config", "expected"),
    [
        (1, {}, 1),
        (MAX_CHATS_BATCH, {}, MAX_CHATS_BATCH),
        ("{{ config.get('chats_batch_size') or 100 }}", {}, 100),
        ("{{ config.get('chats_batch_size') or 100 }}", {"chats_batch_size": 7}, 7),
    ],
)
def test_the_batch_size_comes_from_the_config_or_its_default(
    batch_size: int | str, config: dict, expected: int
) -> None:
    chats = FakeChats()
    sessions = [str(n) for n in range(expected + 1)]
    list(retriever(leads_of(*sessions), chats, batch_size, **config).read_records({}, BOT_SLICE))
    assert [len(batch) for batch in chats.batches] == [expected, 1]


# --- the body guard -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "render",
    [
        pytest.param(lambda s: None, id="no body"),
        pytest.param(lambda s: {}, id="empty mapping"),
        pytest.param(lambda s: "[]", id="empty array"),
        pytest.param(lambda s: str(s.extra_fields["session_ids"]), id="python list text"),
        pytest.param(lambda s: orjson.dumps(s.extra_fields["session_ids"][:1]), id="fewer ids"),
        pytest.param(lambda s: '{"session_ids": ["a", "b"]}', id="an object"),
    ],
)
def test_a_body_that_is_not_exactly_the_batch_stops_the_read_before_any_request(
    render: Callable[[StreamSlice], Any],
) -> None:
    chats = FakeChats(requester=FakeRequester(render))
    with pytest.raises(AirbyteTracedException, match=GUARD_ERROR) as raised:
        list(retriever(leads_of("a", "b"), chats).read_records({}, BOT_SLICE))
    assert raised.value.failure_type == FailureType.system_error
    assert chats.slices == [], "the request went out before the guard"


def test_a_chats_retriever_without_a_requester_cannot_be_checked_so_it_is_refused() -> None:
    chats = FakeChats(requester=None)
    with pytest.raises(AirbyteTracedException, match=GUARD_ERROR):
        list(retriever(leads_of("a"), chats).read_records({}, BOT_SLICE))


@cache
def manifest_chats_retriever(batch_size: int) -> SessionBatchRetriever:
    """The SessionBatchRetriever that manifest.yaml builds, reached through the CDK's stream."""
    config = {"api_key": "k", "bot_ids": ["bot-a"], "chats_batch_size": batch_size}
    streams = {stream.name: stream for stream in declarative_source(config=config).streams(config)}
    found = streams["chats"]._stream_partition_generator._partition_factory._retriever  # type: ignore[attr-defined]
    # By name: the standard suite may have loaded components.py as another module object.
    assert type(found).__name__ == "SessionBatchRetriever", f"chats read with {found!r}"
    return found


@given(sessions=st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=5, unique=True))
@example(sessions=["a'b", 'q"uote', "{{ config }}", "line\nbreak", "é🙂", "[1]", "None"])
def test_the_manifests_requester_renders_exactly_the_batch_whatever_the_ids(
    sessions: list[str],
) -> None:
    real = manifest_chats_retriever(MAX_CHATS_BATCH)
    batch_slice = StreamSlice(
        partition=BOT_SLICE.partition,
        cursor_slice=BOT_SLICE.cursor_slice,
        extra_fields={"session_ids": sessions},
    )
    body = real.chats.requester.get_request_body_data(stream_slice=batch_slice)  # type: ignore[attr-defined]
    assert isinstance(body, str)
    assert orjson.loads(body) == sessions
    real._check_body(batch_slice, sessions)


def test_the_manifest_sizes_batches_from_the_config() -> None:
    assert manifest_chats_retriever(7)._batch_size == 7


# --- the messages decoder ---------------------------------------------------------------------------


def _response(
    body: bytes | io.RawIOBase, url: str = "https://api.example/v1/get-chats/bot-x"
) -> requests.Response:
    response = requests.Response()
    response.status_code = 200
    response.raw = io.BytesIO(body) if isinstance(body, bytes) else body
    response.url = url
    return response


class BrokenStream(io.RawIOBase):
    """A body whose connection breaks after its first bytes."""

    def __init__(self, first: bytes) -> None:
        self._first = first

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._first:
            first, self._first = self._first, b""
            return first
        raise requests.exceptions.ChunkedEncodingError("connection reset by peer")


MESSAGE = b'{"id": "m1", "message": {"type": "ai"}, "session_id": "s", "created_at": "x"}'


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"<html>Bad gateway</html>", "expected a JSON array of messages, got '<html>"),
        (b'{"messages": []}', "expected a JSON array of messages"),
        (b"", "the body is empty, expected a JSON array of messages"),
        (
            b"[" + MESSAGE + b", " + MESSAGE[:20],
            "truncated or followed by extra data after 1 messages",
        ),
        (b"[" + MESSAGE + b', "lead-unavailable"]', "element 1 of the array is str"),
        (b"[" + MESSAGE + b', "lead-unavailable"]', "not a message object"),
        (b"[" + MESSAGE + b",, " + MESSAGE + b"]", "invalid JSON after 1 messages"),
        (BrokenStream(b"[" + MESSAGE), "the connection broke while the body was being read"),
    ],
)
def test_the_messages_decoder_fails_loudly_naming_messages(
    body: bytes | io.RawIOBase, problem: str
) -> None:
    decoder = ObjectArrayDecoder(parameters={}, record="message")
    with pytest.raises(MalformedResponse, match=re.escape(problem)) as raised:
        list(decoder.decode(_response(body)))
    error = raised.value
    assert error.message.startswith(
        "ChatNode returned a malformed messages response from https://api.example/v1/get-chats/bot-x"
    )
    assert "so that no message is lost silently" in error.message
    assert error.internal_message.startswith("Malformed messages response")
    assert error.failure_type == FailureType.system_error
    assert "lead" not in error.message.replace("lead-unavailable", "")


@given(messages=st.lists(spec_chats(), max_size=20))
def test_the_messages_decoder_yields_every_message_as_sent(messages: list[dict]) -> None:
    decoder = ObjectArrayDecoder(parameters={}, record="message")
    batches = list(decoder.decode(_response(orjson.dumps(messages))))
    assert [item for batch in batches for item in batch] == messages
