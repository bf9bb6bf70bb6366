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
from chatnode_contract.judge import judge
from chatnode_contract.report import CheckError, Finding, Kind, Report, TargetResult
from chatnode_spec import SpecRequest, openapi

API_KEY_ENV = "CHATNODE_API_KEY"
DEFAULT_TIMEOUT = 30.0


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


USER_AGENT = "chatnode-contract/1"


class CheckAborted(Exception):
    """The check cannot go on (exit 2); the message says what to do."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


REJECTED_CREDENTIALS: Mapping[int, str] = {
    401: (
        f"API key rejected by ChatNode (401): check --api-key (or ${API_KEY_ENV}); "
        "copy the key again from ChatNode's dashboard"
    ),
    403: (
        "Bot {bot!r} is not accessible with this API key (403): check --bot (the bot "
        "id from ChatNode's dashboard) and that the key belongs to the bot's account"
    ),
}
"""Statuses on the real calls that mean the check cannot go on, and what to tell the user."""


class Checker:
    """One run: an httpx client and the calls."""

    def __init__(self, config: CheckConfig, client: httpx.Client) -> None:
        self.config = config
        self.client = client
        self.base_url = httpx.URL(config.base_url.rstrip("/"))

    def send(
        self,
        call: CheckedOperation,
        bot: str,
        authorization: str | None,
        body: Any,
        *,
        own_check: bool = False,
    ) -> tuple[httpx.Request, httpx.Response]:
        operation = call.operation
        url = str(self.base_url) + call.path(bot)
        headers = {"Authorization": authorization} if authorization else {}
        request = self.client.build_request(operation.method, url, headers=headers, json=body)
        if own_check:
            self.check_own_request(request, bot)
        try:
            response = self.client.send(request)
        except httpx.HTTPError as exc:
            raise _transport_error(exc, self.config) from None
        return request, response

    def check_bot(self, bot: str) -> Iterator[TargetResult]:
        """Every checked operation for one bot, each able to build on the responses before it;
        a result is yielded before the next call, so a stopped run keeps what was checked."""
        earlier: dict[str, httpx.Response] = {}
        for call in CHECKED_OPERATIONS:
            if call.writes and not self.config.send_test_message:
                continue
            labels = {"item": call.item, "operation": call.name, "call": call.title}
            body = call.body(earlier)
            if isinstance(body, Skip):
                yield TargetResult(bot, None, **labels, expected_status=call.expected_status,
                                   status=None, skipped=body.reason)  # fmt: skip
                continue
            authorization = f"Bearer {self.config.api_key}"
            request, response = self.send(call, bot, authorization, body, own_check=True)
            rejected = REJECTED_CREDENTIALS.get(response.status_code)
            if rejected is not None:
                raise CheckAborted("auth", rejected.format(bot=bot))
            judged = judge(request, response, self.base_url, call.operation, call.expected_status)
            findings = judged.findings
            if call.name == "sent":
                found = judged.findings + missing_turn(response, sent_turn(earlier))
                findings = tuple(sorted(found, key=Finding.sort_key))
            yield TargetResult(
                bot, None, **labels, expected_status=call.expected_status,
                status=response.status_code, findings=findings,
                items_checked=judged.items_checked, timestamp_forms=judged.timestamp_forms,
                order=judged.order,
            )  # fmt: skip
            earlier[call.name] = response

    def check_own_request(self, request: httpx.Request, bot: str) -> None:
        """A finding must be the API's doing, never the checker's: its own requests must match
        the spec (openapi-core request validation) before their answers are judged."""
        errors = list(openapi().iter_request_errors(SpecRequest.from_httpx(request, self.base_url)))
        if errors:
            kinds = ", ".join(type(e).__name__ for e in errors)
            raise CheckAborted(
                "usage",
                f"the request for bot {bot!r} does not match the spec ({kinds}): check --bot",
            )

    def run_probe(self, probe: Probe) -> TargetResult:
        call = checked_operation(probe.operation)
        bot = self.config.bots[0] if probe.bot == "first" else _unknown_bot_id()
        authorization = {
            "none": None,
            "invalid": f"Bearer chatnode-contract-invalid-{secrets.token_hex(16)}",
            "real": f"Bearer {self.config.api_key}",
        }[probe.credentials]
        request, response = self.send(call, bot, authorization, call.body({}))
        judged = judge(request, response, self.base_url, call.operation, probe.expected_status)
        return TargetResult(
            None, probe.name, call.name, call.title, probe.expected_status, response.status_code,
            judged.findings, description=probe.description,
        )  # fmt: skip

    def probes_to_run(self) -> list[Probe]:
        """The probes whose status the spec documents for their operation."""
        return [
            probe
            for probe in PROBES
            if probe.expected_status
            in checked_operation(probe.operation).operation.documented_statuses
        ]


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


_TRANSPORT_ERRORS: tuple[tuple[type[httpx.HTTPError], str, str], ...] = (
    (
        httpx.TimeoutException,
        "timeout",
        "ChatNode did not answer within {timeout:g} s at {base_url} ({error}): "
        "retry later, or raise --timeout",
    ),
    (
        httpx.ConnectError,
        "connection",
        "could not connect to {base_url} ({error}): check --base-url and the network",
    ),
    (
        httpx.UnsupportedProtocol,
        "usage",
        "cannot call {base_url} ({error}): --base-url must start with https:// or http://",
    ),
    (
        httpx.TransportError,
        "connection",
        "the connection to {base_url} failed mid-call ({error}): retry, and check any proxy",
    ),
    (httpx.HTTPError, "connection", "calling {base_url} failed ({error})"),
)
"""Each httpx failure mapped to one error kind and message, first match wins."""


def _transport_error(exc: httpx.HTTPError, config: CheckConfig) -> CheckAborted:
    """Built from the exception's type and text only: no request, headers or repr in it."""
    error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    for kind_type, kind, template in _TRANSPORT_ERRORS:
        if isinstance(exc, kind_type):
            message = template.format(timeout=config.timeout, base_url=config.base_url, error=error)
            return CheckAborted(kind, redact(message, config.api_key))
    raise AssertionError("httpx.HTTPError is the last row")  # pragma: no cover


def run_check(config: CheckConfig) -> Report:
    """Call the API, judge every response, and report; stops early (error set) on exit-2 causes."""
    results: list[TargetResult] = []
    try:
        with httpx.Client(
            timeout=config.timeout,
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        ) as client:
            checker = Checker(config, client)
            for bot in config.bots:
                for result in checker.check_bot(bot):
                    results.append(result)
            if config.probes:
                for probe in checker.probes_to_run():
                    results.append(checker.run_probe(probe))
    except CheckAborted as exc:
        error = CheckError(exc.kind, redact(exc.message, config.api_key))
        return Report(config.base_url, config.strict, tuple(results), error)
    return Report(config.base_url, config.strict, tuple(results))
