"""The transport-neutral request and response the mock's core speaks, and its one error shape:
the ASGI app and the respx router both speak them to the same `MockService`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from itertools import chain

import orjson

JSON = "application/json"
PIECE_BYTES = 1 << 16
"""A listed body is written in pieces of about this size; one that fits in one piece is sent
whole, with a Content-Length."""

_ERROR_CODES = {413: "payload_too_large", 429: "rate_limited", 500: "internal_error"}
"""Where the code differs from the status's phrase (`404` is `not_found`)."""


@dataclass(frozen=True)
class MockRequest:
    """What the core needs of an HTTP request. Header names are lower-case, as httpx gives them
    and ASGI servers should (the ASGI app lowers them anyway)."""

    method: str
    path: str
    headers: Mapping[str, str]
    query: str = ""
    body: bytes = b""


@dataclass
class MockResponse:
    """A response to write: a whole body, or chunks to stream (a big list of records)."""

    status: int
    body: bytes = b""
    content_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)
    chunks: Iterator[bytes] | None = None
    """When set, the body streams from here and `body` is unused."""
    delay: float = 0.0
    """Seconds to wait before answering (the `latency` fault)."""
    abort: bool = False
    """Send the status, headers and part of the body, then break the connection (`drop` fault)."""
    conforming: bool = False
    """Meant to match the spec; only these are checked when `validate_responses` is on."""

    def iter_body(self) -> Iterator[bytes]:
        """The body as chunks, whichever way it is held."""
        return iter((self.body,)) if self.chunks is None else self.chunks

    def materialized(self) -> MockResponse:
        """A copy with the body in memory (for validation, or a client in-process); a streamed
        body is read, so send the copy, not this one."""
        return replace(self, body=b"".join(self.iter_body()), chunks=None)


def json_array(elements: Iterable[bytes]) -> Iterator[bytes]:
    """A JSON array from element chunks (each `{...},{...}`, empty ones skipped), in pieces of at
    least `PIECE_BYTES` but the last: the one writer of every list body."""
    piece, held, separator = [b"["], 1, b""
    for chunk in elements:
        if chunk:
            piece += (separator, chunk)
            held += len(separator) + len(chunk)
            separator = b","
            if held >= PIECE_BYTES:
                yield b"".join(piece)
                piece, held = [], 0
    piece.append(b"]")
    yield b"".join(piece)


def json_array_response(elements: Iterable[bytes], *, conforming: bool) -> MockResponse:
    """The 200 of a list endpoint, holding no more than one piece of it: whole (with a
    Content-Length) when it fits in one, else streamed."""
    pieces = json_array(elements)
    first = next(pieces)
    second = next(pieces, None)
    if second is None:
        return MockResponse(200, first, conforming=conforming)
    return MockResponse(200, chunks=chain((first, second), pieces), conforming=conforming)


def error_response(
    status: int, message: str, error: str | None = None, headers: dict[str, str] | None = None
) -> MockResponse:
    """The one shape of every error the spec does not document: `{"message": ..., "error": ...}`,
    what went wrong and what to do, and a stable code to branch on (by default the status's
    phrase in snake_case, `http_NNN` for a status without one)."""
    if error is None:
        try:
            phrase = _ERROR_CODES.get(status) or HTTPStatus(status).phrase
            error = phrase.lower().replace(" ", "_").replace("-", "_")
        except ValueError:
            error = f"http_{status}"
    body = orjson.dumps({"message": message, "error": error})
    return MockResponse(status, body, headers=dict(headers or {}))


def spec_error_response(status: int, message: str) -> MockResponse:
    """An error the spec documents (401, 403): exactly its schema, `{"message": ...}`."""
    headers = {"WWW-Authenticate": 'Bearer realm="chatnode"'} if status == 401 else {}
    return MockResponse(
        status, orjson.dumps({"message": message}), headers=headers, conforming=True
    )
