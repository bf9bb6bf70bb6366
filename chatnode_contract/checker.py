"""One run of the check: call the API with httpx, have each response judged, collect a `Report`.

Bots go first, so rejected credentials stop the run (exit 2) before any probe is sent. Nothing
is retried and redirects are not followed: a 429, a 5xx or a 3xx is reported as what it is. The
API key travels only in the `Authorization` header, and every message is scrubbed of it anyway.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from chatnode_contract.calls import (
    CHECKED_OPERATIONS,
    PROBES,
    CheckedOperation,
    Credentials,
    Probe,
    Skip,
)
from chatnode_contract.judge import judge
from chatnode_contract.report import CheckError, Report, TargetResult
from chatnode_spec import SpecRequest, openapi

API_KEY_ENV = "CHATNODE_API_KEY"
DEFAULT_TIMEOUT = 30.0
USER_AGENT = "chatnode-contract/1"


@dataclass(frozen=True)
class CheckConfig:
    """Everything a run needs, built from the command line (or by a test)."""

    base_url: str
    api_key: str = field(repr=False)
    bots: tuple[str, ...] = ()
    timeout: float = DEFAULT_TIMEOUT
    probes: bool = True
    strict: bool = False
    send_test_message: bool = False
    """Also call the operations that write into the live account (`CheckedOperation.writes`)."""


def redact(text: str, secret: str) -> str:
    """The text with every occurrence of the secret masked: the last line of defence."""
    return text.replace(secret, "***") if secret else text


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
        target: TargetResult,
        call: CheckedOperation,
        bot: str,
        body: Any,
        credentials: Credentials = "real",
    ) -> tuple[httpx.Response, TargetResult]:
        """One call and its judgement. A bot's call must match the spec before it is sent, so a
        finding is always the API's doing, and stops the run when the key or bot is rejected; a
        probe's call is meant to draw those errors."""
        authorization = {
            "none": None,
            "invalid": f"Bearer chatnode-contract-invalid-{secrets.token_hex(16)}",
            "real": f"Bearer {self.config.api_key}",
        }[credentials]
        url = str(self.base_url) + call.path(bot)
        headers = {"Authorization": authorization} if authorization else {}
        request = self.client.build_request(call.operation.method, url, headers=headers, json=body)
        own = target.probe is None
        spec_request = SpecRequest.from_httpx(request, self.base_url)
        if own and (errors := list(openapi().iter_request_errors(spec_request))):
            kinds = ", ".join(type(e).__name__ for e in errors)
            message = f"the request for bot {bot!r} does not match the spec ({kinds}): check --bot"
            raise CheckError("usage", message)
        try:
            response = self.client.send(request)
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            kind, template = next((k, t) for e, k, t in TRANSPORT_ERRORS if isinstance(exc, e))
            values = {"timeout": self.config.timeout, "base_url": self.config.base_url}
            raise CheckError(kind, template.format(**values, error=error)) from None
        if own and response.status_code in REJECTED_CREDENTIALS:
            raise CheckError("auth", REJECTED_CREDENTIALS[response.status_code].format(bot=bot))
        return response, judge(spec_request, response, call.operation, target)

    def check_bot(self, bot: str) -> Iterator[TargetResult]:
        """Every checked operation for one bot, each able to build on the responses before it;
        a result is yielded before the next call, so a stopped run keeps what was checked."""
        earlier: dict[str, httpx.Response] = {}
        for call in CHECKED_OPERATIONS:
            if call.writes and not self.config.send_test_message:
                continue
            target = TargetResult(bot, None, call.name, call.title, call.expected_status,
                                  item=call.item)  # fmt: skip
            body = call.body(earlier)
            if isinstance(body, Skip):
                yield replace(target, skipped=body.reason)
                continue
            response, result = self.call(target, call, bot, body)
            yield replace(result, findings=result.findings + call.verify(response, earlier))
            earlier[call.name] = response

    def run_probe(self, probe: Probe) -> TargetResult:
        call = probe.call
        bot = self.config.bots[0] if probe.bot == "first" else _unknown_bot_id()
        target = TargetResult(None, probe.name, call.name, call.title, probe.expected_status,
                              description=probe.description)  # fmt: skip
        return self.call(target, call, bot, call.body({}), probe.credentials)[1]


def _unknown_bot_id() -> str:
    return f"chatnode-contract-no-such-bot-{secrets.token_hex(8)}"


def run_check(config: CheckConfig) -> Report:
    """Call the API, judge every response, and report; stops early (error set) on exit-2 causes."""
    results: list[TargetResult] = []
    error: CheckError | None = None
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    try:
        with httpx.Client(
            timeout=config.timeout, follow_redirects=False, headers=headers
        ) as client:
            checker = Checker(config, client)
            for bot in config.bots:
                results += checker.check_bot(bot)
            for probe in PROBES if config.probes else ():
                if probe.expected_status in probe.call.operation.documented_statuses:
                    results.append(checker.run_probe(probe))
    except CheckError as exc:
        error = CheckError(exc.kind, redact(exc.message, config.api_key))
    return Report(config.base_url, config.strict, tuple(results), error)
