"""The transport-neutral response: the one writer of list bodies (whole when small, streamed in
pieces when not) and a materialized copy that leaves the original alone."""

from __future__ import annotations

import orjson

from mock_server.responses import (
    PIECE_BYTES,
    MockResponse,
    error_response,
    json_array,
    json_array_response,
)


def test_json_array_joins_chunks_and_skips_empty_ones() -> None:
    assert list(json_array([])) == [b"[]"]
    assert list(json_array([b"", b'{"a":1},{"b":2}', b"", b"3"])) == [b'[{"a":1},{"b":2},3]']


def test_a_list_that_fits_one_piece_comes_whole() -> None:
    response = json_array_response(iter([b'{"a":1}', b"", b'{"b":2}']), conforming=True)
    assert response.chunks is None and response.body == b'[{"a":1},{"b":2}]'
    assert response.status == 200 and response.conforming


def test_a_bigger_list_streams_in_pieces_read_only_as_sent() -> None:
    element = b'{"pad":"' + b"x" * 1000 + b'"}'
    produced: list[int] = []

    def elements() -> object:
        for i in range(1000):
            produced.append(i)
            yield element

    response = json_array_response(elements(), conforming=False)  # type: ignore[arg-type]
    assert response.chunks is not None and len(produced) <= 2 * PIECE_BYTES // len(element) + 2
    pieces = list(response.iter_body())
    assert all(len(p) >= PIECE_BYTES for p in pieces[:-1]) and len(produced) == 1000
    assert orjson.loads(b"".join(pieces)) == [{"pad": "x" * 1000}] * 1000


def test_error_codes_are_the_status_phrase_unless_named() -> None:
    def code(status: int) -> str:
        return orjson.loads(error_response(status, "m").body)["error"]

    assert [code(404), code(503), code(413), code(599)] == [
        "not_found",
        "service_unavailable",
        "payload_too_large",
        "http_599",
    ]
    assert orjson.loads(error_response(400, "m", "invalid_body").body)["error"] == "invalid_body"


def test_materialized_returns_a_copy_and_leaves_the_response_unchanged() -> None:
    streamed = MockResponse(200, chunks=iter([b"[", b"1", b"]"]), headers={"X-A": "1"})
    whole = streamed.materialized()
    assert whole is not streamed and whole.body == b"[1]" and whole.chunks is None
    assert whole.headers == {"X-A": "1"}
    assert streamed.chunks is not None and streamed.body == b""
    small = MockResponse(200, b"[]")
    assert small.materialized() == small and small.materialized() is not small
