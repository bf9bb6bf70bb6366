"""Shared helpers for the mock server's tests: a module-wide live server, an httpx client that
talks to it, and openapi-core validation of what comes back."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from werkzeug.datastructures import Headers

from mock_server import spec
from mock_server.config import MockConfig
from mock_server.server import MockServer


@pytest.fixture(scope="module")
def live() -> Iterator[MockServer]:
    """One default server per test module; tests that change it call `reset()` first."""
    with MockServer(MockConfig(leads_per_bot=20)) as server:
        yield server


@pytest.fixture
def server(live: MockServer) -> MockServer:
    """The module's server, back to its configuration for this test."""
    live.reset()
    return live


def leads_url(server: MockServer, bot_id: str) -> str:
    return f"{server.base_url}/get-conversation-ids/{bot_id}"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def fetch(server: MockServer, bot_id: str, key: str | None = None, **kwargs: Any) -> httpx.Response:
    """POST the leads endpoint as a ChatNode client would, with the server's key by default."""
    headers = bearer(key or server.api_key) | kwargs.pop("headers", {})
    return httpx.post(leads_url(server, bot_id), headers=headers, timeout=30, **kwargs)


class _SpecRequest:
    """An httpx request in openapi-core's request protocol, placed on the spec's server URL
    (the mock's host differs, the path is the same)."""

    def __init__(self, request: httpx.Request) -> None:
        self.host_url = spec.server_origin()
        self.path = request.url.path
        self.method = request.method.lower()
        self.body = request.content or None
        self.content_type = request.headers.get("content-type", "application/json")
        from openapi_core.datatypes import RequestParameters

        self.parameters = RequestParameters(header=Headers(list(request.headers.items())))


class _SpecResponse:
    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self.data = response.content
        self.content_type = response.headers.get("content-type", "")
        self.headers = Headers(list(response.headers.items()))


def assert_matches_spec(response: httpx.Response) -> None:
    """openapi-core's response validator accepts this response to its request."""
    spec.openapi().validate_response(_SpecRequest(response.request), _SpecResponse(response))
