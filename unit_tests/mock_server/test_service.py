"""MockService's one router: spec routes served under the server base path, matched by regex,
404 and 405 decided in one place and journaled."""

from __future__ import annotations

import pytest

from mock_server.config import MockConfig
from mock_server.responses import MockRequest, MockResponse
from mock_server.service import MockService, match_route, route_table

KEY = {"Authorization": "Bearer mock-secret-key"}


def test_spec_routes_are_served_under_the_server_base_path() -> None:
    ((method, template, _, operation),) = MockService(MockConfig()).routes
    assert (method, template) == ("POST", "/v1/get-conversation-ids/{bot_id}")
    assert operation.path_template == "/get-conversation-ids/{bot_id}"


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
    not_found = service.dispatch(MockRequest("POST", "/v1/nope", KEY))
    wrong_method = service.dispatch(MockRequest("GET", "/v1/get-conversation-ids/bot-alpha", KEY))
    ok = service.dispatch(MockRequest("POST", "/v1/get-conversation-ids/bot-alpha", KEY))
    assert (not_found.status, wrong_method.status, ok.status) == (404, 405, 200)
    assert b"the API serves POST /v1/get-conversation-ids/{bot_id}" in not_found.body
    assert wrong_method.headers == {"Allow": "POST"}
    journal = [(e["method"], e["status"], e["bot"], e["auth"]) for e in service.journal.entries()]
    assert journal == [("POST", 404, None, "n/a"), ("GET", 405, None, "n/a"), ("POST", 200, "bot-alpha", "ok")]  # fmt: skip
