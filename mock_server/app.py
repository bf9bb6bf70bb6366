"""The ASGI app: it reads each request's body (413 past MAX_BODY_BYTES), hands the request to
`admin.answer` under `/_admin/` and to `MockService.dispatch` elsewhere, and writes the answer
back, streamed when it is big.

Plain ASGI, no web framework: the mock's own routers answer every path and method (even one no
framework pattern matches, like a bot id with a newline), and the `drop` fault can leave a
response unfinished on purpose.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from mock_server import admin
from mock_server.config import MockConfig
from mock_server.responses import MockRequest, MockResponse, error_response
from mock_server.service import MockService

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Message, Receive, Send], Awaitable[None]]

MAX_BODY_BYTES = 1 << 20
"""Neither the API nor the admin endpoints take more; a bigger body is refused with 413 as soon
as it passes this, without reading the rest."""


def create_app(config: MockConfig, service: MockService | None = None) -> App:
    """The mock API as an ASGI app. Pass `service` to share state with a caller (MockServer)."""
    service = service or MockService(config)

    async def app(scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan: nothing to start or stop
            return
        body = await _read_body(receive)
        if body is None:
            message = f"Request body over {MAX_BODY_BYTES} bytes; send a smaller one"
            await write(error_response(413, message), receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        query = scope.get("query_string", b"").decode("latin-1")
        request = MockRequest(scope["method"], scope["path"], headers, query, body)
        if admin.is_admin_path(request.path):
            response = admin.answer(service, request)
        else:
            response = service.dispatch(request)
            if response.delay:
                await asyncio.sleep(response.delay)
        await write(response, receive, send)

    return app


async def _read_body(receive: Receive) -> bytes | None:
    """The request body, or None once it passes MAX_BODY_BYTES (reading stops there)."""
    parts, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        parts.append(message.get("body", b""))
        size, more = size + len(parts[-1]), message.get("more_body", False)
        if size > MAX_BODY_BYTES:
            return None
    return b"".join(parts)


async def write(response: MockResponse, receive: Receive, send: Send) -> None:
    """Send a MockResponse: a whole body with its Content-Length, or chunk by chunk, yielding to
    the event loop between chunks so a million-lead body never blocks other requests, and
    stopping if the client goes away. For `drop` it sends half of the first chunk and returns
    unfinished: the server closes the connection."""
    whole = response.chunks is None and not response.abort
    headers = [(b"content-type", response.content_type.encode("latin-1"))]
    for name, value in response.headers.items():  # ASGI wants lower-case names
        headers.append((name.lower().encode("latin-1"), value.encode("latin-1")))
    if whole:
        headers.append((b"content-length", str(len(response.body)).encode("latin-1")))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    if whole:
        await send({"type": "http.response.body", "body": response.body})
        return
    gone = asyncio.ensure_future(_disconnected(receive))
    try:
        for chunk in response.iter_body():
            if gone.done():
                return
            if response.abort:
                half = chunk[: len(chunk) // 2 or 1]
                await send({"type": "http.response.body", "body": half, "more_body": True})
                return
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await asyncio.sleep(0)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        gone.cancel()


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
