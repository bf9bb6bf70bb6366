"""openapi-core request validation, memoised: the same verdicts as uncached, one openapi-core
call per distinct request."""

from __future__ import annotations

import pytest

import chatnode_spec
from mock_server.responses import MockRequest, MockResponse
from mock_server.validation import SpecValidator

OPERATION = chatnode_spec.operation_at("/get-conversation-ids/{bot_id}")
PATH = "/v1/get-conversation-ids/bot-alpha"


def request(headers: dict[str, str], path: str = PATH, method: str = "POST") -> MockRequest:
    return MockRequest(method, path, headers)


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"authorization": "Bearer k"}, None),
        ({"authorization": "bearer k"}, None),
        ({}, 401),
        ({"authorization": "Basic k"}, 401),
        ({"authorization": "Bearerk"}, 401),
    ],
)
def test_verdicts(headers: dict[str, str], status: int | None) -> None:
    refusal = SpecValidator().check_request(request(headers), OPERATION)
    assert refusal is None if status is None else refusal[0] == status
    assert refusal is None or (refusal[2], bool(refusal[1])) == ("unauthorized", True)


def test_a_repeated_request_is_answered_from_the_cache_with_the_fresh_verdict() -> None:
    cached = SpecValidator()
    for headers in ({"authorization": "Bearer a"}, {}, {"authorization": "Bearer b"}) * 3:
        fresh = SpecValidator(cache_size=0).check_request(request(headers), OPERATION)
        assert cached.check_request(request(headers), OPERATION) == fresh
    info = cached._memo.cache_info()
    assert (info.misses, info.hits) == (3, 6)


def test_headers_the_spec_does_not_read_do_not_split_the_cache() -> None:
    validator = SpecValidator()
    for n in range(50):
        validator.check_request(request({"authorization": "Bearer a", "x-req": str(n)}), OPERATION)
    assert validator._memo.cache_info().misses == 1


def test_response_errors_name_the_violation() -> None:
    validator = SpecValidator()
    ok = MockResponse(200, b'[{"session_id":"a","created_at":"2024-06-30T17:32:53.518+00:00"}]')
    assert validator.response_errors(request({}), ok) == []
    broken = MockResponse(200, b'[{"session_id":"a","created_at":"yesterday"}]')
    assert "date-time" in " ".join(validator.response_errors(request({}), broken))
    assert validator.response_errors(request({}), MockResponse(401, b'{"message":"x"}')) == []
    assert validator.response_errors(request({}), MockResponse(401, b'{"nope":1}')) != []


@pytest.mark.parametrize("path", ["/v1/get-chats/bot-alpha", "/v1/bot-alpha"])
def test_a_body_that_is_not_utf8_is_a_400_that_says_so(path: str) -> None:
    operation = chatnode_spec.operation_at(path.replace("/v1", "").replace("bot-alpha", "{bot_id}"))
    headers = {"authorization": "Bearer k", "content-type": "application/json"}
    refusal = SpecValidator().check_request(
        MockRequest("POST", path, headers, "", b"\xc3("), operation
    )
    assert refusal is not None and (refusal[0], refusal[2]) == (400, "invalid_body")
    assert "not UTF-8" in refusal[1]
