"""The ASGI app: it reads each request's body (413 past MAX_BODY_BYTES), hands the request to
`admin.answer` under `/_admin/` and to `MockService.dispatch` elsewhere, and writes the answer
back, streamed when it is big."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from mock_server import admin
from mock_server.config import MockConfig
from mock_server.responses import MockRequest, MockResponse, error_response
from mock_server.service import MockService

MAX_BODY_BYTES = 1 << 20
"""Neither the API nor the admin endpoints take more; a bigger body is refused with 413 as soon
as it passes this, without reading the rest."""


def create_app(config: MockConfig, service: MockService | None = None) -> Starlette:
    """The mock API as an ASGI app. Pass `service` to share state with a caller (MockServer)."""
    service = service or MockService(config)

    async def answer(scope: Scope, receive: Receive, send: Send) -> None:
        response = await _respond(service, Request(scope, receive))
        await to_starlette(response)(scope, receive, send)

    app = Starlette()
    # No Starlette routes: every request, whatever its path (even one no Starlette pattern
    # matches, like a bot id with a newline) or method, goes to the mock's own routers.
    app.router.default = answer
    app.state.service = service
    return app


async def _respond(service: MockService, request: Request) -> MockResponse:
    body = await _read_body(request)
    if body is None:
        return error_response(413, f"Request body over {MAX_BODY_BYTES} bytes; send a smaller one")
    scope = request.scope
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
    query = scope.get("query_string", b"").decode("latin-1")
    mock_request = MockRequest(scope["method"], scope["path"], headers, query, body)
    if admin.is_admin_path(mock_request.path):
        return admin.answer(service, mock_request)
    response = service.dispatch(mock_request)
    if response.delay:
        await asyncio.sleep(response.delay)
    return response


async def _read_body(request: Request) -> bytes | None:
    """The request body, or None once it passes MAX_BODY_BYTES (reading stops there)."""
    headers = request.scope["headers"]
    if not any(n == b"transfer-encoding" or (n == b"content-length" and v != b"0") for n, v in headers):  # fmt: skip
        return b""
    parts, size = [], 0
    async for part in request.stream():
        size += len(part)
        if size > MAX_BODY_BYTES:
            return None
        parts.append(part)
    return b"".join(parts)


def to_starlette(response: MockResponse) -> Response:
    """A Starlette response that writes a MockResponse, whole or streamed."""
    if response.chunks is None and not response.abort:
        return Response(
            response.body,
            response.status,
            headers=response.headers,
            media_type=response.content_type,
        )
    return ChunkedResponse(response)


class ChunkedResponse(Response):
    """Streams a body chunk by chunk, yielding to the event loop between chunks so a million-lead
    body never blocks other requests, and stopping if the client goes away. For `drop` it sends
    half of the first chunk and returns unfinished: the server closes the connection."""

    def __init__(self, response: MockResponse) -> None:
        self.status_code = response.status
        self.media_type = response.content_type
        self.background = None
        self.init_headers(response.headers)
        self._chunks: Iterator[bytes] = response.iter_body()
        self._abort = response.abort

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        gone = asyncio.ensure_future(_disconnected(receive))
        try:
            for chunk in self._chunks:
                if gone.done():
                    return
                if self._abort:
                    await send({"type": "http.response.body", "body": chunk[: len(chunk) // 2 or 1], "more_body": True})  # fmt: skip
                    return
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await asyncio.sleep(0)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            gone.cancel()


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
