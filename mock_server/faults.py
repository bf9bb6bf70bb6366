"""Fault injection: the bad days of a real API, on demand and reproducible.

A `FaultRule` says what goes wrong (a `Fault`) and when (every request, one route, one bot, the
next N requests, a seeded fraction p). A `FaultPlan` holds rules in order; the first that matches
a request decides it. `FAULT_RESPONSES` maps each kind of fault to the one response it produces.

CLI / admin syntax, one rule per string: `WHAT[:OPTION=VALUE]...`
  WHAT:    an HTTP status (`429`, `500`, `502`, `503`, `404`, ...), `latency=SECONDS`, `drop`,
           `truncated`, `html` or `non_object`
  OPTIONS: `retry_after=SECONDS` (status only), `message=TEXT` (status only),
           `route=leads|chats|send|auth`, `bot=BOT_ID`, `times=N`, `p=FRACTION`, `seed=S` (for p; default 0)
  e.g.     `429:retry_after=2:times=3`, `503:p=0.2:seed=7`, `drop:bot=bot-a`, `500:route=chats`
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from enum import StrEnum
from itertools import chain
from typing import Any

from mock_server.responses import MockResponse, error_response, json_array

ROUTES = ("leads", "chats", "send", "auth")
"""The API routes a rule can be scoped to: `leads` is POST /get-conversation-ids/{bot_id},
`chats` is POST /get-chats/{bot_id}, `send` is POST /{bot_id} (Send Message), `auth` is
GET /auth_me (the service names its handlers after these)."""


class FaultKind(StrEnum):
    STATUS = "status"
    """Answer with any status and the generic error body; 429/503 may carry `Retry-After`."""
    LATENCY = "latency"
    """Wait, then answer normally."""
    DROP = "drop"
    """Start the normal response, then break the connection mid-body."""
    TRUNCATED = "truncated"
    """200 with the array cut off mid-way: invalid JSON."""
    HTML = "html"
    """200 with an HTML error page, as a misconfigured proxy or CDN sends."""
    NON_OBJECT = "non_object"
    """200 with an array in which one element is a string, not an object."""


@dataclass(frozen=True)
class Fault:
    """What goes wrong."""

    kind: FaultKind
    status: int | None = None
    retry_after: float | None = None
    message: str | None = None
    seconds: float = 0.0

    @property
    def label(self) -> str:
        """Short name for the journal: `status:429`, `latency:1.5`, `drop`, ..."""
        if self.kind is FaultKind.STATUS:
            return f"status:{self.status}"
        if self.kind is FaultKind.LATENCY:
            return f"latency:{self.seconds:g}"
        return self.kind.value


@dataclass(frozen=True)
class FaultRule:
    """A fault and when it applies. All scopes given must hold; none given means every request."""

    fault: Fault
    bot: str | None = None
    """Only requests for this bot."""
    times: int | None = None
    """Only the next N matching requests, then the rule is spent."""
    p: float | None = None
    """Only a fraction of matching requests, drawn from a generator seeded with `seed`."""
    seed: int = 0
    route: str | None = None
    """Only requests to this route (one of ROUTES)."""

    def __post_init__(self) -> None:
        if self.times is not None and self.times < 1:
            raise ValueError(f"times must be >= 1, got {self.times}")
        if self.p is not None and not 0.0 <= self.p <= 1.0:
            raise ValueError(f"p must be within [0, 1], got {self.p}")
        if self.route is not None and self.route not in ROUTES:
            raise ValueError(f"route must be one of {', '.join(ROUTES)}, got {self.route!r}")

    def to_json(self) -> dict[str, Any]:
        scope = {"route": self.route, "bot": self.bot, "times": self.times, "p": self.p}
        data: dict[str, Any] = {"kind": self.fault.kind.value}
        data.update({k: v for k, v in vars(self.fault).items() if k != "kind" and v})
        data.update({k: v for k, v in scope.items() if v is not None})
        if self.p is not None:
            data["seed"] = self.seed
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaultRule:
        """`{"spec": "429:times=3"}` or the fields of `to_json`."""
        if "spec" in data:
            return parse_fault(str(data["spec"]))
        known = {"kind", "status", "retry_after", "message", "seconds", "route", "bot", "times", "p", "seed"}  # fmt: skip
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault fields {sorted(unknown)}; known: {sorted(known)}")
        fault = Fault(
            FaultKind(data.get("kind", "status")),
            data.get("status"),
            data.get("retry_after"),
            data.get("message"),
            float(data.get("seconds", 0.0)),
        )
        return cls(
            fault,
            data.get("bot"),
            data.get("times"),
            data.get("p"),
            data.get("seed", 0),
            data.get("route"),
        )


# Constructors, one per kind; scope keywords are those of FaultRule.


def status(
    code: int,
    *,
    retry_after: float | None = None,
    message: str | None = None,
    bot: str | None = None,
    times: int | None = None,
    p: float | None = None,
    seed: int = 0,
    route: str | None = None,
) -> FaultRule:
    """Answer `code` with the generic error body (and `Retry-After` when given)."""
    if not 100 <= code <= 599:
        raise ValueError(f"status code {code} is not an HTTP status")
    fault = Fault(FaultKind.STATUS, code, retry_after, message)
    return FaultRule(fault, bot, times, p, seed, route)


def latency(
    seconds: float, *, bot: str | None = None, times: int | None = None, p: float | None = None,
    seed: int = 0, route: str | None = None,
) -> FaultRule:  # fmt: skip
    """Wait `seconds` before answering normally."""
    if seconds < 0:
        raise ValueError(f"latency must be >= 0 seconds, got {seconds}")
    return FaultRule(Fault(FaultKind.LATENCY, seconds=seconds), bot, times, p, seed, route)


def drop(
    *, bot: str | None = None, times: int | None = None, p: float | None = None, seed: int = 0,
    route: str | None = None,
) -> FaultRule:  # fmt: skip
    """Break the connection after the headers and part of the body."""
    return FaultRule(Fault(FaultKind.DROP), bot, times, p, seed, route)


def truncated(
    *, bot: str | None = None, times: int | None = None, p: float | None = None, seed: int = 0,
    route: str | None = None,
) -> FaultRule:  # fmt: skip
    """200 with a body cut off mid-array."""
    return FaultRule(Fault(FaultKind.TRUNCATED), bot, times, p, seed, route)


def html(
    *, bot: str | None = None, times: int | None = None, p: float | None = None, seed: int = 0,
    route: str | None = None,
) -> FaultRule:  # fmt: skip
    """200 with an HTML page instead of JSON."""
    return FaultRule(Fault(FaultKind.HTML), bot, times, p, seed, route)


def non_object(
    *, bot: str | None = None, times: int | None = None, p: float | None = None, seed: int = 0,
    route: str | None = None,
) -> FaultRule:  # fmt: skip
    """200 with an array in which one element is not an object."""
    return FaultRule(Fault(FaultKind.NON_OBJECT), bot, times, p, seed, route)


_SIMPLE_KINDS = {k.value: k for k in (FaultKind.DROP, FaultKind.TRUNCATED, FaultKind.HTML, FaultKind.NON_OBJECT)}  # fmt: skip


def parse_fault(text: str) -> FaultRule:
    """A rule from the CLI syntax (see the module docstring)."""
    head, *options = text.strip().split(":")
    opts: dict[str, str] = {}
    for option in options:
        name, sep, value = option.partition("=")
        if not sep or not name:
            raise ValueError(f"fault {text!r}: option {option!r} is not NAME=VALUE")
        opts[name.strip()] = value.strip()
    allowed = {"route", "bot", "times", "p", "seed"}
    try:
        scope: dict[str, Any] = {
            "route": opts.get("route"),
            "bot": opts.get("bot"),
            "times": int(opts["times"]) if "times" in opts else None,
            "p": float(opts["p"]) if "p" in opts else None,
            "seed": int(opts.get("seed", 0)),
        }
        if head.isdigit():
            allowed |= {"retry_after", "message"}
            retry = float(opts["retry_after"]) if "retry_after" in opts else None
            rule = status(int(head), retry_after=retry, message=opts.get("message"), **scope)
        elif head.startswith("latency="):
            rule = latency(float(head.partition("=")[2]), **scope)
        elif head in _SIMPLE_KINDS:
            rule = FaultRule(Fault(_SIMPLE_KINDS[head]), **scope)
        else:
            raise ValueError(
                f"fault {text!r}: unknown kind {head!r}; use a status code, latency=SECONDS, "
                f"{', '.join(_SIMPLE_KINDS)}"
            )
    except (KeyError, ValueError) as exc:
        if str(exc).startswith("fault "):
            raise
        raise ValueError(f"fault {text!r}: {exc}") from exc
    if set(opts) - allowed:
        raise ValueError(f"fault {text!r}: unknown options {sorted(set(opts) - allowed)}")
    return rule


@dataclass
class _ActiveRule:
    """A rule in a plan, with its countdown and its own seeded draw sequence."""

    id: int
    rule: FaultRule
    remaining: int | None
    draws: random.Random = field(repr=False)

    def fires(self, bot_id: str | None, route: str | None) -> bool:
        rule = self.rule
        if rule.bot is not None and rule.bot != bot_id:
            return False
        if rule.route is not None and rule.route != route:
            return False
        if self.remaining is not None and self.remaining <= 0:
            return False
        if rule.p is not None and self.draws.random() >= rule.p:
            return False
        if self.remaining is not None:
            self.remaining -= 1
        return True


class FaultPlan:
    """The ordered fault rules in force; thread-safe, as tests change it while the server runs."""

    def __init__(self, rules: Iterable[FaultRule] = ()) -> None:
        self._lock = threading.Lock()
        self._rules: list[_ActiveRule] = []
        self._next_id = 1
        for rule in rules:
            self.add(rule)

    def add(self, rule: FaultRule) -> int:
        """Append a rule (it matches after the ones already there); returns its id."""
        with self._lock:
            rule_id = self._next_id
            self._next_id += 1
            draws = random.Random(rule.seed)
            self._rules.append(_ActiveRule(rule_id, rule, rule.times, draws))
            return rule_id

    def remove(self, rule_id: int) -> bool:
        with self._lock:
            before = len(self._rules)
            self._rules = [r for r in self._rules if r.id != rule_id]
            return len(self._rules) != before

    def clear(self) -> None:
        with self._lock:
            self._rules = []

    def replace(self, rules: Iterable[FaultRule]) -> None:
        """Start over with these rules (fresh countdowns and draw sequences)."""
        self.clear()
        for rule in rules:
            self.add(rule)

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{"id": r.id, **r.rule.to_json(), "remaining": r.remaining} for r in self._rules]

    def pick(self, bot_id: str | None, route: str | None = None) -> Fault | None:
        """The fault for a request to `route` for `bot_id`, if any: the first rule that fires;
        spent rules go."""
        with self._lock:
            if not self._rules:
                return None
            for active in self._rules:
                if active.fires(bot_id, route):
                    if active.remaining == 0:
                        self._rules.remove(active)
                    return active.rule.fault
            return None


NormalResponse = Callable[[], MockResponse]
FaultResponse = Callable[[Fault, NormalResponse, Iterator[bytes]], MockResponse]
"""A fault's response from: the fault, the normal response (built only if needed), and the
elements the normal 200 would hold (leads or messages) as JSON chunks (none when the caller may
not see them)."""


def _status_response(
    fault: Fault, normal: NormalResponse, elements: Iterator[bytes]
) -> MockResponse:
    code = fault.status or 500
    headers = {}
    if fault.retry_after is not None:
        headers["Retry-After"] = f"{fault.retry_after:g}"
    message = fault.message or f"Injected fault: the API answers {code}; retry or check the plan"
    return error_response(code, message, headers=headers)


def _latency_response(
    fault: Fault, normal: NormalResponse, elements: Iterator[bytes]
) -> MockResponse:
    return replace(normal(), delay=fault.seconds)


def _drop_response(fault: Fault, normal: NormalResponse, elements: Iterator[bytes]) -> MockResponse:
    return replace(normal(), abort=True, conforming=False)


def _truncated_response(
    fault: Fault, normal: NormalResponse, elements: Iterator[bytes]
) -> MockResponse:
    first = next((chunk for chunk in elements if chunk), b"")
    # Cut inside the first chunk, never on a boundary that leaves valid JSON.
    body = b"[" + first[: max(len(first) // 2, 1)] if first else b'[{"session_id":"'
    return MockResponse(200, body)


_HTML_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n"
    b"<body><h1>Bad Gateway</h1><p>The upstream server returned an invalid response.</p>"
    b"</body></html>\n"
)


def _html_response(fault: Fault, normal: NormalResponse, elements: Iterator[bytes]) -> MockResponse:
    return MockResponse(200, _HTML_PAGE, content_type="text/html; charset=utf-8")


def _non_object_response(
    fault: Fault, normal: NormalResponse, elements: Iterator[bytes]
) -> MockResponse:
    # A string where a lead (or message) should be, after the first chunk of them (a whole
    # generated chunk, an appended batch, a session's messages), or alone in an empty list.
    first = next((chunk for chunk in elements if chunk), b"")
    return MockResponse(200, chunks=json_array(chain((first, b'"lead-unavailable"'), elements)))


FAULT_RESPONSES: dict[FaultKind, FaultResponse] = {
    FaultKind.STATUS: _status_response,
    FaultKind.LATENCY: _latency_response,
    FaultKind.DROP: _drop_response,
    FaultKind.TRUNCATED: _truncated_response,
    FaultKind.HTML: _html_response,
    FaultKind.NON_OBJECT: _non_object_response,
}
"""Each kind of fault and the one response it produces."""


def fault_response(fault: Fault, normal: NormalResponse, elements: Iterator[bytes]) -> MockResponse:
    """The response for a request that a fault rule picked."""
    return FAULT_RESPONSES[fault.kind](fault, normal, elements)
