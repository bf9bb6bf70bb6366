"""openapi-core request validation, memoised: same verdicts as uncached, and cheap when cached."""

from __future__ import annotations

import time

import pytest

from mock_server import spec
from mock_server.responses import MockRequest, MockResponse
from mock_server.validation import SpecValidator

(OPERATION,) = spec.operations()
PATH = "/v1/get-conversation-ids/bot-alpha"


def request(headers: dict[str, str], path: str = PATH, method: str = "POST") -> MockRequest:
    return MockRequest(method, path, headers)


@pytest.mark.parametrize(
    ("headers", "status", "bearer"),
    [
        ({"Authorization": "Bearer k"}, None, "k"),
        ({"authorization": "bearer k"}, None, "k"),
        ({}, 401, None),
        ({"Authorization": "Basic k"}, 401, None),
        ({"Authorization": "Bearerk"}, 401, None),
    ],
)
def test_verdicts(headers: dict[str, str], status: int | None, bearer: str | None) -> None:
    verdict = SpecValidator().check_request(request(headers), OPERATION)
    assert verdict.status == status and verdict.bearer == bearer


def test_cached_verdicts_equal_fresh_ones_and_are_fast() -> None:
    cached = SpecValidator()
    for headers in ({"Authorization": "Bearer a"}, {}, {"Authorization": "Bearer b"}) * 3:
        fresh = SpecValidator(cache_size=0).check_request(request(headers), OPERATION)
        assert cached.check_request(request(headers), OPERATION) == fresh
    started = time.perf_counter()
    for _ in range(1000):
        cached.check_request(request({"Authorization": "Bearer a"}), OPERATION)
    assert time.perf_counter() - started < 0.5  # ~1 ms each uncached


def test_headers_the_spec_does_not_read_do_not_split_the_cache() -> None:
    validator = SpecValidator()
    for n in range(50):
        validator.check_request(request({"Authorization": "Bearer a", "X-Req": str(n)}), OPERATION)
    assert validator._verdict.cache_info().misses == 1


def test_response_errors_name_the_violation() -> None:
    validator = SpecValidator()
    ok = MockResponse(200, b'[{"session_id":"a","created_at":"2024-06-30T17:32:53.518+00:00"}]')
    assert validator.response_errors(request({}), ok) == []
    broken = MockResponse(200, b'[{"session_id":"a","created_at":"yesterday"}]')
    assert "date-time" in " ".join(validator.response_errors(request({}), broken))
    assert validator.response_errors(request({}), MockResponse(401, b'{"message":"x"}')) == []
    assert validator.response_errors(request({}), MockResponse(401, b'{"nope":1}')) != []
