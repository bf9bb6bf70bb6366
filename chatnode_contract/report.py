"""What a contract check found, and its two renderings: a table for people, JSON for CI.

Kept apart from `checker.py` so the exit-code rule and the JSON schema (which CI jobs parse)
live in one small place, with no HTTP in sight.

JSON schema (`schema_version` 1; keys are only ever added, never renamed or removed):

    {
      "schema_version": 1,
      "base_url": str,
      "strict": bool,
      "conforms": bool,          # no findings at all and no error
      "breaking": bool,          # at least one breaking finding
      "exit_code": 0 | 1 | 2,
      "error": null | {"kind": "usage" | "auth" | "connection" | "timeout", "message": str},
      "bots": [{"bot": str, "status": int | null, "leads_checked": int,
                "order": ORDER, "timestamp_forms": FORMS,
                "breaking_findings": int, "additive_findings": int,
                "operations": [{"operation": "leads" | "chats", "call": str,
                                "status": int | null, "skipped": str | null,
                                "item": "lead" | "message", "items_checked": int,
                                "order": ORDER, "timestamp_forms": FORMS,
                                "breaking_findings": int, "additive_findings": int}]}],
      "probes": [{"probe": str, "description": str, "expected_status": int,
                  "status": int | null, "breaking_findings": int, "additive_findings": int,
                  "operation": str}],
      "findings": [{"bot": str | null, "probe": str | null, "operation": str, "field": str,
                    "kind": str, "severity": "breaking" | "additive", "count": int,
                    "detail": str,
                    "example": {"index": int | null, "id": str | null, "value": str | null}}]
    }
    ORDER = {"field": str | null, "direction": "ascending" | "descending" | "unordered" | "n/a",
             "steps_up": int, "steps_down": int}
    FORMS = {FIELD: {"fraction_digits": {"0".."5": int, "6+": int},
                     "offsets": {"Z": int, "+00:00": int, "other": int}, "unparseable": int}}

A bot makes one call per checked operation (`calls.CHECKED_OPERATIONS`), each listed under its
`operations`. The bot's own `status`, `leads_checked`, `order` and `timestamp_forms` are those of
its first call, the leads (as before there were others); its finding counts add up all its calls,
so a CI job reading only them still sees drift in the chats.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from chatnode_contract.drift import BODY, Finding, FormCounts, Order, Severity

SCHEMA_VERSION = 1

EXIT_OK = 0
"""The API conforms, or drifts only additively (printed as warnings)."""
EXIT_DRIFT = 1
"""Breaking drift, or (with `--strict`) any drift at all."""
EXIT_ABORTED = 2
"""The check could not run: bad usage, no connection, timeout, or credentials rejected."""


class Target(StrEnum):
    BOT = "bot"
    """A call of a checked operation for one of the `--bot`s with the real key (its leads, its
    chats)."""
    PROBE = "probe"
    """A call made to get a documented error response, to check its shape."""


@dataclass(frozen=True)
class TargetResult:
    """The outcome of one call: its status, and the drift found in its response."""

    target: Target
    name: str
    """The bot id, or the probe's name."""
    expected_status: int
    status: int | None
    findings: tuple[Finding, ...] = ()
    items_checked: int = 0
    timestamp_forms: Mapping[str, FormCounts] = field(default_factory=dict)
    order: Order = field(default_factory=lambda: Order(None, "n/a"))
    description: str = ""
    item: str = "item"
    """What one element of the body is, singular (`lead`), for the text report."""
    operation: str = ""
    """The checked operation's name (`leads`, `chats`); a probe's, the one it calls."""
    call: str = ""
    """Its method and path template, `POST /get-chats/{bot_id}`."""
    skipped: str | None = None
    """Why the call was not made (for a bot with nothing to ask); None when it was."""

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity is severity)


@dataclass(frozen=True)
class CheckError:
    """Why a check stopped early (exit 2); `message` says what to do and never holds a secret."""

    kind: str
    message: str


@dataclass(frozen=True)
class Report:
    base_url: str
    strict: bool
    results: tuple[TargetResult, ...] = ()
    error: CheckError | None = None

    @property
    def findings(self) -> list[tuple[TargetResult, Finding]]:
        return [(r, f) for r in self.results for f in r.findings]

    @property
    def breaking(self) -> bool:
        return any(f.severity is Severity.BREAKING for _, f in self.findings)

    @property
    def conforms(self) -> bool:
        return self.error is None and not self.findings

    @property
    def exit_code(self) -> int:
        """The one exit-code rule: could not check > breaking > strict and any drift > ok."""
        if self.error is not None:
            return EXIT_ABORTED
        if self.breaking or (self.strict and self.findings):
            return EXIT_DRIFT
        return EXIT_OK


# --- JSON --------------------------------------------------------------------------------


def to_json(report: Report) -> dict[str, Any]:
    """The report as the documented JSON document (see the module docstring)."""
    bots: dict[str, list[TargetResult]] = {}
    for result in report.results:
        if result.target is Target.BOT:
            bots.setdefault(result.name, []).append(result)
    probes = [r for r in report.results if r.target is Target.PROBE]
    return {
        "schema_version": SCHEMA_VERSION,
        "base_url": report.base_url,
        "strict": report.strict,
        "conforms": report.conforms,
        "breaking": report.breaking,
        "exit_code": report.exit_code,
        "error": None
        if report.error is None
        else {"kind": report.error.kind, "message": report.error.message},
        "bots": [_bot_json(name, calls) for name, calls in bots.items()],
        "probes": [
            {
                "probe": r.name,
                "description": r.description,
                "expected_status": r.expected_status,
                "status": r.status,
                **_severity_counts(r),
                "operation": r.operation,
            }
            for r in probes
        ],
        "findings": [
            {
                "bot": r.name if r.target is Target.BOT else None,
                "probe": r.name if r.target is Target.PROBE else None,
                "operation": r.operation,
                **f.to_json(),
            }
            for r, f in report.findings
        ],
    }


def _bot_json(name: str, calls: Sequence[TargetResult]) -> dict[str, Any]:
    """One bot: its first call's figures at the top (the schema's original keys), finding counts
    over all its calls, and every call under `operations`."""
    first = calls[0]
    return {
        "bot": name,
        "status": first.status,
        "leads_checked": first.items_checked,
        "order": first.order.to_json(),
        "timestamp_forms": _forms_json(first),
        **_severity_counts(*calls),
        "operations": [
            {
                "operation": r.operation,
                "call": r.call,
                "status": r.status,
                "skipped": r.skipped,
                "item": r.item,
                "items_checked": r.items_checked,
                "order": r.order.to_json(),
                "timestamp_forms": _forms_json(r),
                **_severity_counts(r),
            }
            for r in calls
        ],
    }


def _forms_json(result: TargetResult) -> dict[str, Any]:
    return {k: v.to_json() for k, v in result.timestamp_forms.items()}


def _severity_counts(*results: TargetResult) -> dict[str, int]:
    return {
        "breaking_findings": sum(r.count(Severity.BREAKING) for r in results),
        "additive_findings": sum(r.count(Severity.ADDITIVE) for r in results),
    }


# --- Text --------------------------------------------------------------------------------

_COLUMNS = ("FIELD", "KIND", "SEVERITY", "COUNT", "DETAIL", "EXAMPLE")


def render_text(report: Report, operation: str) -> str:
    """The human report: per bot a summary line and a findings table, then the probes, then
    one result line that says what the exit code means."""
    lines = [f"chatnode-contract: {operation} at {report.base_url}", ""]
    seen: set[str] = set()
    for result in report.results:
        if result.target is Target.BOT:
            lines += _bot_section(result, primary=result.name not in seen)
            seen.add(result.name)
    probes = [r for r in report.results if r.target is Target.PROBE]
    if probes:
        lines += ["Probes (the documented error responses):"]
        lines += _table(
            [
                [
                    r.name,
                    r.description,
                    f"expected {r.expected_status}, got {_status_text(r.status)}",
                    "ok" if not r.findings else f"{len(r.findings)} finding(s)",
                ]
                for r in probes
            ],
            header=None,
        )
        for r in probes:
            if r.findings:
                lines += ["", f"Probe {r.name}:", *_findings_table(r.findings)]
        lines.append("")
    lines.append(_result_line(report))
    return "\n".join(lines) + "\n"


def _bot_section(result: TargetResult, primary: bool) -> list[str]:
    """`Bot B: ...` for a bot's first call (its leads), `Bot B chats: ...` for the others."""
    label = f"Bot {result.name}" if primary else f"Bot {result.name} {result.operation}"
    if result.skipped is not None:
        return [f"{label}: skipped, {result.skipped}", ""]
    noun = result.item if result.items_checked == 1 else f"{result.item}s"
    head = f"{label}: HTTP {_status_text(result.status)}, {result.items_checked} {noun} checked"
    if result.order.field and result.order.direction != "n/a":
        head += f", {_order_text(result.order)}"
    lines = [head]
    for name, forms in result.timestamp_forms.items():
        lines.append(f"  {name} forms: {_forms_text(forms)}")
    lines += _findings_table(result.findings) if result.findings else ["  No drift."]
    return [*lines, ""]


def _order_text(order: Order) -> str:
    if order.direction == "unordered":
        return (
            f"unordered by {order.field} ({order.steps_down} steps back, {order.steps_up} forward)"
        )
    return f"{order.direction} by {order.field}"


def _forms_text(forms: FormCounts) -> str:
    data = forms.to_json()
    digits = " ".join(f"{k}:{v}" for k, v in data["fraction_digits"].items() if v)
    offsets = " ".join(f"{k}:{v}" for k, v in data["offsets"].items() if v)
    text = f"fraction digits {digits or '-'}; offsets {offsets or '-'}"
    return text + (f"; unparseable {forms.unparseable}" if forms.unparseable else "")


def _findings_table(findings: Sequence[Finding]) -> list[str]:
    rows = [
        [f.field, f.kind.value, f.severity.value, str(f.count), f.detail, _example_text(f)]
        for f in findings
    ]
    return _table(rows, header=list(_COLUMNS))


def _example_text(finding: Finding) -> str:
    parts = []
    if finding.example_index is not None:
        parts.append(f"#{finding.example_index}")
    if finding.example_id is not None:
        parts.append(finding.example_id)
    if finding.example_value is not None:
        parts.append(repr(finding.example_value))
    if not parts and finding.field == BODY:
        return "-"
    return " ".join(parts) or "-"


def _table(rows: list[list[str]], header: list[str] | None) -> list[str]:
    """Left-aligned columns, counts right-aligned, two spaces apart, indented under a heading."""
    all_rows = ([header] if header else []) + rows
    widths = [max(len(row[i]) for row in all_rows) for i in range(len(all_rows[0]))]
    out = []
    for row in all_rows:
        cells = [
            cell.rjust(width) if cell.isdigit() or cell == "COUNT" else cell.ljust(width)
            for cell, width in zip(row, widths, strict=True)
        ]
        out.append("  " + "  ".join(cells).rstrip())
    return out


def _status_text(status: int | None) -> str:
    return "-" if status is None else str(status)


def _result_line(report: Report) -> str:
    breaking = sum(1 for _, f in report.findings if f.severity is Severity.BREAKING)
    additive = len(report.findings) - breaking
    code = report.exit_code
    if report.error is not None:
        return (
            f"Result: check did not complete ({report.error.kind} error, see stderr); exit {code}"
        )
    if breaking:
        return f"Result: BREAKING drift ({breaking} breaking, {additive} additive findings); exit {code}"
    if additive:
        tail = "exit 1 (--strict)" if report.strict else "exit 0 (--strict would exit 1)"
        return f"Result: conforms, with WARNINGS: {additive} additive findings; {tail}"
    return f"Result: conforms to the spec; exit {code}"
