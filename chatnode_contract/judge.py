"""Judging one response: openapi-core decides whether it conforms, drift explains how it does not.

openapi-core is the authority on status, content type and body; `drift.py` explains the body per
field. Any openapi-core error that drift does not explain still becomes a finding, so nothing the
spec forbids can slip through as "conforms".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence

import httpx
from openapi_core.deserializing.media_types.exceptions import MediaTypeDeserializeError
from openapi_core.templating.media_types.exceptions import MediaTypeNotFound
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_core.validation.schemas.exceptions import InvalidSchemaValue

from chatnode_contract.drift import (
    BODY,
    BodyReport,
    Finding,
    Kind,
    Severity,
    analyze_body,
    field_label,
)
from chatnode_spec import (
    Operation,
    SpecRequest,
    SpecResponse,
    api_document,
    openapi,
    response_schema,
)

STATUS_FIELD = "(status)"
CONTENT_TYPE_FIELD = "(content-type)"


def judge(
    request: httpx.Request,
    response: httpx.Response,
    base_url: httpx.URL,
    operation: Operation,
    expected: int,
) -> tuple[list[Finding], BodyReport | None]:
    """Findings for one response of `operation`, and the drift report of its body (None when the
    spec gives no schema for its status)."""
    core_errors = list(
        openapi().iter_response_errors(
            SpecRequest.from_httpx(request, base_url), SpecResponse.from_httpx(response)
        )
    )
    status = response.status_code
    findings: list[Finding] = []
    undocumented = any(isinstance(e, ResponseNotFound) for e in core_errors)
    if undocumented:
        documented = ", ".join(operation.definition.get("responses", {}))
        detail = f"HTTP {status} is not documented (the spec has {documented})"
        findings.append(Finding(STATUS_FIELD, Kind.UNDOCUMENTED_STATUS, detail + _hint(status), 1))
    elif status != expected:
        detail = f"expected {expected}, got {status}"
        findings.append(Finding(STATUS_FIELD, Kind.UNEXPECTED_STATUS, detail, 1))
    schema = None if undocumented else response_schema(operation, status)
    body = None
    if schema is not None:
        body = analyze_body(response.content, schema, api_document())
        findings += body.findings
    return findings + core_findings(core_errors, findings), body


def core_findings(core_errors: Sequence[Exception], found: Sequence[Finding]) -> list[Finding]:
    """openapi-core's errors as findings, aggregated like drift's; a body error is left out
    when drift already found something breaking at the same field (it explains it)."""
    explained = {f.field for f in found if f.severity is Severity.BREAKING}
    counts: Counter[tuple[str, Kind, str]] = Counter()
    first_index: dict[tuple[str, Kind, str], int | None] = {}
    for label, kind, detail, index in _core_error_rows(core_errors):
        if kind is Kind.SCHEMA_VIOLATION and label in explained:
            continue
        counts[label, kind, detail] += 1
        first_index.setdefault((label, kind, detail), index)
    return [
        Finding(label, kind, detail, count, first_index[label, kind, detail])
        for (label, kind, detail), count in counts.items()
    ]


def _core_error_rows(
    core_errors: Sequence[Exception],
) -> Iterator[tuple[str, Kind, str, int | None]]:
    """(field label, kind, detail, item index) per openapi-core error, one table for all of
    them. Details name the failed schema keyword, never the value (it may be personal data)."""
    for error in core_errors:
        cause = error.__cause__
        if isinstance(error, ResponseNotFound):
            continue  # the status finding, made by `judge`
        if isinstance(cause, MediaTypeNotFound):
            got = cause.mimetype or "no content type"
            detail = f"got {got!r}; the spec has {', '.join(cause.availableMimetypes)}"
            yield CONTENT_TYPE_FIELD, Kind.CONTENT_TYPE_MISMATCH, detail, None
        elif isinstance(cause, MediaTypeDeserializeError):
            yield BODY, Kind.SCHEMA_VIOLATION, "openapi-core could not deserialize the body", None
        elif isinstance(cause, InvalidSchemaValue):
            for schema_error in cause.schema_errors:
                path = list(schema_error.absolute_path)
                index = path[0] if path and isinstance(path[0], int) else None
                keyword = schema_error.validator
                if keyword == "required" and isinstance(schema_error.instance, dict):
                    for name in schema_error.validator_value:
                        if name not in schema_error.instance:
                            label = field_label([*path, name])
                            yield label, Kind.SCHEMA_VIOLATION, "openapi-core: required", index
                else:
                    rule = repr(schema_error.validator_value)[:60]
                    detail = f"openapi-core: {keyword} {rule} failed"
                    yield field_label(path), Kind.SCHEMA_VIOLATION, detail, index
        else:
            yield BODY, Kind.SCHEMA_VIOLATION, f"openapi-core: {type(error).__name__}", None


def _hint(status: int) -> str:
    """What an undocumented status most likely means, for the finding's detail."""
    if status == 429 or status >= 500:
        return "; may be transient, rerun to confirm"
    if 300 <= status < 400:
        return "; redirects are not followed: check --base-url"
    return ""
