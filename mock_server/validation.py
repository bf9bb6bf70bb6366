"""openapi-core at the mock's edge: every request is validated against the spec, and (on demand)
every response the spec documents is checked before it leaves.

openapi-core takes about a millisecond per request, which would cap the mock far below the
throughput its benchmark asks for. The mock hands openapi-core only what the spec can read (the
method, path, query, the headers its security schemes and parameters name, and the body when the
operation has one), so the outcome is a pure function of those and is memoised exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import parse_qsl

from openapi_core.datatypes import RequestParameters
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
from werkzeug.datastructures import Headers, ImmutableMultiDict

from mock_server import spec
from mock_server.responses import MockRequest, MockResponse

_VALIDATION_STATUS: list[tuple[type[Exception], int, str]] = [
    (SecurityValidationError, 401, "unauthorized"),
    (ServerNotFound, 404, "not_found"),
    (PathNotFound, 404, "not_found"),
    (OperationNotFound, 405, "method_not_allowed"),
    (ParameterValidationError, 400, "invalid_parameter"),
    (RequestBodyValidationError, 400, "invalid_body"),
]
"""Each openapi-core request error mapped to one status and error code, first match wins."""


@dataclass(frozen=True)
class RequestVerdict:
    """openapi-core's verdict on a request, reduced to what the mock acts on."""

    status: int | None = None
    """None when the request is valid."""
    error: str = ""
    detail: str = ""
    bearer: str | None = None


class _CoreRequest:
    """The openapi-core request protocol over the fields the spec can read."""

    def __init__(
        self, method: str, path: str, query: str, headers: tuple[tuple[str, str], ...], body: bytes
    ) -> None:
        self.host_url = spec.server_origin()
        self.path = path
        self.method = method.lower()
        self.body = body or None
        self.content_type = "application/json"
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qsl(query, keep_blank_values=True)),
            header=Headers(list(headers)),
        )


class _CoreResponse:
    """The openapi-core response protocol over a materialised `MockResponse`."""

    def __init__(self, response: MockResponse) -> None:
        self.status_code = response.status
        self.data = response.body
        self.content_type = response.content_type
        self.headers = Headers(list(response.headers.items()))


class SpecValidator:
    """Request and response validation against the bundled spec, set up once per app."""

    def __init__(self, cache_size: int = 4096) -> None:
        self._openapi = spec.openapi()
        self._headers = tuple(sorted(n.lower() for n in spec.security_header_names()))
        self._verdict = lru_cache(maxsize=cache_size)(self._validate)

    def check_request(self, request: MockRequest, operation: spec.Operation) -> RequestVerdict:
        """openapi-core's verdict on a request already routed to `operation`."""
        headers = tuple((n, request.headers[n]) for n in self._headers if n in request.headers)
        body = request.body if operation.has_request_body else b""
        return self._verdict(request.method, request.path, request.query, headers, body)

    def _validate(
        self, method: str, path: str, query: str, headers: tuple[tuple[str, str], ...], body: bytes
    ) -> RequestVerdict:
        result = self._openapi.unmarshal_request(_CoreRequest(method, path, query, headers, body))
        if not result.errors:
            return RequestVerdict(bearer=(result.security or {}).get("bearerAuth"))
        error = result.errors[0]
        for kind, status, code in _VALIDATION_STATUS:
            if isinstance(error, kind):
                return RequestVerdict(status, code, _describe(error))
        return RequestVerdict(400, "invalid_request", _describe(error))

    def response_errors(self, request: MockRequest, response: MockResponse) -> list[str]:
        """What is wrong with a (materialised) response to `request`, per the spec; [] if nothing."""
        headers = tuple((n, request.headers[n]) for n in self._headers if n in request.headers)
        core_request = _CoreRequest(request.method, request.path, request.query, headers, b"")
        core_response = _CoreResponse(response)
        return [
            _describe(e)
            for e in self._openapi.iter_response_errors(
                core_request,
                core_response,  # type: ignore[arg-type]
            )
        ]


def _describe(error: Exception) -> str:
    """openapi-core's message plus the schema errors it wraps, which carry the useful detail."""
    causes = getattr(error, "schema_errors", None) or ([error.__cause__] if error.__cause__ else [])
    text = str(error)
    for cause in causes:
        text += f"; {getattr(cause, 'message', cause)}"
    return text
