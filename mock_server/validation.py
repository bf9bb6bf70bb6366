"""openapi-core at the mock's edge: every request is validated against the spec, and (on demand)
every response the spec documents is checked before it leaves.

openapi-core takes about a millisecond per request, far below the throughput the benchmark asks
for. It is handed only what the spec reads (method, path, query, the headers the spec names, and
the body when the operation has one), so its verdict is a pure function of those and memoised
exactly; bodies over MEMO_BODY_BYTES are judged afresh, which bounds the memo's size.
"""

from __future__ import annotations

from functools import lru_cache

from openapi_core.templating.paths.exceptions import (
    OperationNotFound,
    PathNotFound,
    ServerNotFound,
)
from openapi_core.validation.request.exceptions import (
    ParameterValidationError,
    RequestBodyValidationError,
    SecurityValidationError,
)

import chatnode_spec
from chatnode_spec import SpecRequest, SpecResponse
from mock_server.responses import JSON, MockRequest, MockResponse

_VALIDATION_STATUS: list[tuple[type[Exception], int, str]] = [
    (SecurityValidationError, 401, "unauthorized"),
    (ServerNotFound, 404, "not_found"),
    (PathNotFound, 404, "not_found"),
    (OperationNotFound, 405, "method_not_allowed"),
    (ParameterValidationError, 400, "invalid_parameter"),
    (RequestBodyValidationError, 400, "invalid_body"),
    (Exception, 400, "invalid_request"),
]
"""Each openapi-core request error mapped to one status and error code, first match wins."""


Refusal = tuple[int, str, str]
"""openapi-core's verdict on an invalid request: (status, what is wrong, error code), the
arguments of `responses.error_response`."""

Headers = tuple[tuple[str, str], ...]

MEMO_BODY_BYTES = 4096
"""Verdicts on requests with bigger bodies are not memoised (a batch of 100 session ids fits)."""


class SpecValidator:
    """Request and response validation against the bundled spec, set up once per app."""

    def __init__(self, cache_size: int = 4096) -> None:
        self._openapi = chatnode_spec.openapi()
        self._headers = tuple(sorted(n.lower() for n in chatnode_spec.security_header_names()))
        self._memo = lru_cache(maxsize=cache_size)(self._validate)

    def check_request(
        self, request: MockRequest, operation: chatnode_spec.Operation
    ) -> Refusal | None:
        """openapi-core's verdict on a request already routed to `operation`: None if valid."""
        body, content_type = b"", JSON
        if operation.has_request_body:
            body = request.body
            content_type = request.headers.get("content-type") or JSON
        verdict = self._memo if len(body) <= MEMO_BODY_BYTES else self._validate
        return verdict(
            request.method, request.path, request.query, self._read(request), body, content_type
        )

    def _read(self, request: MockRequest) -> Headers:
        """The request headers the spec reads."""
        return tuple((n, request.headers[n]) for n in self._headers if n in request.headers)

    def _validate(
        self, method: str, path: str, query: str, headers: Headers, body: bytes, content_type: str
    ) -> Refusal | None:
        spec_request = SpecRequest(
            method, path, query=query, headers=headers, body=body, content_type=content_type
        )
        errors = list(self._openapi.iter_request_errors(spec_request))  # validation only: fast
        if not errors:
            return None
        status, code = next((s, c) for k, s, c in _VALIDATION_STATUS if isinstance(errors[0], k))
        return status, _describe(errors[0]), code

    def response_errors(self, request: MockRequest, response: MockResponse) -> list[str]:
        """What is wrong with a (materialised) response to `request`, per the spec; [] if nothing."""
        spec_request = SpecRequest(
            request.method, request.path, query=request.query, headers=self._read(request)
        )
        spec_response = SpecResponse.of(
            response.status, response.body, response.content_type, response.headers.items()
        )
        errors = self._openapi.iter_response_errors(spec_request, spec_response)  # type: ignore[arg-type]
        return [_describe(e) for e in errors]


def _describe(error: Exception) -> str:
    """openapi-core's message plus the schema errors it wraps, which carry the useful detail.
    openapi-core's errors cannot give even `str` for a body that is not UTF-8."""
    causes = getattr(error, "schema_errors", None) or ([error.__cause__] if error.__cause__ else [])
    try:
        text = str(error)
        for cause in causes:
            detail = str(getattr(cause, "message", cause))
            if detail not in text:
                text += f"; {detail}"
    except UnicodeDecodeError:
        return f"{type(error).__name__}: the request body is not UTF-8; send UTF-8 JSON"
    return text
