"""The streaming leads decoder and the per-bot state migration, in isolation."""

from __future__ import annotations

import json

import orjson
import pytest
import requests
from hypothesis import example, given
from hypothesis import strategies as st

from source_chatnode.components import (
    LeadArrayDecoder,
    LeadArrayParser,
    MalformedLeadsResponse,
    PerBotStateMigration,
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
