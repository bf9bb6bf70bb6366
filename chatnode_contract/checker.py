"""One run of the check: call the API with httpx, have each response judged, collect a `Report`.

Each bot gets every row of `calls.CHECKED_OPERATIONS` with the real key, in order (a row with
nothing to ask is reported as skipped); then the probes draw the documented error responses. Bots
go first, so rejected credentials stop the run (exit 2) before anything else is called. Nothing
is retried and redirects are not followed: a 429, a 5xx or a 3xx is reported as what it is.

The API key only ever travels in the `Authorization` header; no message is built from a
request's headers, and every message is scrubbed of the key anyway.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from chatnode_contract.calls import (
    CHECKED_OPERATIONS,
    PROBES,
    CheckedOperation,
    Probe,
    Skip,
    checked_operation,
    sent_turn,
)
from chatnode_contract.judge import Judged, judge
from chatnode_contract.report import CheckError, Finding, Kind, Report, TargetResult
from chatnode_spec import SpecRequest, openapi

API_KEY_ENV = "CHATNODE_API_KEY"
DEFAULT_TIMEOUT = 30.0
USER_AGENT = "chatnode-contract/1"


@dataclass(frozen=True)
class CheckConfig:
    """Everything a run needs, built from the command line (or by a test)."""

    base_url: str
    api_key: str = field(repr=False)
    """Never in a repr, a log line or a report."""
    bots: tuple[str, ...] = ()
    timeout: float = DEFAULT_TIMEOUT
    probes: bool = True
    strict: bool = False
    send_test_message: bool = False
    """Also call Send Message once per bot and look for it in Get Chat History: writes a
    conversation into the live account and counts against its message quota."""


def redact(text: str, secret: str) -> str:
    """The text with every occurrence of the secret masked: the last line of defence."""
    return text.replace(secret, "***") if secret else text


class CheckAborted(Exception):
    """The check cannot go on (exit 2): `kind` for the report, the message says what to do."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind, self.message = kind, message


REJECTED_CREDENTIALS: Mapping[int, str] = {
    401: f"API key rejected by ChatNode (401): check --api-key (or ${API_KEY_ENV}); copy the "
    "key again from ChatNode's dashboard",
    403: "Bot {bot!r} is not accessible with this API key (403): check --bot (the bot id from "
    "ChatNode's dashboard) and that the key belongs to the bot's account",
}
"""Statuses on the real calls that mean the check cannot go on, and what to tell the user."""

TRANSPORT_ERRORS: tuple[tuple[type[httpx.HTTPError], str, str], ...] = (
    (httpx.TimeoutException, "timeout", "ChatNode did not answer within {timeout:g} s at {base_url} ({error}): retry later, or raise --timeout"),
    (httpx.ConnectError, "connection", "could not connect to {base_url} ({error}): check --base-url and the network"),
    (httpx.UnsupportedProtocol, "usage", "cannot call {base_url} ({error}): --base-url must start with https:// or http://"),
    (httpx.TransportError, "connection", "the connection to {base_url} failed mid-call ({error}): retry, and check any proxy"),
    (httpx.HTTPError, "connection", "calling {base_url} failed ({error})"),
)  # fmt: skip
"""Each httpx failure mapped to one error kind and message, first match wins."""


class Checker:
    """One run: an httpx client and the calls."""

    def __init__(self, config: CheckConfig, client: httpx.Client) -> None:
        self.config, self.client = config, client
        self.base_url = httpx.URL(config.base_url.rstrip("/"))

    def call(
        self,
        call: CheckedOperation,
        bot: str,
        authorization: str | None,
        body: Any,
        *,
        probe: Probe | None = None,
    ) -> tuple[httpx.Response, Judged]:
        """One call and its judgement. A bot's call must match the spec before it is sent, so a
        finding is always the API's doing, and stops the run when the key or bot is rejected;
        a probe's call is meant to draw those errors."""
        url = str(self.base_url) + call.path(bot)
        headers = {"Authorization": authorization} if authorization else {}
        request = self.client.build_request(call.operation.method, url, headers=headers, json=body)
        own, expected = probe is None, probe.expected_status if probe else call.expected_status
        spec_request = SpecRequest.from_httpx(request, self.base_url)
        if own and (errors := list(openapi().iter_request_errors(spec_request))):
            kinds = ", ".join(type(e).__name__ for e in errors)
            message = f"the request for bot {bot!r} does not match the spec ({kinds}): check --bot"
            raise CheckAborted("usage", message)
        try:
            response = self.client.send(request)
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            kind, template = next((k, t) for e, k, t in TRANSPORT_ERRORS if isinstance(exc, e))
            values = {"timeout": self.config.timeout, "base_url": self.config.base_url}
            raise CheckAborted(kind, template.format(**values, error=error)) from None
        if own and response.status_code in REJECTED_CREDENTIALS:
            raise CheckAborted("auth", REJECTED_CREDENTIALS[response.status_code].format(bot=bot))
        return response, judge(request, response, self.base_url, call.operation, expected)

    @property
    def bearer(self) -> str:
        return f"Bearer {self.config.api_key}"

    def check_bot(self, bot: str) -> Iterator[TargetResult]:
        """Every checked operation for one bot, each able to build on the responses before it;
        a result is yielded before the next call, so a stopped run keeps what was checked."""
        earlier: dict[str, httpx.Response] = {}
        for call in CHECKED_OPERATIONS:
            if call.writes and not self.config.send_test_message:
                continue
            labels = {"operation": call.name, "call": call.title, "item": call.item}
            body = call.body(earlier)
            if isinstance(body, Skip):
                yield TargetResult(bot, None, **labels, expected_status=call.expected_status,
                                   status=None, skipped=body.reason)  # fmt: skip
                continue
            response, judged = self.call(call, bot, self.bearer, body)
            findings = judged.findings
            if call.name == "sent":
                found = findings + missing_turn(response, sent_turn(earlier))
                findings = tuple(sorted(found, key=Finding.sort_key))
            yield TargetResult(
                bot, None, **labels, expected_status=call.expected_status,
                status=response.status_code, findings=findings, items_checked=judged.items_checked,
                timestamp_forms=judged.timestamp_forms, order=judged.order,
            )  # fmt: skip
            earlier[call.name] = response

    def run_probe(self, probe: Probe) -> TargetResult:
        call = checked_operation(probe.operation)
        bot = self.config.bots[0] if probe.bot == "first" else _unknown_bot_id()
        authorization = {
            "none": None,
            "invalid": f"Bearer chatnode-contract-invalid-{secrets.token_hex(16)}",
            "real": self.bearer,
        }[probe.credentials]
        response, judged = self.call(call, bot, authorization, call.body({}), probe=probe)
        return TargetResult(
            None, probe.name, call.name, call.title, probe.expected_status, response.status_code,
            judged.findings, description=probe.description,
        )  # fmt: skip


SENT_FIELD = "(test message)"


def missing_turn(response: httpx.Response, turn: tuple[str, str] | None) -> tuple[Finding, ...]:
    """A finding unless Get Chat History holds the test message (human) and then the reply Send
    Message gave (ai) in its session. Values are ours (the test message) or the bot's reply, so
    neither is printed."""
    if turn is None or response.status_code != 200:
        return ()
    try:
        messages = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return ()  # judged already: a body that is not JSON is a finding of its own
    said = [_said(m) for m in messages] if isinstance(messages, list) else []
    question, reply = turn
    if ("human", question) in said and ("ai", reply) in said[said.index(("human", question)) :]:
        return ()
    detail = "Get Chat History does not hold the test message and then Send Message's reply"
    return (Finding(SENT_FIELD, Kind.MISSING_SENT_MESSAGE, detail, 1),)


def _said(message: Any) -> tuple[Any, Any]:
    inner = message.get("message") if isinstance(message, dict) else None
    data = inner.get("data") if isinstance(inner, dict) else None
    content = data.get("content") if isinstance(data, dict) else None
    return (inner.get("type") if isinstance(inner, dict) else None), content


def _unknown_bot_id() -> str:
    return f"chatnode-contract-no-such-bot-{secrets.token_hex(8)}"


def run_check(config: CheckConfig) -> Report:
    """Call the API, judge every response, and report; stops early (error set) on exit-2 causes."""
    results: list[TargetResult] = []
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    try:
        with httpx.Client(
            timeout=config.timeout, follow_redirects=False, headers=headers
        ) as client:
            checker = Checker(config, client)
            for bot in config.bots:
                results += checker.check_bot(bot)
            for probe in PROBES if config.probes else ():
                # Each probe runs only when the spec documents its status for its operation.
                documented = checked_operation(probe.operation).operation.documented_statuses
                if probe.expected_status in documented:
                    results.append(checker.run_probe(probe))
    except CheckAborted as exc:
        error = CheckError(exc.kind, redact(exc.message, config.api_key))
        return Report(config.base_url, config.strict, tuple(results), error)
    return Report(config.base_url, config.strict, tuple(results))
