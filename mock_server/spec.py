"""The one place that finds and loads the bundled ChatNode OpenAPI document.

Everything that knows the API's shape (the mock server, the respx router, the contract checker,
the tests that keep the connector's schema in step) asks this module instead of retyping it.
"""

from __future__ import annotations

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
    raise FileNotFoundError(f"ChatNode OpenAPI document {SPEC_FILE_NAME} not found near {package_dir}")


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
