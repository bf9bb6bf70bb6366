"""Finding, loading and merging the bundled OpenAPI documents; handing them out read-only.

ChatNode publishes one OpenAPI document per endpoint. They share a server, security scheme and
error schemas, so they are merged into one API document (paths must not clash; components of the
same name must be identical). Callers get a frozen view: one caller's edit can never leak into
another's spec. Who needs to mutate a schema (a JSON-schema library, a fixture) asks for a copy.

One endpoint, `GET /auth_me`, has no published schema: its assumed document lives beside this
module (`assumed/`, never in `spec/`), is merged last, and marks its operation
`x-chatnode-assumed`, so everyone can tell the published contract from the guess.

Send Message is `POST /{bot_id}`, a template that matches every one-segment path: the merged
paths are ordered most specific first (literal paths, then fewer parameters, then more literal
text), so a router that takes the first match, and openapi-core, which keeps document order among
paths with as many parameters, never route `/auth_me` or `/get-chats/x` to it.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import yaml

DOCUMENT_FILES = (
    "chatnode-leads.openapi.yaml",
    "chatnode-chats.openapi.yaml",
    "chatnode-send-message.openapi.yaml",
)
"""The published documents, in `spec/` of a checkout (bundled into the wheel beside this module)."""
ASSUMED_DOCUMENT_FILES = ("chatnode-auth-me.assumed.openapi.yaml",)
"""Documents for endpoints ChatNode names but publishes no schema for, in `assumed/` here."""
ASSUMED_MARK = "x-chatnode-assumed"
"""The extension an assumed document sets on each of its operations."""


def spec_dir() -> Path:
    """`spec/` in a checkout, or the copy bundled into an installed wheel."""
    package_dir = Path(__file__).resolve().parent
    for candidate in (package_dir.parent / "spec", package_dir / "_bundled"):
        if (candidate / DOCUMENT_FILES[0]).is_file():
            return candidate
    raise FileNotFoundError(
        f"ChatNode OpenAPI documents {DOCUMENT_FILES} not found near {package_dir}"
    )


def document_path(name: str) -> Path:
    """The file of one bundled document, e.g. `chatnode-leads.openapi.yaml`, published or assumed."""
    if name in ASSUMED_DOCUMENT_FILES:
        return Path(__file__).resolve().parent / "assumed" / name
    if name not in DOCUMENT_FILES:
        raise KeyError(
            f"no bundled document {name!r}; the bundled ones are "
            f"{DOCUMENT_FILES + ASSUMED_DOCUMENT_FILES}"
        )
    return spec_dir() / name


def freeze(value: Any) -> Any:
    """A deep read-only view: mappings become MappingProxyType, lists become tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({key: freeze(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(item) for item in value)
    return value


def thaw(value: Any) -> Any:
    """A fresh mutable deep copy of a frozen view (plain dicts and lists)."""
    if isinstance(value, Mapping):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return [thaw(item) for item in value]
    return copy.copy(value)


@cache
def _merged() -> dict[str, Any]:
    """Every bundled document merged into one; private, never handed out mutable."""
    merged: dict[str, Any] = {}
    for name in DOCUMENT_FILES + ASSUMED_DOCUMENT_FILES:
        document = yaml.safe_load(document_path(name).read_text(encoding="utf-8"))
        if not merged:
            merged = document
            continue
        merge_into(merged, document, name)
    merged["paths"] = dict(sorted(merged["paths"].items(), key=lambda item: specificity(item[0])))
    return merged


def specificity(path_template: str) -> tuple[int, int]:
    """A sort key that puts more specific templates first: fewer `{parameters}`, then more
    literal characters (`/get-chats/{bot_id}` before `/{bot_id}`; `/auth_me` before both)."""
    literal = re.sub(r"{[^}/]+}", "", path_template)
    return (path_template.count("{"), -len(literal))


def merge_into(merged: dict[str, Any], document: dict[str, Any], name: str) -> None:
    """Add `document` (file `name`) to `merged`, refusing a clash rather than hiding one."""
    if document.get("servers") != merged.get("servers"):
        raise ValueError(f"{name} names other servers than {DOCUMENT_FILES[0]}; cannot merge")
    for path, item in document.get("paths", {}).items():
        if path in merged["paths"]:
            raise ValueError(f"{name} declares {path}, which another document declares too")
        merged["paths"][path] = item
    for section, entries in document.get("components", {}).items():
        target = merged.setdefault("components", {}).setdefault(section, {})
        for key, value in entries.items():
            if key in target and target[key] != value:
                raise ValueError(f"{name} redefines components.{section}.{key} differently")
            target[key] = value


@cache
def api_document() -> Mapping[str, Any]:
    """The merged API document as a deep read-only mapping, parsed once per process."""
    return freeze(_merged())


def api_document_copy() -> dict[str, Any]:
    """A private mutable copy of the merged document (for openapi-core, Prism, jsonschema)."""
    return copy.deepcopy(_merged())


def component_schema(name: str) -> dict[str, Any]:
    """A fresh mutable copy of a schema from `components.schemas`, e.g. `Conversation`."""
    return copy.deepcopy(_merged()["components"]["schemas"][name])


def server_base_path() -> str:
    """The path part of the spec's server URL (`/v1`), under which every route lives."""
    return urlsplit(api_document()["servers"][0]["url"]).path.rstrip("/")


def server_origin() -> str:
    """Scheme and host of the spec's server URL; openapi-core matches requests against it."""
    parts = urlsplit(api_document()["servers"][0]["url"])
    return f"{parts.scheme}://{parts.netloc}"
