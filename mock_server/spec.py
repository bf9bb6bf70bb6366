"""The one place that finds and loads the bundled ChatNode OpenAPI document.

Everything that knows the API's shape (the mock server, the respx router, the contract checker,
the tests that keep the connector's schema in step) asks this module instead of retyping it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from openapi_core import OpenAPI

SPEC_FILE_NAME = "chatnode-leads.openapi.yaml"
LEADS_PATH_TEMPLATE = "/get-conversation-ids/{bot_id}"


def spec_path() -> Path:
    """Where the spec lives: `spec/` in a checkout, or the copy bundled into an installed wheel."""
    package_dir = Path(__file__).resolve().parent
    for candidate in (
        package_dir.parent / "spec" / SPEC_FILE_NAME,
        package_dir / "_bundled_spec" / SPEC_FILE_NAME,
    ):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"ChatNode OpenAPI document {SPEC_FILE_NAME} not found near {package_dir}"
    )


@cache
def spec_document() -> dict[str, Any]:
    """The spec as plain data, parsed once per process."""
    return yaml.safe_load(spec_path().read_text(encoding="utf-8"))


@cache
def openapi() -> OpenAPI:
    """The spec as an openapi-core object, for request and response validation."""
    return OpenAPI.from_dict(spec_document())


def component_schema(name: str) -> dict[str, Any]:
    """A schema from `components.schemas`, e.g. `Conversation`, `Unauthorized`, `Forbidden`."""
    return spec_document()["components"]["schemas"][name]


def conversation_schema() -> dict[str, Any]:
    """The JSON schema of one lead, as the spec publishes it."""
    return component_schema("Conversation")


def server_base_path() -> str:
    """The path part of the spec's first server URL (`/v1`), under which the mock serves routes."""
    from urllib.parse import urlsplit

    return urlsplit(spec_document()["servers"][0]["url"]).path.rstrip("/")


def example_error_message(status: int) -> str:
    """The error body message the spec documents for a status (401 and 403 have examples)."""
    response = spec_document()["paths"][LEADS_PATH_TEMPLATE]["post"]["responses"][str(status)]
    ref = response["content"]["application/json"]["schema"]["$ref"]
    schema = component_schema(ref.rsplit("/", 1)[-1])
    return schema["properties"]["message"]["example"]


def server_origin() -> str:
    """Scheme and host of the spec's first server URL; openapi-core matches requests against it."""
    from urllib.parse import urlsplit

    parts = urlsplit(spec_document()["servers"][0]["url"])
    return f"{parts.scheme}://{parts.netloc}"


HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@dataclass(frozen=True)
class Operation:
    """One (method, path template) of the spec, e.g. POST `/get-conversation-ids/{bot_id}`."""

    method: str
    """Upper case, as HTTP writes it."""
    path_template: str
    """As in the spec's `paths`, without the server base path."""
    has_request_body: bool
    documented_statuses: frozenset[int]

    @property
    def path_params(self) -> tuple[str, ...]:
        return tuple(re.findall(r"{([^}/]+)}", self.path_template))


@cache
def operations() -> tuple[Operation, ...]:
    """Every operation the spec declares, in document order."""
    found = []
    for template, item in spec_document()["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                op = item[method]
                statuses = frozenset(int(s) for s in op.get("responses", {}) if s.isdigit())
                found.append(Operation(method.upper(), template, "requestBody" in op, statuses))
    return tuple(found)


@cache
def security_header_names() -> frozenset[str]:
    """The request headers the spec's security schemes read (`Authorization` for bearer)."""
    names = set()
    for scheme in spec_document().get("components", {}).get("securitySchemes", {}).values():
        if scheme.get("type") == "http":
            names.add("Authorization")
        elif scheme.get("type") == "apiKey" and scheme.get("in") == "header":
            names.add(scheme["name"])
    return frozenset(names)


def documented_error_message(operation: Operation, status: int) -> str | None:
    """The example `message` the spec gives for an operation's non-2xx status, if it gives one."""
    try:
        response = spec_document()["paths"][operation.path_template][operation.method.lower()][
            "responses"
        ][str(status)]
        ref = response["content"]["application/json"]["schema"]["$ref"]
        return component_schema(ref.rsplit("/", 1)[-1])["properties"]["message"]["example"]
    except (KeyError, TypeError):
        return None
