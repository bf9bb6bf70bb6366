"""The transport-neutral request and response the mock's core speaks, and its one error shape.

The ASGI app and the respx router both turn their native request into a `MockRequest`, ask the
same `MockService` for a `MockResponse`, and write that back; so they cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus

import orjson

JSON = "application/json"

_ERROR_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    429: "rate_limited",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}


@dataclass(frozen=True)
class MockRequest:
    """What the core needs of an HTTP request. Header names are lower-cased on the way in."""

    method: str
    path: str
    headers: Mapping[str, str]
    query: str = ""
    body: bytes = b""

    def __post_init__(self) -> None:
        lowered = {name.lower(): value for name, value in self.headers.items()}
        object.__setattr__(self, "headers", lowered)


@dataclass
class MockResponse:
    """A response to write: a whole body, or chunks to stream (a big lead list)."""

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
        if self.chunks is None:
            yield self.body
        else:
            yield from self.chunks

    def materialized(self) -> MockResponse:
        """The same response with the body in memory (for validation, or a client in-process)."""
        if self.chunks is None:
            return self
        body = b"".join(self.chunks)
        self.chunks = None
        self.body = body
        return self


def error_code(status: int) -> str:
    """A stable snake_case name for a status, as the `error` field of the generic error shape."""
    if status in _ERROR_CODES:
        return _ERROR_CODES[status]
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return f"http_{status}"


def error_response(
    status: int, message: str, error: str | None = None, headers: dict[str, str] | None = None
) -> MockResponse:
    """The one shape of every error the spec does not document: `{"message": ..., "error": ...}`.

    `message` says what went wrong and what to do; `error` is a stable code to branch on.
    """
    body = orjson.dumps({"message": message, "error": error or error_code(status)})
    return MockResponse(status, body, headers=dict(headers or {}))


def spec_error_response(status: int, message: str) -> MockResponse:
    """An error the spec documents (401, 403): exactly its schema, `{"message": ...}`."""
    headers = {"WWW-Authenticate": 'Bearer realm="chatnode"'} if status == 401 else {}
    return MockResponse(
        status, orjson.dumps({"message": message}), headers=headers, conforming=True
    )
