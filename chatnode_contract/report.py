"""What a contract check found: the kinds of finding, the exit-code rule, and the JSON document
for CI, from which the text report for people is drawn, so the two never differ."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    """Whether a client written against the spec keeps working (additive) or may not (breaking)."""

    BREAKING = "breaking"
    ADDITIVE = "additive"


class Kind(StrEnum):
    """The one table of finding kinds (`--help` and docs/contract.md list it), in report order."""

    severity: Severity
    meaning: str

    def __new__(cls, value: str, severity: Severity, meaning: str) -> Kind:
        kind = str.__new__(cls, value)
        kind._value_, kind.severity, kind.meaning = value, severity, meaning
        return kind

    # fmt: off
    UNDOCUMENTED_STATUS = "undocumented_status", Severity.BREAKING, "a status the spec does not document for the operation"
    UNEXPECTED_STATUS = "unexpected_status", Severity.BREAKING, "a documented status, but not the expected one (e.g. 200 for a made-up key)"
    CONTENT_TYPE_MISMATCH = "content_type_mismatch", Severity.BREAKING, "a Content-Type the spec does not document (the body is still judged as JSON)"
    NON_JSON_BODY = "non_json_body", Severity.BREAKING, "an empty body or one that is not strict JSON (an HTML page, a truncated array, NaN)"
    MISSING_REQUIRED = "missing_required", Severity.BREAKING, "openapi-core `required`: a required field is absent"
    NULL_NOT_NULLABLE = "null_not_nullable", Severity.BREAKING, "openapi-core `type` on null: null where the spec has no `nullable: true`"
    TYPE_MISMATCH = "type_mismatch", Severity.BREAKING, 'openapi-core `type`: another JSON type, e.g. `for_agent: "false"`, a body that is no array'
    INVALID_DATE_TIME = "invalid_date_time", Severity.BREAKING, "openapi-core `format: date-time`: not RFC 3339 (no leap seconds, `T`, an offset)"
    FORBIDDEN_FIELD = "forbidden_field", Severity.BREAKING, "openapi-core `additionalProperties`: a field the schema excludes"
    SCHEMA_VIOLATION = "schema_violation", Severity.BREAKING, "any other openapi-core error (enum, pattern, minimum, ...), named by its keyword"
    MISSING_SENT_MESSAGE = "missing_sent_message", Severity.BREAKING, "--send-test-message: the chat history lacks the test message and its reply"
    UNKNOWN_FIELD = "unknown_field", Severity.ADDITIVE, "a field the spec does not list (openapi-core allows it)"
    TIMESTAMP_FORM = "timestamp_form", Severity.ADDITIVE, "a valid date-time written unlike the spec's example: other fraction digits, `Z`, a non-UTC offset"
    # fmt: on


EXIT_CODES: Mapping[int, str] = {
    0: "the API conforms, or drifts only additively (printed as warnings)",
    1: "breaking drift; with --strict, any drift at all",
    2: "the check could not run: bad arguments, connection refused, timeout, the key rejected "
    "(401) or a --bot the key cannot read (403) on the real calls",
}
EXIT_OK, EXIT_DRIFT, EXIT_ABORTED = EXIT_CODES

SCHEMA_VERSION = 2
JSON_SCHEMA = """\
{"schema_version": 2, "base_url": str, "strict": bool,
 "conforms": bool,                  # no findings and no error
 "breaking": bool,                  # at least one breaking finding
 "exit_code": 0 | 1 | 2,
 "error": null | {"kind": "usage" | "auth" | "connection" | "timeout", "message": str},
 "bots": [{"bot": str, "breaking_findings": int, "additive_findings": int,   # over its calls
           "operations": [{"operation": "leads" | "chats" | "auth" | "send" | "sent",
                           "call": str, "status": int | null, "skipped": str | null,
                           "item": str, "items_checked": int, "order": ORDER,
                           "timestamp_forms": {FIELD: FORMS},
                           "breaking_findings": int, "additive_findings": int}]}],
 "probes": [{"probe": str, "description": str, "operation": str, "expected_status": int,
             "status": int | null, "breaking_findings": int, "additive_findings": int}],
 "findings": [{"bot": str | null, "probe": str | null, "operation": str, "field": str,
               "kind": KIND, "severity": "breaking" | "additive", "count": int, "detail": str,
               "example": {"index": int | null, "id": str | null, "value": str | null}}]}
ORDER = {"field": str | null, "direction": "ascending" | "descending" | "unordered" | "n/a",
         "steps_up": int, "steps_down": int}
FORMS = {"fraction_digits": {"0": int, ..., "5": int, "6+": int},
         "offsets": {"Z": int, "+00:00": int, "other": int}, "unparseable": int}"""
"""The one description of the `--json` document (`--help` and docs/contract.md show it)."""

BODY, ITEM = "(body)", "(item)"
"""The field labels of the body itself and of one array element as a whole."""


@dataclass(frozen=True)
class Finding:
    """One kind of drift at one field, aggregated over every item that shows it."""

    field: str
    kind: Kind
    detail: str
    count: int
    example_index: int | None = None
    """The first item showing it, when the body is an array, and its `session_id` or `id`."""
    example_id: str | None = None
    example_value: str | None = None
    """Only for `date-time` fields; other values may be personal data."""

    def sort_key(self) -> tuple[bool, int, str, str]:
        rank = list(Kind).index(self.kind)
        return (self.kind.severity is Severity.ADDITIVE, rank, self.field, self.detail)

    def to_json(self) -> dict[str, Any]:
        example = {"index": self.example_index, "id": self.example_id, "value": self.example_value}
        return {"field": self.field, "kind": self.kind.value, "severity": self.kind.severity.value,
                "count": self.count, "detail": self.detail, "example": example}  # fmt: skip


FRACTION_DIGITS = ("0", "1", "2", "3", "4", "5", "6+")
OFFSETS = ("Z", "+00:00", "other")


@dataclass
class FormCounts:
    """How one `date-time` field's values were written over all items; `unparseable` counts those
    openapi-core rejected. Every bucket is there, zeros included, so CI diffs of two runs line up."""

    fraction_digits: dict[str, int] = field(default_factory=dict.fromkeys(FRACTION_DIGITS, 0).copy)
    offsets: dict[str, int] = field(default_factory=dict.fromkeys(OFFSETS, 0).copy)
    unparseable: int = 0


@dataclass(frozen=True)
class Order:
    """How an array body's items are ordered by their first date-time field (`n/a`: fewer than two
    comparable items). The spec promises none; an incremental reader that assumes one must know."""

    field: str | None = None
    direction: str = "n/a"
    steps_up: int = 0
    steps_down: int = 0


def severity_counts(findings: Iterable[Finding]) -> dict[str, int]:
    found = Counter(f.kind.severity for f in findings)
    return {f"{s.value}_findings": found[s] for s in Severity}


CALL_KEYS = ("operation", "call", "status", "skipped", "item", "items_checked", "order",
             "timestamp_forms")  # fmt: skip
PROBE_KEYS = ("probe", "description", "operation", "expected_status", "status")


@dataclass(frozen=True)
class TargetResult:
    """The outcome of one call, a bot's (`bot` set) or a probe's (`probe` set): the checker fills
    in the labels before the call, the judge what the response showed."""

    bot: str | None
    probe: str | None
    operation: str
    """The name of the checked operation called (`leads`, `chats`, ...)."""
    call: str
    expected_status: int
    status: int | None = None
    findings: tuple[Finding, ...] = ()
    item: str = "item"
    """What one element of the body is (`lead`), for the text report."""
    items_checked: int = 0
    """Array elements for an array body; 1 for any other JSON body; 0 when it is not JSON."""
    timestamp_forms: Mapping[str, FormCounts] = field(default_factory=dict)
    order: Order = field(default_factory=Order)
    description: str = ""
    skipped: str | None = None
    """Why the call was not made (a bot with nothing to ask)."""

    def to_json(self) -> dict[str, Any]:
        """Its entry under its bot's `operations`, or under `probes`."""
        values = asdict(self)
        keys = CALL_KEYS if self.probe is None else PROBE_KEYS
        return {key: values[key] for key in keys} | severity_counts(self.findings)


class CheckError(Exception):
    """Why a check stopped early (exit 2): raised by the checker, kept in the `Report`. `kind` is
    the JSON's error kind; `message` says what to do and never holds a secret."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind, self.message = kind, message


@dataclass(frozen=True)
class Report:
    base_url: str
    strict: bool
    results: tuple[TargetResult, ...] = ()
    error: CheckError | None = None

    @property
    def findings(self) -> list[tuple[TargetResult, Finding]]:
        """Each call's findings, breaking first, then in `Kind` order."""
        return [(r, f) for r in self.results for f in sorted(r.findings, key=Finding.sort_key)]

    @property
    def breaking(self) -> bool:
        return any(f.kind.severity is Severity.BREAKING for _, f in self.findings)

    @property
    def exit_code(self) -> int:
        """The one exit-code rule: could not check > breaking > strict and any drift > ok."""
        if self.error is not None:
            return EXIT_ABORTED
        if self.breaking or (self.strict and self.findings):
            return EXIT_DRIFT
        return EXIT_OK


# --- JSON ----------------------------------------------------------------------------------


def to_json(report: Report) -> dict[str, Any]:
    """The report as the documented JSON document (`JSON_SCHEMA`)."""
    bots: dict[str, list[TargetResult]] = {}
    for result in report.results:
        if result.bot is not None:
            bots.setdefault(result.bot, []).append(result)
    return {
        "schema_version": SCHEMA_VERSION,
        "base_url": report.base_url,
        "strict": report.strict,
        "conforms": report.error is None and not report.findings,
        "breaking": report.breaking,
        "exit_code": report.exit_code,
        "error": report.error and {"kind": report.error.kind, "message": report.error.message},
        "bots": [
            {
                "bot": bot,
                **severity_counts(f for r in calls for f in r.findings),
                "operations": [r.to_json() for r in calls],
            }
            for bot, calls in bots.items()
        ],
        "probes": [r.to_json() for r in report.results if r.probe is not None],
        "findings": [
            {"bot": r.bot, "probe": r.probe, "operation": r.operation, **f.to_json()}
            for r, f in report.findings
        ],
    }


# --- Text, drawn from the JSON document ----------------------------------------------------

_COLUMNS = ["FIELD", "KIND", "SEVERITY", "COUNT", "DETAIL", "EXAMPLE"]


def render_text(doc: Mapping[str, Any]) -> str:
    """The human report: per call of each bot a summary line and a findings table, then the
    probes, then one result line that says what the exit code means."""
    found: dict[tuple[str | None, str | None, str], list[dict[str, Any]]] = {}
    for f in doc["findings"]:
        found.setdefault((f["bot"], f["probe"], f["operation"]), []).append(f)
    lines = [f"chatnode-contract: {doc['base_url']} against the bundled OpenAPI spec", ""]
    for bot in doc["bots"]:
        for call in bot["operations"]:
            own = found.get((bot["bot"], None, call["operation"]), [])
            lines += _call_section(bot["bot"], call, own)
    probes = [(p, found.get((None, p["probe"], p["operation"]), [])) for p in doc["probes"]]
    if probes:
        lines.append("Probes (the documented error responses):")
        lines += table(
            [p["probe"], p["description"], f"expected {p['expected_status']}, got {p['status']}",
             f"{len(own)} finding(s)" if own else "ok"]
            for p, own in probes
        )  # fmt: skip
        for p, own in probes:
            if own:
                lines += ["", f"Probe {p['probe']}:", *_findings_table(own)]
        lines.append("")
    lines.append(_result_line(doc))
    return "\n".join(lines) + "\n"


def _call_section(bot: str, call: Mapping[str, Any], found: list[dict[str, Any]]) -> list[str]:
    """`Bot B: ...` for a bot's leads, `Bot B chats: ...` for its other calls."""
    label = f"Bot {bot}" if call["operation"] == "leads" else f"Bot {bot} {call['operation']}"
    if call["skipped"] is not None:
        return [f"{label}: skipped, {call['skipped']}", ""]
    n = call["items_checked"]
    head = f"{label}: HTTP {call['status']}, {n} {call['item']}{'' if n == 1 else 's'} checked"
    order = call["order"]
    if order["direction"] == "unordered":
        head += f", unordered by {order['field']} ({order['steps_down']} steps back, "
        head += f"{order['steps_up']} forward)"
    elif order["direction"] != "n/a":
        head += f", {order['direction']} by {order['field']}"
    lines = [head]
    for name, forms in call["timestamp_forms"].items():
        digits = " ".join(f"{k}:{v}" for k, v in forms["fraction_digits"].items() if v) or "-"
        offsets = " ".join(f"{k}:{v}" for k, v in forms["offsets"].items() if v) or "-"
        bad = f"; unparseable {forms['unparseable']}" if forms["unparseable"] else ""
        lines.append(f"  {name} forms: fraction digits {digits}; offsets {offsets}{bad}")
    return [*lines, *(_findings_table(found) if found else ["  No drift."]), ""]


def _findings_table(found: Sequence[Mapping[str, Any]]) -> list[str]:
    rows = [_COLUMNS]
    for f in found:
        example = f["example"]
        index = "" if example["index"] is None else f"#{example['index']}"
        value = "" if example["value"] is None else repr(example["value"])
        shown = " ".join(s for s in (index, example["id"], value) if s) or "-"
        rows.append([f["field"], f["kind"], f["severity"], str(f["count"]), f["detail"], shown])
    return table(rows)


def table(rows: Iterable[Sequence[str]]) -> list[str]:
    """Left-aligned columns (counts right-aligned), two spaces apart, indented two."""
    rows = list(rows)
    widths = [max(map(len, column)) for column in zip(*rows, strict=True)]
    return [
        "  "
        + "  ".join(
            c.rjust(w) if c.isdigit() or c == "COUNT" else c.ljust(w)
            for c, w in zip(row, widths, strict=True)
        ).rstrip()
        for row in rows
    ]


def _result_line(doc: Mapping[str, Any]) -> str:
    severities = Counter(f["severity"] for f in doc["findings"])
    breaking, additive, code = severities["breaking"], severities["additive"], doc["exit_code"]
    if doc["error"] is not None:
        return f"Result: check did not complete ({doc['error']['kind']} error, see stderr); exit {code}"
    if breaking:
        return f"Result: BREAKING drift ({breaking} breaking, {additive} additive findings); exit {code}"
    if additive:
        tail = "exit 1 (--strict)" if doc["strict"] else "exit 0 (--strict would exit 1)"
        return f"Result: conforms, with WARNINGS: {additive} additive findings; {tail}"
    return f"Result: conforms to the spec; exit {code}"
