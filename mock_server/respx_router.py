"""A respx router that answers like the mock server, in-process, for clients that speak httpx.

Every request under the base URL goes through the same `MockService` as the live server, so the
two cannot disagree, except where only a socket can: `drop` raises `httpx.RemoteProtocolError`,
bodies arrive whole, and `latency` blocks the calling thread with `time.sleep` (`sleep=None` skips
it, e.g. under an async client).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx
import respx

import chatnode_spec
from mock_server.config import MockConfig
from mock_server.responses import MockRequest
from mock_server.service import MockService

DEFAULT_BASE_URL = chatnode_spec.server_origin() + chatnode_spec.server_base_path()


def chatnode_respx_router(
    config: MockConfig | None = None,
    *,
    base_url: str = DEFAULT_BASE_URL,
    service: MockService | None = None,
    sleep: Callable[[float], None] | None = time.sleep,
) -> respx.MockRouter:
    """A respx router serving the mock API under `base_url` (the real ChatNode URL by default);
    its `chatnode` attribute is the `MockService`. respx fails requests outside `base_url`."""
    service = service or MockService(config or MockConfig())
    base = base_url.rstrip("/")
    base_path = urlsplit(base).path
    spec_base = chatnode_spec.server_base_path()

    def answer(request: httpx.Request) -> httpx.Response:
        path = spec_base + request.url.path[len(base_path) :]
        mock_request = MockRequest(
            request.method,
            path,
            dict(request.headers),  # lower-case names, as MockRequest takes them
            request.url.query.decode("ascii"),
            request.read(),
        )
        response = service.dispatch(mock_request).materialized()
        if response.delay and sleep is not None:
            sleep(response.delay)
        if response.abort:
            raise httpx.RemoteProtocolError(
                "peer closed connection without sending complete message body (mock drop fault)",
                request=request,
            )
        headers = {"content-type": response.content_type, **response.headers}
        return httpx.Response(response.status, headers=headers, content=response.body)

    router = respx.MockRouter(assert_all_called=False, assert_all_mocked=True)
    router.route(url__startswith=base + "/").mock(side_effect=answer)
    router.chatnode = service  # type: ignore[attr-defined]
    return router
