"""Fault injection: the bad days of a real API, on demand and reproducible.

A `FaultRule(kind, **fields)` says what goes wrong and when (every request, one route, one bot,
the next N requests, a seeded fraction p). A `FaultPlan` holds rules in order; the first that
matches a request decides it. `KINDS` and `OPTIONS` are the one description of the syntax
(`WHAT[:OPTION=VALUE]...`): the parser, the CLI help and docs/sandbox.md all read them.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from functools import partial
from itertools import chain
from typing import Any, NamedTuple

from mock_server.responses import MockResponse, error_response, json_array

ROUTES = {
    "leads": ("POST", "/get-conversation-ids/{bot_id}"),
    "chats": ("POST", "/get-chats/{bot_id}"),
    "send": ("POST", "/{bot_id}"),
    "auth": ("GET", "/auth_me"),
}
"""Each API operation by the name a rule scopes it with (`route=`); the service answers each with
its method `_serve_<name>`, so the names are written only here."""


NormalResponse = Callable[[], MockResponse]


class Kind(NamedTuple):
    """How a kind is written, what it answers, its own fields, and its one response, made from the
    rule, the normal response (built only if needed) and the normal 200's element chunks."""

    syntax: str
    answer: str
    own: tuple[str, ...]
    respond: Callable[[FaultRule, NormalResponse, Iterator[bytes]], MockResponse]


class Option(NamedTuple):
    """A `NAME=VALUE` field: its type, the values it takes, and what it means."""

    type: type
    valid: Callable[[Any], bool]
    meaning: str


OPTIONS: dict[str, Option] = {
    "retry_after": Option(
        float, lambda v: 0 <= v < math.inf, "SECONDS: adds `Retry-After` (status only)"
    ),
    "message": Option(str, lambda v: True, "TEXT: the error message (status only)"),
    "route": Option(str, ROUTES.__contains__, f"{'|'.join(ROUTES)}: only that endpoint"),
    "bot": Option(str, bool, "BOT_ID: only that bot"),
    "times": Option(int, lambda v: v >= 1, "N: only the next N matching requests, then spent"),
    "p": Option(float, lambda v: 0 <= v <= 1, "FRACTION: a seeded fraction of matching requests"),
    "seed": Option(int, lambda v: True, "S: the seed of `p`'s draws (default 0)"),
}
FIELDS = {
    "status": Option(int, lambda v: 100 <= v <= 599, "an HTTP status"),
    "seconds": Option(float, lambda v: 0 <= v < math.inf, "latency in seconds"),
    **OPTIONS,
}


@dataclass(frozen=True)
class FaultRule:
    """A fault and when it applies. All scopes given must hold; none given means every request."""

    kind: str
    """One of KINDS."""
    status: int | None = None
    retry_after: float | None = None
    message: str | None = None
    seconds: float | None = None
    route: str | None = None
    bot: str | None = None
    times: int | None = None
    p: float | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        """The one validator of a rule, whichever way it was made (Python, CLI, admin JSON)."""
        kind = KINDS.get(self.kind) if isinstance(self.kind, str) else None
        if kind is None:
            raise ValueError(f"unknown kind {self.kind!r}; use {', '.join(k.syntax for k in KINDS.values())}")  # fmt: skip
        own = kind.own
        if own and getattr(self, own[0]) is None:
            raise ValueError(f"a {self.kind} fault needs {own[0]}=")
        for name, value in asdict(self).items():
            field = FIELDS.get(name)
            if field is None or value is None:
                continue
            if name not in own and any(name in k.own for k in KINDS.values()):
                raise ValueError(f"{name} does not apply to a {self.kind} fault")
            if field.type is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, field.type) or isinstance(value, bool):
                raise ValueError(f"{name} must be a {field.type.__name__}, got {value!r}")
            if not field.valid(value):
                raise ValueError(f"{name}={value!r} is not valid; {name}={field.meaning}")
            object.__setattr__(self, name, value)

    @property
    def label(self) -> str:
        """Short name for the journal: `status:429`, `latency:1.5`, `drop`, ..."""
        value = {"status": self.status, "latency": self.seconds}.get(self.kind)
        return self.kind if value is None else f"{self.kind}:{seconds_text(value)}"

    def to_json(self) -> dict[str, Any]:
        """Every field that is set, zeros and empty texts included."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaultRule:
        """`{"spec": "429:times=3"}` or the fields of `to_json`."""
        if set(data) == {"spec"}:
            return parse_fault(str(data["spec"]))
        unknown = set(data) - {"kind", *FIELDS}
        if unknown:
            raise ValueError(f"unknown fault fields {sorted(unknown)}; known: kind, {', '.join(FIELDS)}")  # fmt: skip
        return cls(**data)


def seconds_text(value: float) -> str:
    """`2` for 2.0, `0.125` for 0.125: exact, as a client parsing it back must get the same."""
    return str(int(value)) if value == int(value) else repr(value)


def parse_fault(text: str) -> FaultRule:
    """A rule from the CLI syntax, `WHAT[:OPTION=VALUE]...` (see KINDS and OPTIONS)."""
    head, *options = text.strip().split(":")
    name, _, value = head.partition("=")
    data: dict[str, Any] = {"kind": head}
    try:
        if head.isdigit():
            data = {"kind": "status", "status": int(head)}
        elif name == "latency":
            data = {"kind": "latency", "seconds": float(value)}
        for option in options:
            name, sep, value = option.partition("=")
            if not sep or name not in OPTIONS:
                raise ValueError(f"option {option!r} is not one of {', '.join(OPTIONS)}=VALUE")
            data[name] = OPTIONS[name].type(value)
        return FaultRule(**data)
    except ValueError as exc:
        raise ValueError(f"fault {text!r}: {exc}") from None


# One constructor per kind, for Python callers: `status(429, retry_after=0, times=1)`.
def status(code: int, **fields: Any) -> FaultRule:
    return FaultRule("status", status=code, **fields)


def latency(seconds: float, **fields: Any) -> FaultRule:
    return FaultRule("latency", seconds=seconds, **fields)


drop = partial(FaultRule, "drop")
truncated = partial(FaultRule, "truncated")
html = partial(FaultRule, "html")
non_object = partial(FaultRule, "non_object")


@dataclass(eq=False)
class InjectedFault:
    """A rule in a plan, with its countdown and its own seeded draw sequence; the handle
    `inject` returns: `remove()` it (False if already spent or cleared), or use it in a `with`."""

    id: int
    rule: FaultRule
    remaining: int | None
    draws: random.Random
    plan: FaultPlan

    def remove(self) -> bool:
        return self.plan.remove(self.id)

    def __enter__(self) -> InjectedFault:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


class FaultPlan:
    """The ordered fault rules in force; thread-safe, as tests change it while the server runs."""

    def __init__(self, rules: Iterable[FaultRule] = ()) -> None:
        self._lock = threading.Lock()
        self._rules: list[InjectedFault] = []
        self._next_id = 1
        self.replace(rules)

    def add(self, rule: FaultRule) -> InjectedFault:
        """Append a rule (it matches after the ones already there)."""
        with self._lock:
            self._next_id += 1
            active = InjectedFault(self._next_id - 1, rule, rule.times, random.Random(rule.seed or 0), self)  # fmt: skip
            self._rules.append(active)
            return active

    def remove(self, rule_id: int) -> bool:
        with self._lock:
            kept = [r for r in self._rules if r.id != rule_id]
            removed, self._rules = len(kept) != len(self._rules), kept
            return removed

    def replace(self, rules: Iterable[FaultRule]) -> None:
        """Start over with these rules (fresh countdowns and draw sequences); none clears."""
        with self._lock:
            self._rules = []
        for rule in rules:
            self.add(rule)

    def clear(self) -> None:
        self.replace(())

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{"id": r.id, **r.rule.to_json(), "remaining": r.remaining} for r in self._rules]

    def pick(self, bot_id: str | None, route: str | None = None) -> FaultRule | None:
        """The rule for a request to `route` for `bot_id`, if any: the first that matches, has
        requests left and wins its draw; spent rules go."""
        with self._lock:
            for active in self._rules:
                rule = active.rule
                if rule.bot not in (None, bot_id) or rule.route not in (None, route):
                    continue
                if rule.p is not None and active.draws.random() >= rule.p:
                    continue
                if active.remaining is not None:
                    active.remaining -= 1
                    if active.remaining == 0:
                        self._rules.remove(active)
                return rule
            return None


def _status(rule: FaultRule, normal: NormalResponse, elements: Iterator[bytes]) -> MockResponse:
    code = rule.status or 500
    headers = {} if rule.retry_after is None else {"Retry-After": seconds_text(rule.retry_after)}
    message = rule.message or f"Injected fault: the API answers {code}; retry or check the plan"
    return error_response(code, message, headers=headers)


def _truncated(rule: FaultRule, normal: NormalResponse, elements: Iterator[bytes]) -> MockResponse:
    first = next((chunk for chunk in elements if chunk), b"")
    # Cut inside the first chunk, never on a boundary that leaves valid JSON.
    return MockResponse(200, b"[" + first[: max(len(first) // 2, 1)] if first else b'[{"id":"')


_HTML_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n"
    b"<body><h1>Bad Gateway</h1><p>The upstream server returned an invalid response.</p>"
    b"</body></html>\n"
)
NON_OBJECT_ELEMENT = b'"record-unavailable"'
"""The string a `non_object` fault puts among the records (leads or messages)."""


def _non_object(rule: FaultRule, normal: NormalResponse, elements: Iterator[bytes]) -> MockResponse:
    # After the first chunk of records, or alone in an empty list.
    first = next((chunk for chunk in elements if chunk), b"")
    return MockResponse(200, chunks=json_array(chain((first, NON_OBJECT_ELEMENT), elements)))


KINDS: dict[str, Kind] = {
    "status": Kind("`429`, `500`, `503`, ... any status", "that status with the generic error body",
               ("status", "retry_after", "message"), _status),
    "latency": Kind("`latency=SECONDS`", "waits, then answers normally", ("seconds",),
                lambda rule, normal, _: replace(normal(), delay=rule.seconds or 0.0)),
    "drop": Kind("`drop`", "sends headers and part of the body, then closes the connection", (),
             lambda rule, normal, _: replace(normal(), abort=True, conforming=False)),
    "truncated": Kind("`truncated`", "200, the JSON array cut off mid-way", (), _truncated),
    "html": Kind("`html`", "200, an HTML error page as `text/html`, as a proxy or CDN sends", (),
             lambda *_: MockResponse(200, _HTML_PAGE, content_type="text/html; charset=utf-8")),
    "non_object": Kind("`non_object`", f"200, an array with one string element, "
                   f"{NON_OBJECT_ELEMENT.decode()}, among the records", (), _non_object),
}  # fmt: skip
"""Each kind of fault, how it is written, and the one response it produces:
`KINDS[rule.kind].respond(rule, normal, elements)`."""
