"""The streaming leads decoder and the per-bot state migration, in isolation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
import requests
from airbyte_cdk.sources.types import StreamSlice
from hypothesis import example, given
from hypothesis import strategies as st

from source_chatnode.components import (
    AddBotId,
    CreatedAtWindowFilter,
    LeadArrayDecoder,
    LeadArrayParser,
    MalformedLeadsResponse,
    ParseCreatedAtOnce,
    ParsedInstant,
    PerBotStateMigration,
    epoch_microseconds,
)

json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=12)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
# Keys and strings full of braces, commas and quotes: the characters the parser cuts on.
tricky_text = st.text(alphabet='{}[],"\\: ab\n', max_size=10)
lead_objects = st.dictionaries(
    st.text(max_size=8) | tricky_text, json_values | tricky_text, max_size=5
)


def parse_in_chunks(body: bytes, chunk_sizes: list[int]) -> list[dict]:
    parser = LeadArrayParser()
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
    with pytest.raises(MalformedLeadsResponse) as raised:
        parse_in_chunks(body, [7] * (len(body) // 7 + 1))
    assert problem in raised.value.message


def test_empty_array_is_zero_leads_not_an_error() -> None:
    assert parse_in_chunks(b" [ ] ", [2]) == []


def _response(
    body: bytes, url: str = "https://api.example/v1/get-conversation-ids/bot-x"
) -> requests.Response:
    import io

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
    decoder = LeadArrayDecoder(parameters={})
    batches = list(decoder.decode(_response(orjson.dumps(leads))))
    assert decoder.is_stream_response()
    assert [lead for batch in batches for lead in batch] == leads


def test_decoder_error_names_the_url_and_never_the_body_beyond_a_snippet() -> None:
    html = b"<html>" + b"x" * 10_000 + b"</html>"
    with pytest.raises(MalformedLeadsResponse) as raised:
        list(LeadArrayDecoder(parameters={}).decode(_response(html)))
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

offsets = st.sampled_from([0, 60, 120, -300, 330, 345, -720, 840]).map(
    lambda m: timedelta(minutes=m)
)


def rfc3339(moment: datetime, offset: timedelta, digits: int, zulu: bool) -> str:
    local = moment.astimezone(timezone(offset))
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    if digits:
        text += "." + f"{local.microsecond:06d}"[:digits]
    if zulu and offset == timedelta(0):
        return text + "Z"
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{text}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


@given(
    moment=st.datetimes(
        min_value=datetime(1971, 1, 1), max_value=datetime(2099, 1, 1), timezones=st.just(UTC)
    ),
    offset=offsets,
    digits=st.integers(min_value=0, max_value=6),
    zulu=st.booleans(),
)
@example(
    moment=datetime(2024, 6, 30, 17, 32, 53, 518000, tzinfo=UTC),
    offset=timedelta(0),
    digits=3,
    zulu=False,
)
def test_epoch_microseconds_is_the_instant_whatever_the_form(
    moment: datetime, offset: timedelta, digits: int, zulu: bool
) -> None:
    text = rfc3339(moment, offset, digits, zulu)
    truncated = moment.replace(
        microsecond=int(f"{moment.microsecond:06d}"[:digits] or 0) * 10 ** (6 - digits)
    )
    assert epoch_microseconds(text) == (truncated - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(
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
    with pytest.raises(ValueError):
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
