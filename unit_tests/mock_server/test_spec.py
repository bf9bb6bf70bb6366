"""The spec helpers the mock builds its routes and messages from."""

from __future__ import annotations

from mock_server import spec
from mock_server.config import MockConfig
from mock_server.service import MockService


def test_operations_come_from_the_spec_paths() -> None:
    (operation,) = spec.operations()
    assert operation.method == "POST"
    assert operation.path_template == "/get-conversation-ids/{bot_id}"
    assert operation.path_params == ("bot_id",)
    assert operation.documented_statuses == frozenset({200, 401, 403})
    assert not operation.has_request_body


def test_routes_are_served_under_the_server_base_path() -> None:
    assert spec.server_base_path() == "/v1"
    assert spec.server_origin() == "https://api.public.chatnode.ai"
    (route,) = MockService(MockConfig()).routes
    assert route.path_template == "/v1/get-conversation-ids/{bot_id}"
    assert route.path_regex.match("/v1/get-conversation-ids/bot-1").groupdict() == {
        "bot_id": "bot-1"
    }
    assert route.path_regex.match("/v1/get-conversation-ids/a/b") is None


def test_messages_and_security_headers() -> None:
    (operation,) = spec.operations()
    assert spec.documented_error_message(operation, 401) == "Bearer token missing or unknown"
    assert spec.documented_error_message(operation, 403) == "Bot access not allowed"
    assert spec.documented_error_message(operation, 500) is None
    assert spec.security_header_names() == frozenset({"Authorization"})
