"""MockService's one router: spec routes served under the server base path, matched by regex,
404 and 405 decided in one place and journaled."""

from __future__ import annotations

import pytest

import chatnode_spec
from mock_server.config import MockConfig
from mock_server.faults import ROUTES
from mock_server.responses import MockRequest, MockResponse
from mock_server.service import MockService, match_route, route_table

KEY = {"authorization": "Bearer mock-secret-key"}


def test_every_spec_operation_is_served_under_the_server_base_path() -> None:
    service = MockService(MockConfig())
    routes = [(m, t, op.path_template) for m, t, _, (op, _, _) in service.routes]
    assert routes == [
        ("GET", "/v1/auth_me", "/auth_me"),
        ("POST", "/v1/get-conversation-ids/{bot_id}", "/get-conversation-ids/{bot_id}"),
        ("POST", "/v1/get-chats/{bot_id}", "/get-chats/{bot_id}"),
        ("POST", "/v1/{bot_id}", "/{bot_id}"),
    ]
    assert {(op.method, op.path_template) for op in chatnode_spec.operations()} == set(
        ROUTES.values()
    )


def test_an_operation_without_a_handler_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(ROUTES, "chats")
    with pytest.raises(
        ValueError, match=r"POST /get-chats/\{bot_id\}, which the mock has no handler"
    ):
        MockService(MockConfig())


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/get-conversation-ids/bot-1", {"bot_id": "bot-1"}),
        ("/v1/get-conversation-ids/a/b", None),
        ("/v1/get-conversation-ids/", None),
        ("/get-conversation-ids/bot-1", None),
    ],
)
def test_a_parameter_matches_exactly_one_path_segment(
    path: str, params: dict[str, str] | None
) -> None:
    table = route_table([("POST", "/v1/get-conversation-ids/{bot_id}", "leads")])
    routed = match_route(table, MockRequest("POST", path, {}), "API")
    if params is None:
        assert isinstance(routed, MockResponse) and routed.status == 404
    else:
        assert routed == ("leads", params)


def test_dispatch_answers_and_journals_unknown_paths_and_methods() -> None:
    service = MockService(MockConfig(leads_per_bot=1))
    not_found = service.dispatch(MockRequest("POST", "/v1/no/such/path", KEY))
    wrong_method = service.dispatch(MockRequest("GET", "/v1/get-conversation-ids/bot-alpha", KEY))
    ok = service.dispatch(MockRequest("POST", "/v1/get-conversation-ids/bot-alpha", KEY))
    assert (not_found.status, wrong_method.status, ok.status) == (404, 405, 200)
    assert (
        b"the API serves GET /v1/auth_me, POST /v1/get-conversation-ids/{bot_id}, "
        b"POST /v1/get-chats/{bot_id}, POST /v1/{bot_id}" in not_found.body
    )
    assert wrong_method.headers == {"Allow": "POST"}
    journal = [(e["method"], e["status"], e["bot"], e["auth"]) for e in service.journal()]
    assert journal == [("POST", 404, None, "n/a"), ("GET", 405, None, "n/a"), ("POST", 200, "bot-alpha", "ok")]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/v1/auth_me", ("auth", {})),
        ("POST", "/v1/auth_me", 405),
        ("POST", "/v1/get-chats/bot-1", ("chats", {"bot_id": "bot-1"})),
        ("GET", "/v1/get-chats/bot-1", 405),
        ("POST", "/v1/get-conversation-ids/bot-1", ("leads", {"bot_id": "bot-1"})),
        ("POST", "/v1/bot-1", ("send", {"bot_id": "bot-1"})),
        ("POST", "/v1/get-chats", ("send", {"bot_id": "get-chats"})),
    ],
)
def test_a_literal_path_wins_over_send_messages_template_whatever_the_order(
    method: str, path: str, expected: tuple[str, dict[str, str]] | int
) -> None:
    rows = [
        ("POST", "/v1/{bot_id}", "send"),
        ("POST", "/v1/get-chats/{bot_id}", "chats"),
        ("GET", "/v1/auth_me", "auth"),
        ("POST", "/v1/get-conversation-ids/{bot_id}", "leads"),
    ]
    for table in (route_table(rows), route_table(reversed(rows))):
        routed = match_route(table, MockRequest(method, path, {}), "API")
        if isinstance(expected, int):
            assert isinstance(routed, MockResponse) and routed.status == expected
        else:
            assert routed == expected
