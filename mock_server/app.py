"""The ASGI app: Starlette routes built from the spec's `paths`, each a thin adapter over
`MockService.handle`, plus the `/_admin/` endpoints. Unknown paths and wrong methods get the
generic error shape (`{"message": ..., "error": ...}`), a 405 with an `Allow` header."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from mock_server.admin import admin_routes
from mock_server.config import MockConfig
from mock_server.responses import MockRequest, MockResponse, error_response
from mock_server.service import MockService
from mock_server.service import Route as SpecRoute

MAX_BODY_BYTES = 1 << 20
"""The API takes no body; anything beyond this is refused with 413 before it is read."""


def create_app(config: MockConfig, service: MockService | None = None) -> Starlette:
    """The mock API as an ASGI app. Pass `service` to share state with a caller (MockServer)."""
    service = service or MockService(config)
    routes: list[BaseRoute] = [
        Route(r.path_template, _endpoint(service, r), methods=[r.operation.method])
        for r in service.routes
    ]
    routes.extend(admin_routes(service))

    async def http_error(request: Request, exc: Exception) -> Response:
        """Starlette's own 404/405, in the mock's one error shape and journaled."""
        assert isinstance(exc, HTTPException)
        mock_request = _mock_request(request.scope, b"")
        if exc.status_code == 405:
            allowed = service.allowed_methods(request.url.path)
            return to_starlette(service.method_not_allowed(mock_request, allowed))
        if exc.status_code == 404:
            return to_starlette(service.not_found(mock_request))
        return to_starlette(error_response(exc.status_code, str(exc.detail)))

    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
    app.state.service = service
    return app


def _endpoint(service: MockService, route: SpecRoute) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        body = await _read_body(request)
        if body is None:
            return to_starlette(
                error_response(413, f"Request body over {MAX_BODY_BYTES} bytes; send no body")
            )
        mock_request = _mock_request(request.scope, body)
        response = service.handle(route.operation, request.path_params, mock_request)
        if response.delay:
            await asyncio.sleep(response.delay)
        return to_starlette(response)

    endpoint.__name__ = f"{route.operation.method.lower()}_{route.path_template}"
    return endpoint


async def _read_body(request: Request) -> bytes | None:
    """The request body, or None once it passes MAX_BODY_BYTES (reading stops there)."""
    if not _may_have_body(request.scope):
        return b""
    parts, size = [], 0
    async for part in request.stream():
        size += len(part)
        if size > MAX_BODY_BYTES:
            return None
        parts.append(part)
    return b"".join(parts)


def _may_have_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"transfer-encoding" or (name == b"content-length" and value != b"0"):
            return True
    return False


def _mock_request(scope: Scope, body: bytes) -> MockRequest:
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
    query = scope.get("query_string", b"").decode("latin-1")
    return MockRequest(scope["method"], scope["path"], headers, query, body)


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
    """Streams a body chunk by chunk, yielding to the event loop between chunks so a
    million-lead body never blocks other requests, and stopping if the client goes away.

    For the `drop` fault it sends half of the first chunk and returns without finishing the
    response; the ASGI server then has to close the connection, and the client sees an
    incomplete chunked body.
    """

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
