"""Shared helpers for the mock server's tests: a module-wide live server, an httpx client that
talks to it, and openapi-core validation of what comes back."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import chatnode_spec
from chatnode_spec import SpecRequest, SpecResponse
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
    return {"authorization": f"Bearer {key}"}  # lower-case, as MockRequest takes it


def fetch(server: MockServer, bot_id: str, key: str | None = None, **kwargs: Any) -> httpx.Response:
    """POST the leads endpoint as a ChatNode client would, with the server's key by default."""
    headers = bearer(key or server.api_key) | kwargs.pop("headers", {})
    return httpx.post(leads_url(server, bot_id), headers=headers, timeout=30, **kwargs)


def assert_matches_spec(response: httpx.Response) -> None:
    """openapi-core's response validator accepts this response to its request."""
    request = SpecRequest.from_httpx(response.request, chatnode_spec.server_base_path())
    chatnode_spec.openapi().validate_response(request, SpecResponse.from_httpx(response))


def admin(server: MockServer, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """A `/_admin/` call over HTTP, with the server's admin token when it has one."""
    headers = server.admin_headers | kwargs.pop("headers", {})
    return httpx.request(method, f"{server.root_url}/_admin{path}", headers=headers, **kwargs)


def chats_url(server: MockServer, bot_id: str) -> str:
    return f"{server.base_url}/get-chats/{bot_id}"


def fetch_chats(
    server: MockServer,
    bot_id: str,
    session_ids: Any = (),
    key: str | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """POST the chats endpoint with these session ids (a JSON array) as a ChatNode client would."""
    headers = bearer(key or server.api_key) | kwargs.pop("headers", {})
    if "content" not in kwargs:
        kwargs["json"] = list(session_ids)
    return httpx.post(chats_url(server, bot_id), headers=headers, timeout=30, **kwargs)


def session_ids(server: MockServer, bot_id: str) -> list[str]:
    return [lead["session_id"] for lead in server.leads(bot_id)]
