"""The custom components in isolation: the streaming leads decoder, the per-bot state migration,
the parsed timestamps, and the slice that the per-bot cursor hashes once."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import requests
from airbyte_cdk.sources.declarative.retrievers.retriever import Retriever
from airbyte_cdk.sources.types import Record, StreamSlice
from airbyte_cdk.utils.slice_hasher import SliceHasher
from hypothesis import example, given
from hypothesis import strategies as st

from source_chatnode.components import (
    AddBotId,
    CachedSliceHashRetriever,
    CreatedAtWindowFilter,
    MalformedResponse,
    ObjectArrayDecoder,
    ObjectArrayParser,
    ParseCreatedAtOnce,
    ParsedInstant,
    PerBotStateMigration,
    SliceWithCachedHash,
    epoch_microseconds,
)
from source_chatnode.run import declarative_source
from unit_tests.strategies import (
    UTC_OFFSETS,
    ZERO_OFFSET_FORMS,
    bot_ids,
    conversations,
    instant_of,
    instants,
    json_values,
    render_rfc3339,
)

# Keys and strings full of braces, commas and quotes: the characters the parser cuts on.
tricky_text = st.text(alphabet='{}[],"\\: ab\n', max_size=10)
lead_objects = conversations() | st.dictionaries(
    st.text(max_size=8) | tricky_text, json_values | tricky_text, max_size=5
)


def parse_in_chunks(body: bytes, chunk_sizes: list[int]) -> list[dict]:
    parser = ObjectArrayParser(url=None, record="lead")
    leads: list[dict] = []
    position = 0
    for size in chunk_sizes:
        leads += parser.feed(body[position : position + size])
        position += size
    leads += parser.feed(body[position:])
    leads += parser.finish()
    return leads


@given(
    leads=st.lists(lead_objects, max_size=30),
    chunk_sizes=st.lists(st.integers(min_value=1, max_value=40), max_size=40),
    pretty=st.booleans(),
)
@example(leads=[{"a": "},{"}, {"b": {"c": "}"}}], chunk_sizes=[3, 5, 7], pretty=False)
@example(leads=[{}], chunk_sizes=[1], pretty=True)
def test_parser_yields_exactly_the_array_elements_whatever_the_chunking(
    leads: list[dict], chunk_sizes: list[int], pretty: bool
) -> None:
    body = json.dumps(leads, indent=2 if pretty else None).encode()
    assert parse_in_chunks(body, chunk_sizes) == leads


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"<html><body>Bad gateway</body></html>", "expected a JSON array"),
        (b'{"message": "ok"}', "expected a JSON array"),
        (b'"just a string"', "expected a JSON array"),
        (b"", "body is empty"),
        (
            b'[{"session_id": "a", "created_at": "2024-01-01T00:00:00Z"}, {"session_id": "b"',
            "truncated",
        ),
        (b'[{"session_id": "a"}', "truncated"),
        (b'[{"session_id": "a"}, "oops", {"session_id": "b"}]', "element 1 of the array is str"),
        (b'[{"session_id": "a"}, 7]', "element 1 of the array is int"),
        (b'[{"session_id": "a"},, {"session_id": "b"}]', "invalid JSON"),
        (b'[{"session_id": "a"}] trailing', "truncated"),
    ],
)
def test_parser_rejects_bodies_that_are_not_an_array_of_objects(body: bytes, problem: str) -> None:
    with pytest.raises(MalformedResponse, match=re.escape(problem)):
        parse_in_chunks(body, [7] * (len(body) // 7 + 1))


def test_empty_array_is_zero_leads_not_an_error() -> None:
    assert parse_in_chunks(b" [ ] ", [2]) == []


def _response(
    body: bytes, url: str = "https://api.example/v1/get-conversation-ids/bot-x"
) -> requests.Response:
    response = requests.Response()
    response.status_code = 200
    response.raw = io.BytesIO(body)
    response.url = url
    return response


def test_decoder_streams_batches_that_flatten_to_the_leads() -> None:
    leads = [
        {"session_id": str(index), "created_at": "2024-06-30T17:32:53.518+00:00"}
        for index in range(5000)
    ]
    decoder = ObjectArrayDecoder(parameters={}, record="lead")
    batches = list(decoder.decode(_response(orjson.dumps(leads))))
    assert decoder.is_stream_response()
    assert [lead for batch in batches for lead in batch] == leads


def test_decoder_error_names_the_url_and_never_the_body_beyond_a_snippet() -> None:
    html = b"<html>" + b"x" * 10_000 + b"</html>"
    with pytest.raises(MalformedResponse, match="malformed leads response") as raised:
        list(ObjectArrayDecoder(parameters={}, record="lead").decode(_response(html)))
    message = raised.value.message
    assert "get-conversation-ids/bot-x" in message
    assert len(message) < 600


def test_state_migration_drops_the_all_bots_fallback_cursor() -> None:
    state = {
        "use_global_cursor": False,
        "states": [
            {
                "partition": {"bot_id": "a"},
                "cursor": {"created_at": "2024-01-01T00:00:00.000000+0000"},
            }
        ],
        "state": {"created_at": "2024-05-01T00:00:00.000000+0000"},
        "lookback_window": 3,
    }
    migration = PerBotStateMigration()
    assert migration.should_migrate(state)
    assert migration.migrate(state) == {"use_global_cursor": False, "states": state["states"]}
    assert not migration.should_migrate(migration.migrate(state))


def test_state_migration_keeps_a_global_cursor_state_as_is() -> None:
    state = {
        "use_global_cursor": True,
        "states": [],
        "state": {"created_at": "2024-05-01T00:00:00.000000+0000"},
    }
    assert not PerBotStateMigration().should_migrate(state)


# --- timestamps: parsed once, compared as instants ------------------------------------------


@given(
    moment=instants(datetime(1971, 1, 1, tzinfo=UTC), datetime(2099, 1, 1, tzinfo=UTC)),
    digits=st.integers(min_value=0, max_value=6),
    offset=st.sampled_from(UTC_OFFSETS),
    zero=st.sampled_from(ZERO_OFFSET_FORMS),
)
@example(
    moment=datetime(2024, 6, 30, 17, 32, 53, 518000, tzinfo=UTC),
    digits=3,
    offset=timedelta(0),
    zero="+00:00",
)
def test_epoch_microseconds_is_the_instant_whatever_the_form(
    moment: datetime, digits: int, offset: timedelta, zero: str
) -> None:
    text = render_rfc3339(moment, digits, offset, zero)
    shown = moment.replace(
        microsecond=moment.microsecond // 10 ** (6 - digits) * 10 ** (6 - digits)
    )
    assert epoch_microseconds(text) == (shown - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(
        microseconds=1
    )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "2024-06-30",
        "1719768767426",
        "2024-13-01T00:00:00Z",
        "2024-06-30T25:00:00Z",
    ],
)
def test_epoch_microseconds_rejects_what_is_not_a_date_time(text: str) -> None:
    assert epoch_microseconds(text) is None


def test_parsed_instant_is_the_same_string_and_ints_to_its_instant() -> None:
    value = ParsedInstant("2024-06-30T19:32:53.518+02:00")
    assert value == "2024-06-30T19:32:53.518+02:00"
    assert orjson.dumps({"created_at": value}) == b'{"created_at":"2024-06-30T19:32:53.518+02:00"}'
    assert int(value) == epoch_microseconds("2024-06-30T17:32:53.518Z")
    with pytest.raises(ValueError, match="not an RFC 3339 date-time"):
        int(ParsedInstant("yesterday"))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-06-30T17:32:53Z", "2024-06-30T17:32:53Z"),
        (1719768767, "1719768767"),
        ([1], "[1]"),
        (True, "true"),
    ],
)
def test_parse_created_at_once_keeps_the_text_and_never_misreads_numbers(
    value: Any, expected: str
) -> None:
    record = {"session_id": "s", "created_at": value}
    ParseCreatedAtOnce().transform(record)
    assert record["created_at"] == expected
    assert isinstance(record["created_at"], ParsedInstant)
    assert (record["created_at"].instant_us is None) is (not isinstance(value, str))


def test_parse_created_at_once_leaves_missing_and_null_alone() -> None:
    records = [{"session_id": "a"}, {"session_id": "b", "created_at": None}]
    for record in records:
        ParseCreatedAtOnce().transform(record)
    assert records == [{"session_id": "a"}, {"session_id": "b", "created_at": None}]


def test_add_bot_id_takes_the_bot_of_the_slice() -> None:
    record = {"session_id": "a"}
    AddBotId().transform(
        record, stream_slice=StreamSlice(partition={"bot_id": "bot-9"}, cursor_slice={})
    )
    assert record["bot_id"] == "bot-9"


def window_slice(start: str, end: str) -> StreamSlice:
    return StreamSlice(
        partition={"bot_id": "b"}, cursor_slice={"start_time": start, "end_time": end}
    )


def test_window_filter_keeps_both_bounds_and_undated_leads_and_compares_instants() -> None:
    leads = [
        {"session_id": name, "created_at": ParsedInstant(value)}
        if value is not None
        else {"session_id": name}
        for name, value in [
            ("at-start", "2024-06-30T19:32:53.518+02:00"),
            ("before", "2024-06-30T17:32:53.517999Z"),
            ("inside", "2024-07-01T00:00:00Z"),
            ("at-end", "2024-12-31T23:59:59.999999+00:00"),
            ("after", "2025-01-01T00:00:00Z"),
            ("garbage", "yesterday"),
            ("missing", None),
        ]
    ]
    kept = CreatedAtWindowFilter(parameters={}, config={}).filter_records(
        leads,
        {},
        window_slice("2024-06-30T17:32:53.518000+0000", "2024-12-31T23:59:59.999999+0000"),
    )
    assert [lead["session_id"] for lead in kept] == [
        "at-start",
        "inside",
        "at-end",
        "garbage",
        "missing",
    ]


def test_window_filter_refuses_a_slice_without_a_window() -> None:
    with pytest.raises(ValueError, match="no time window"):
        list(
            CreatedAtWindowFilter(parameters={}, config={}).filter_records(
                [], {}, StreamSlice(partition={}, cursor_slice={})
            )
        )


# --- the per-bot cursor's slice, hashed once ---------------------------------------------------

STATE_FORMAT = "%Y-%m-%dT%H:%M:%S.%f%z"
"""The manifest's `datetime_format`: how slice windows and saved cursors are written."""


@st.composite
def bot_slices(draw: st.DrawFn) -> StreamSlice:
    """Slices of one bot's read, flat or nested the way the per-bot cursor builds them (the
    router's bot partition inside the window slice), with extra fields riding along."""
    bot = draw(bot_ids())
    start, end = sorted(draw(st.lists(instants(), min_size=2, max_size=2)))
    window = {"start_time": start.strftime(STATE_FORMAT), "end_time": end.strftime(STATE_FORMAT)}
    extra = draw(st.dictionaries(st.text(max_size=4), json_values, max_size=2))
    if not draw(st.booleans()):
        return StreamSlice(partition={"bot_id": bot}, cursor_slice=window, extra_fields=extra)
    router_slice = StreamSlice(partition={"bot_id": bot}, cursor_slice={}, extra_fields=extra)
    return StreamSlice(
        partition=router_slice,
        cursor_slice=StreamSlice(partition={}, cursor_slice=window),
        extra_fields=extra,
    )


@given(original=bot_slices())
def test_a_cached_slice_is_the_same_dictionary_key_as_the_cdks_slice(original: StreamSlice) -> None:
    cached = SliceWithCachedHash(original)
    assert cached == original
    assert original == cached
    assert hash(cached) == hash(original)
    assert {original: "newest"}[cached] == "newest"
    assert {cached: "newest"}[original] == "newest"
    assert dict(cached) == dict(original)
    assert cached.partition == original.partition
    assert cached.cursor_slice == original.cursor_slice
    assert cached.extra_fields == original.extra_fields


@given(one=bot_slices(), other=bot_slices())
def test_a_cached_slice_differs_from_exactly_the_slices_the_original_differs_from(
    one: StreamSlice, other: StreamSlice
) -> None:
    assert (SliceWithCachedHash(one) == other) is (one == other)
    assert (other == SliceWithCachedHash(one)) is (other == one)


def test_a_cached_slice_is_hashed_once_however_often_it_is_looked_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = StreamSlice(
        partition={"bot_id": "bot-a"},
        cursor_slice={"start_time": "2024-01-01T00:00:00.000000+0000", "end_time": "now"},
    )
    hashes: list[Mapping[str, Any] | None] = []
    hash_slice = SliceHasher.hash

    def counting_hash(
        stream_name: str = "<stream name not provided>",
        stream_slice: Mapping[str, Any] | None = None,
    ) -> int:
        hashes.append(stream_slice)
        return hash_slice(stream_name, stream_slice)

    monkeypatch.setattr(SliceHasher, "hash", counting_hash)
    cached = SliceWithCachedHash(original)
    newest = {cached: 1}
    for _ in range(100):
        newest[cached] = newest.get(cached, 0) + 1
    assert len(hashes) == 1
    assert newest == {original: 101}


@dataclass
class StampingRetriever(Retriever):
    """Stamps its records with the slice it is handed, as the CDK's SimpleRetriever does."""

    slices: list[StreamSlice | None] = field(default_factory=list)

    def read_records(
        self, records_schema: Mapping[str, Any], stream_slice: StreamSlice | None = None
    ) -> Iterable[Record]:
        self.slices.append(stream_slice)
        for session_id in ("a", "b"):
            yield Record(
                data={"session_id": session_id}, stream_name="leads", associated_slice=stream_slice
            )


def test_the_retriever_reads_the_nested_one_with_a_cached_copy_of_the_slice() -> None:
    nested = StampingRetriever()
    original = StreamSlice(partition={"bot_id": "bot-a"}, cursor_slice={"start_time": "t"})
    records = list(CachedSliceHashRetriever(retriever=nested).read_records({}, original))
    (handed,) = nested.slices
    assert isinstance(handed, SliceWithCachedHash)
    assert handed == original
    assert [dict(record) for record in records] == [{"session_id": "a"}, {"session_id": "b"}]
    assert all(record.associated_slice is handed for record in records)


def test_the_retriever_leaves_no_slice_and_an_already_cached_slice_as_they_are() -> None:
    nested = StampingRetriever()
    retriever = CachedSliceHashRetriever(retriever=nested)
    cached = SliceWithCachedHash(StreamSlice(partition={"bot_id": "b"}, cursor_slice={}))
    list(retriever.read_records({}, None))
    list(retriever.read_records({}, cached))
    assert nested.slices[0] is None
    assert nested.slices[1] is cached


# --- guard: the CDK's per-bot cursor still finds a bot's newest lead under the cached slice -----


def saved_cursors_after_reading(
    leads: Mapping[str, list[str]], hand: Callable[[StreamSlice], StreamSlice]
) -> dict[str, datetime]:
    """Each bot's cursor as the manifest's real per-bot cursor saves it after a read of `leads`:
    every lead observed with the slice `hand` makes for the retriever, then the partition closed
    under the CDK's own slice, as the CDK's partition reader does."""
    config = {"api_key": "k", "bot_ids": list(leads), "base_url": "http://127.0.0.1:9/v1"}
    streams = declarative_source(config=config).streams(config=config)
    (stream,) = [stream for stream in streams if stream.name == "leads"]
    cursor = stream.cursor
    for partition in stream.generate_partitions():
        cdk_slice = partition.to_slice()
        assert isinstance(cdk_slice, StreamSlice)
        handed = hand(cdk_slice)
        bot = cdk_slice.partition["bot_id"]
        for created_at in leads[bot]:
            lead = {"created_at": ParsedInstant(created_at), "bot_id": bot}
            cursor.observe(Record(data=lead, stream_name="leads", associated_slice=handed))
        cursor.close_partition(partition)
    return {
        entry["partition"]["bot_id"]: datetime.strptime(entry["cursor"]["created_at"], STATE_FORMAT)
        for entry in cursor.state["states"]
    }


def newest_instant(created_ats: list[str]) -> datetime:
    """The newest instant among the leads, or the epoch (where a bot starts) if none is dated."""
    moments = [datetime.fromisoformat(value) for value in created_ats if epoch_microseconds(value)]
    return max(moments, default=datetime(1970, 1, 1, tzinfo=UTC))


class SliceTheCursorCannotMatch(StreamSlice):
    """What the cached slice would be if the CDK keyed slices otherwise (say by identity)."""

    __hash__ = object.__hash__


leads_by_bot = st.dictionaries(
    bot_ids(),
    st.lists(
        st.builds(
            render_rfc3339,
            instants(),
            st.integers(0, 6),
            st.sampled_from(UTC_OFFSETS),
            st.sampled_from(ZERO_OFFSET_FORMS),
        )
        | st.just("yesterday"),
        min_size=1,
        max_size=5,
    ),
    min_size=1,
    max_size=3,
)


@given(leads=leads_by_bot)
@example(leads={"a": ["2024-03-01T00:00:00+01:00", "2024-02-29T23:00:00.000001Z"], "b": ["2001"]})
def test_the_cdk_cursor_saves_each_bots_newest_lead_read_under_a_cached_slice(
    leads: dict[str, list[str]],
) -> None:
    """The optimisation rests on the CDK keying a bot's newest lead by the hash and equality of
    `record.associated_slice`, and finding it again under the partition's own slice. Should that
    change, the saved cursor stops following the leads; this fails first."""
    saved = saved_cursors_after_reading(leads, SliceWithCachedHash)
    expected = {bot: newest_instant(created_ats) for bot, created_ats in leads.items()}
    assert saved == expected, (
        "the CDK's per-bot cursor no longer finds a bot's newest lead under SliceWithCachedHash, "
        "so the saved state would silently stop following the leads. Remove "
        "CachedSliceHashRetriever from manifest.yaml, or make SliceWithCachedHash match how the "
        "CDK keys slices now."
    )


def test_the_guard_sees_a_slice_the_cursor_cannot_match() -> None:
    """The check above can fail: under a slice the cursor cannot match, no bot's cursor moves."""
    leads = {"a": ["2024-01-02T00:00:00Z", "2024-02-01T00:00:00Z"], "b": ["2023-05-05T05:05:05Z"]}
    saved = saved_cursors_after_reading(
        leads,
        lambda cdk_slice: SliceTheCursorCannotMatch(
            partition=cdk_slice.partition, cursor_slice=cdk_slice.cursor_slice
        ),
    )
    for bot, created_ats in leads.items():
        assert saved[bot] != newest_instant(created_ats)


@pytest.mark.parametrize(
    "text",
    ["2024-06-30t17:32:53.518z", "2024-06-30T17:32:53.518z", "2024-06-30t17:32:53.518Z"],
)
def test_epoch_microseconds_reads_rfc3339_lower_case_t_and_z(text: str) -> None:
    """RFC 3339 allows `t` and `z`; such a lead must move the cursor, not count as undated."""
    assert epoch_microseconds(text) == epoch_microseconds("2024-06-30T17:32:53.518+00:00")
    assert instant_of(text) == datetime(2024, 6, 30, 17, 32, 53, 518000, tzinfo=UTC)


class _BodyStillArriving(io.RawIOBase):
    """A response body served from a generator, one chunk per read, that knows whether it has
    been read to the end: the stand-in for a large body still coming over the network."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self.finished = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = next(self._chunks, b"")
        if not chunk:
            self.finished = True
        buffer[: len(chunk)] = chunk
        return len(chunk)


def test_the_decoder_yields_the_first_records_before_the_body_has_arrived() -> None:
    """Flat memory: records come out while the rest of the body is still unread. A decoder that
    reads `response.content` (the whole body first) would finish the body before its first
    record and fail this."""

    def chunks() -> Iterator[bytes]:
        yield b'[{"session_id": "first"},'
        for number in range(1000):
            yield b'{"session_id": "s%d"},' % number
        yield b'{"session_id": "last"}]'

    body = _BodyStillArriving(chunks())
    response = requests.Response()
    response.status_code = 200
    response.url = "http://127.0.0.1/v1/get-conversation-ids/bot-a"
    response.raw = body
    batches = ObjectArrayDecoder(parameters={}, record="lead").decode(response)

    first = next(batches)
    assert first == [{"session_id": "first"}]
    assert not body.finished, "the body was read to the end before the first record came out"
    rest = [record for batch in batches for record in batch]  # type: ignore[union-attr]
    assert body.finished
    assert len(rest) == 1001 and rest[-1] == {"session_id": "last"}
