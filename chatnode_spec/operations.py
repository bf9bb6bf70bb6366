"""The spec's operations as objects, and what each documents: statuses, schemas, error examples."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from chatnode_spec.documents import ASSUMED_MARK, api_document

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

    @property
    def query_params(self) -> frozenset[str]:
        """The query parameters the operation declares (`k` for Get Chat History)."""
        declared = self.definition.get("parameters", ())
        return frozenset(p["name"] for p in declared if p.get("in") == "query")

    @property
    def body_fields(self) -> frozenset[str] | None:
        """The fields the request body schema declares, when it is an object (Send Message's
        `message`, `chat_session_id`, `streaming`); None for no body or a non-object one."""
        content = self.definition.get("requestBody", {}).get("content", {})
        schema = resolved(content.get("application/json", {}).get("schema", {}))
        if schema.get("type") != "object":
            return None
        return frozenset(schema.get("properties", {}))

    @property
    def assumed(self) -> bool:
        """Whether ChatNode publishes no schema for it and ours is a documented guess."""
        return bool(self.definition.get(ASSUMED_MARK))

    @property
    def definition(self) -> Mapping[str, Any]:
        """The operation object of the spec (read-only)."""
        return api_document()["paths"][self.path_template][self.method.lower()]


@cache
def operations() -> tuple[Operation, ...]:
    """Every operation the bundled documents declare, in document order."""
    found = []
    for template, item in api_document()["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                definition = item[method]
                statuses = frozenset(int(s) for s in definition.get("responses", {}) if s.isdigit())
                found.append(
                    Operation(method.upper(), template, "requestBody" in definition, statuses)
                )
    return tuple(found)


def operation_at(path_template: str, method: str | None = None) -> Operation:
    """The operation at a path template, e.g. `/get-conversation-ids/{bot_id}` (and `method`,
    when given)."""
    for operation in operations():
        if operation.path_template == path_template and method in (None, operation.method):
            return operation
    raise LookupError(f"the spec has no operation at {path_template}")


def resolved(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    """A schema with a local `$ref` (`#/components/schemas/X`) followed, else the schema itself."""
    ref = schema.get("$ref")
    if not ref:
        return schema
    return api_document()["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {})


def response_schema(operation: Operation, status: int) -> Mapping[str, Any] | None:
    """The JSON schema an operation documents for a status (exact, then `4XX`, then `default`)."""
    responses = operation.definition.get("responses", {})
    for key in (str(status), f"{status // 100}XX", "default"):
        if key in responses:
            content = responses[key].get("content", {})
            media = content.get("application/json") or next(iter(content.values()), None)
            return None if media is None else media.get("schema")
    return None


def documented_error_message(operation: Operation, status: int) -> str | None:
    """The example `message` the spec gives for an operation's error status, if it gives one.

    The one lookup of the spec's error examples: 401 "Bearer token missing or unknown" and 403
    "Bot access not allowed" are what the mock sends and what the checker expects.
    """
    schema = response_schema(operation, status) if status >= 400 else None
    if not schema or "$ref" not in schema:
        return None
    return resolved(schema).get("properties", {}).get("message", {}).get("example")


@cache
def security_header_names() -> frozenset[str]:
    """The request headers the spec's security schemes read (`Authorization` for bearer)."""
    names = set()
    for scheme in api_document().get("components", {}).get("securitySchemes", {}).values():
        if scheme.get("type") == "http":
            names.add("Authorization")
        elif scheme.get("type") == "apiKey" and scheme.get("in") == "header":
            names.add(scheme["name"])
    return frozenset(names)
