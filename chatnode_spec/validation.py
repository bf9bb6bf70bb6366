"""The one openapi-core adapter: requests and responses as plain fields, judged by the spec.

The mock (its own request type), the contract checker and the tests (httpx) each build a
`SpecRequest`/`SpecResponse` from what they hold; openapi-core sees nothing else. A request's path
is relative to the spec's server, so the same contract applies wherever the API is served.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from urllib.parse import parse_qsl

import httpx
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

from chatnode_spec.documents import api_document_copy, server_base_path, server_origin


@cache
def openapi() -> OpenAPI:
    """The merged spec as an openapi-core object, built once per process from a private copy."""
    return OpenAPI.from_dict(api_document_copy())


class SpecRequest:
    """openapi-core's request protocol over plain fields, placed on the spec's server.

    `path` is either already under the spec's base path (`/v1/...`, as the mock routes it) or
    relative to it (`/get-conversation-ids/...`, `relative=True`), as a client with another base
    URL (a proxy, the mock on 127.0.0.1) sees it.
    """

    def __init__(
        self,
        method: str,
        path: str,
        *,
        query: str = "",
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        content_type: str = "application/json",
        relative: bool = False,
    ) -> None:
        self.host_url = server_origin()
        self.path = server_base_path() + path if relative else path
        self.method = method.lower()
        self.body = body or None
        self.content_type = content_type
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qsl(query, keep_blank_values=True)),
            header=Headers(list(headers)),
        )

    @classmethod
    def from_httpx(cls, request: httpx.Request, base_url: httpx.URL | str) -> SpecRequest:
        """An httpx request sent under `base_url`, moved onto the spec's server."""
        base_path = httpx.URL(str(base_url)).path.rstrip("/")
        return cls(
            request.method,
            request.url.path[len(base_path) :],
            query=request.url.query.decode(),
            headers=request.headers.items(),
            body=request.content,
            content_type=request.headers.get("content-type", "application/json"),
            relative=True,
        )

    def __repr__(self) -> str:
        return f"<SpecRequest {self.method.upper()} {self.path}>"


@dataclass
class SpecResponse:
    """openapi-core's response protocol over plain fields."""

    status_code: int
    data: bytes
    content_type: str
    headers: Headers

    @classmethod
    def of(
        cls, status: int, body: bytes, content_type: str, headers: Iterable[tuple[str, str]] = ()
    ) -> SpecResponse:
        return cls(status, body, content_type.lower(), Headers(list(headers)))

    @classmethod
    def from_httpx(cls, response: httpx.Response) -> SpecResponse:
        return cls.of(
            response.status_code,
            response.content,
            response.headers.get("content-type", ""),
            response.headers.items(),
        )
