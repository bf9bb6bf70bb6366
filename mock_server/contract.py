"""`chatnode-contract`: check a ChatNode account's API against the bundled OpenAPI spec.

It calls the leads endpoint for each given bot with the real key, plus a few probes that should
draw the spec's documented error responses, and lets openapi-core judge every response (status,
content type, body). `drift.py` then explains each body per field, with counts and an example,
and classifies the drift as additive (a client written against the spec keeps working) or
breaking. See `--help` for usage and exit codes, `contract_report.py` for the JSON schema.

The API key only ever travels in the `Authorization` header; nothing printed is derived from a
request's headers, and all output is scrubbed of the key anyway, in case an error message from
a library ever echoes it.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote

import httpx
import orjson
from openapi_core.datatypes import RequestParameters
from openapi_core.deserializing.media_types.exceptions import MediaTypeDeserializeError
from openapi_core.templating.media_types.exceptions import MediaTypeNotFound
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_core.validation.schemas.exceptions import InvalidSchemaValue
from werkzeug.datastructures import Headers, ImmutableMultiDict

from mock_server import spec
from mock_server.contract_report import (
    CheckError,
    Report,
    Target,
    TargetResult,
    render_text,
    to_json,
)
from mock_server.drift import (
    BODY,
    BodyReport,
    Finding,
    Kind,
    Severity,
    analyze_body,
    field_label,
)

API_KEY_ENV = "CHATNODE_API_KEY"
DEFAULT_TIMEOUT = 30.0
STATUS_FIELD = "(status)"
CONTENT_TYPE_FIELD = "(content-type)"
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


class CheckAborted(Exception):
    """The check cannot go on (exit 2); the message says what to do."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


# --- The spec's operation ------------------------------------------------------------------


def leads_operation() -> spec.Operation:
    """The operation the checker exercises, as the spec declares it (method included)."""
    for operation in spec.operations():
        if operation.path_template == spec.LEADS_PATH_TEMPLATE:
            return operation
    raise LookupError(f"the spec has no operation at {spec.LEADS_PATH_TEMPLATE}")


def documented_responses() -> Mapping[str, Any]:
    """The operation's `responses` object, keyed by status (`200`, `4XX`, `default`, ...)."""
    operation = leads_operation()
    paths = spec.spec_document()["paths"]
    return paths[operation.path_template][operation.method.lower()]["responses"]


def response_schema(status: int) -> Mapping[str, Any] | None:
    """The JSON schema the spec documents for a status (exact, then `4XX`, then `default`)."""
    responses = documented_responses()
    for key in (str(status), f"{status // 100}XX", "default"):
        if key in responses:
            content = responses[key].get("content", {})
            media = content.get("application/json") or next(iter(content.values()), None)
            return None if media is None else media.get("schema")
    return None


# --- openapi-core adapters for httpx -------------------------------------------------------


class OpenAPIRequest:
    """An `httpx.Request` as openapi-core's request protocol, moved onto the spec's server.

    The contract is about paths under the base URL, wherever that is served (ChatNode itself, a
    proxy, the mock on 127.0.0.1), so the base URL is swapped for the spec's server URL.
    """

    def __init__(self, request: httpx.Request, base_url: httpx.URL) -> None:
        relative = request.url.path[len(base_url.path.rstrip("/")) :]
        self.host_url = spec.server_origin()
        self.path = spec.server_base_path() + relative
        self.method = request.method.lower()
        self.body = request.content or None
        self.content_type = request.headers.get("content-type", "application/json")
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qsl(request.url.query.decode(), keep_blank_values=True)),
            header=Headers(list(request.headers.items())),
        )

    def __repr__(self) -> str:
        return f"<OpenAPIRequest {self.method.upper()} {self.path}>"


class OpenAPIResponse:
    """An `httpx.Response` as openapi-core's response protocol."""

    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self.data = response.content
        self.content_type = response.headers.get("content-type", "").lower()
        self.headers = Headers(list(response.headers.items()))


# --- Judging one response ------------------------------------------------------------------


def judge(
    request: httpx.Request, response: httpx.Response, base_url: httpx.URL, expected: int
) -> tuple[list[Finding], BodyReport | None]:
    """Findings for one response, and the drift report of its body (None when the spec gives
    no schema for its status).

    openapi-core is the authority on whether the response conforms; `drift` explains the body
    per field. Any openapi-core error that drift does not explain still becomes a finding, so
    nothing the spec forbids can slip through as "conforms".
    """
    core_errors = list(
        spec.openapi().iter_response_errors(
            OpenAPIRequest(request, base_url), OpenAPIResponse(response)
        )
    )
    status = response.status_code
    findings: list[Finding] = []
    undocumented = any(isinstance(e, ResponseNotFound) for e in core_errors)
    if undocumented:
        detail = f"HTTP {status} is not documented (the spec has {_documented_text()})"
        findings.append(Finding(STATUS_FIELD, Kind.UNDOCUMENTED_STATUS, detail + _hint(status), 1))
    elif status != expected:
        detail = f"expected {expected}, got {status}"
        findings.append(Finding(STATUS_FIELD, Kind.UNEXPECTED_STATUS, detail, 1))
    schema = None if undocumented else response_schema(status)
    body = None
    if schema is not None:
        body = analyze_body(response.content, schema, spec.spec_document())
        findings += body.findings
    return findings + _core_findings(core_errors, findings), body


def _core_findings(core_errors: Sequence[Exception], found: Sequence[Finding]) -> list[Finding]:
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


def _documented_text() -> str:
    return ", ".join(documented_responses())


def _hint(status: int) -> str:
    if status == 429 or status >= 500:
        return "; may be transient, rerun to confirm"
    if 300 <= status < 400:
        return "; redirects are not followed: check --base-url"
    return ""


# --- The calls -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """A call made to draw one of the spec's documented error responses."""

    name: str
    expected_status: int
    description: str
    credentials: str
    """`none` (no Authorization header), `invalid` (a made-up token) or `real`."""
    bot: str
    """`first` (the first --bot) or `unknown` (a random id that cannot exist)."""


PROBES = (
    Probe("missing_key", 401, "no bearer token", "none", "first"),
    Probe("invalid_key", 401, "a made-up bearer token", "invalid", "first"),
    Probe("unknown_bot", 403, "the real key, a bot id that cannot exist", "real", "unknown"),
)
"""Each probe runs only when the spec documents its status."""


class Checker:
    """One run: an httpx client and the calls, bots first (so bad credentials stop it early)."""

    def __init__(self, config: CheckConfig, client: httpx.Client) -> None:
        self.config = config
        self.client = client
        self.base_url = httpx.URL(config.base_url.rstrip("/"))
        self.operation = leads_operation()

    def send(
        self, bot: str, authorization: str | None, *, own_check: bool = False
    ) -> tuple[httpx.Request, httpx.Response]:
        url = str(self.base_url) + self.operation.path_template.format(bot_id=quote(bot, safe=""))
        headers = {"Authorization": authorization} if authorization else {}
        request = self.client.build_request(self.operation.method, url, headers=headers)
        if own_check:
            self.check_own_request(request, bot)
        try:
            response = self.client.send(request)
        except httpx.HTTPError as exc:
            raise _transport_error(exc, self.config) from None
        return request, response

    def check_bot(self, bot: str) -> TargetResult:
        request, response = self.send(bot, f"Bearer {self.config.api_key}", own_check=True)
        status = response.status_code
        if status == 401:
            raise CheckAborted(
                "auth",
                f"API key rejected by ChatNode (401): check --api-key (or ${API_KEY_ENV}); "
                "copy the key again from ChatNode's dashboard",
            )
        if status == 403:
            raise CheckAborted(
                "auth",
                f"Bot {bot!r} is not accessible with this API key (403): check --bot (the bot "
                "id from ChatNode's dashboard) and that the key belongs to the bot's account",
            )
        findings, body = judge(request, response, self.base_url, expected=200)
        return _result(Target.BOT, bot, 200, status, findings, body)

    def check_own_request(self, request: httpx.Request, bot: str) -> None:
        """A finding must be the API's doing, never the checker's: its own requests must match
        the spec (openapi-core request validation) before their answers are judged."""
        errors = list(spec.openapi().iter_request_errors(OpenAPIRequest(request, self.base_url)))
        if errors:
            kinds = ", ".join(type(e).__name__ for e in errors)
            raise CheckAborted(
                "usage",
                f"the request for bot {bot!r} does not match the spec ({kinds}): check --bot",
            )

    def run_probe(self, probe: Probe) -> TargetResult:
        bot = self.config.bots[0] if probe.bot == "first" else _unknown_bot_id()
        authorization = {
            "none": None,
            "invalid": f"Bearer chatnode-contract-invalid-{secrets.token_hex(16)}",
            "real": f"Bearer {self.config.api_key}",
        }[probe.credentials]
        request, response = self.send(bot, authorization)
        findings, _ = judge(request, response, self.base_url, probe.expected_status)
        return TargetResult(
            Target.PROBE,
            probe.name,
            probe.expected_status,
            response.status_code,
            tuple(sorted(findings, key=Finding.sort_key)),
            description=probe.description,
        )


def _unknown_bot_id() -> str:
    return f"chatnode-contract-no-such-bot-{secrets.token_hex(8)}"


def _result(
    target: Target,
    name: str,
    expected: int,
    status: int,
    findings: list[Finding],
    body: BodyReport | None,
) -> TargetResult:
    ordered = tuple(sorted(findings, key=Finding.sort_key))
    if body is None:
        return TargetResult(target, name, expected, status, ordered)
    return TargetResult(
        target,
        name,
        expected,
        status,
        ordered,
        body.items_checked,
        body.timestamp_forms,
        body.order,
    )


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
                results.append(checker.check_bot(bot))
            if config.probes:
                documented = checker.operation.documented_statuses
                for probe in PROBES:
                    if probe.expected_status in documented:
                        results.append(checker.run_probe(probe))
    except CheckAborted as exc:
        error = CheckError(exc.kind, redact(exc.message, config.api_key))
        return Report(config.base_url, config.strict, tuple(results), error)
    return Report(config.base_url, config.strict, tuple(results))


def redact(text: str, secret: str) -> str:
    """The text with every occurrence of the secret masked: the last line of defence."""
    return text.replace(secret, "***") if secret else text


# --- Command line --------------------------------------------------------------------------

_DESCRIPTION = """\
Check a ChatNode account's API against the OpenAPI contract bundled with source-chatnode.

For each --bot it calls `POST {base_url}/get-conversation-ids/{bot}` with your key and checks the
response with openapi-core (status, content type, body), then reports drift per field, over all
leads: unknown fields, nulls where the spec has no `nullable`, type mismatches, missing required
fields, created_at timestamp forms (fraction digits; Z, +00:00 or other offsets; unparseable) and
undocumented status codes, each with a count and an example lead (index and session_id). Lead
values are never printed, except timestamps. The API key is never printed.

It then probes the documented error responses: no bearer token and a made-up token on the first
bot (expect 401), and your key on a random bot id that cannot exist (expect 403); skip them with
--no-probes.
"""

_EPILOG = f"""\
severity:
  additive  a client written against the spec keeps working: fields the spec does not list;
            created_at values that are valid RFC 3339 but written differently from the spec's
            example (another number of fraction digits, `Z` or a non-UTC offset)
  breaking  a client written against the spec may fail: missing required field, null where the
            spec has no `nullable: true`, wrong JSON type, a date-time that is not RFC 3339, an
            undocumented or unexpected status, another content type, a body that is not JSON
            or not an array of objects, anything else openapi-core rejects

exit codes:
  0  conforms, or only additive drift (printed as warnings)
  1  breaking drift; with --strict, any drift
  2  could not check: bad arguments, connection refused, timeout, key rejected (401) or a bot
     not accessible (403) on the real calls

--json output (schema_version 1; keys are only ever added):
  {{"schema_version", "base_url", "strict", "conforms", "breaking", "exit_code",
   "error": null | {{"kind", "message"}}, "bots": [...], "probes": [...],
   "findings": [{{"bot", "probe", "field", "kind", "severity", "count", "detail",
                 "example": {{"index", "id", "value"}}}}]}}
  field by field in README.md, "Contract testing your ChatNode account"

examples:
  export {API_KEY_ENV}=...          # keeps the key out of shell history and `ps`
  chatnode-contract --bot BOT_ID
  chatnode-contract --bot BOT_A --bot BOT_B --json > contract.json
  chatnode-contract --bot BOT_ID --strict --timeout 60
  chatnode-contract --base-url http://127.0.0.1:8080/v1 --api-key mock-secret-key \\
      --bot bot-alpha                 # against chatnode-mock-server
  python -m mock_server.contract --help
"""


def build_parser() -> argparse.ArgumentParser:
    default_base_url = spec.spec_document()["servers"][0]["url"]
    parser = argparse.ArgumentParser(
        prog="chatnode-contract",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--base-url",
        default=default_base_url,
        metavar="URL",
        help=f"the API's base URL, up to and including the version (default: {default_base_url})",
    )
    parser.add_argument(
        "--api-key",
        metavar="KEY",
        help=f"ChatNode API key, sent as a bearer token (default: ${API_KEY_ENV})",
    )
    parser.add_argument(
        "--bot",
        dest="bots",
        action="append",
        required=True,
        metavar="BOT",
        help="a bot (agent) id to read the leads of; repeat for several bots",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document (schema_version 1) instead of the table, for CI",
    )
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 on any drift, additive included"
    )
    parser.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=DEFAULT_TIMEOUT,
        metavar="S",
        help=f"seconds to wait on the network per step: connect, each read (default: {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument(
        "--no-probes",
        dest="probes",
        action="store_false",
        help="skip the calls that check the documented 401 and 403 responses",
    )
    return parser


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: the timeout must be more than 0 seconds")
    return value


def config_from_args(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None
) -> tuple[CheckConfig, bool]:
    """The run's config and whether to print JSON; usage errors exit 2 through argparse."""
    args = parser.parse_args(argv)
    api_key = args.api_key if args.api_key is not None else os.environ.get(API_KEY_ENV, "")
    if not api_key.strip():
        parser.error(f"no API key: pass --api-key KEY or set ${API_KEY_ENV}")
    url = httpx.URL(args.base_url)
    if url.scheme not in ("http", "https") or not url.host:
        parser.error(
            f"--base-url {args.base_url!r} must be an http(s) URL, e.g. {spec.spec_document()['servers'][0]['url']}"
        )
    bots = tuple(dict.fromkeys(args.bots))
    bad = [b for b in bots if not b or "/" in b]
    if bad:
        parser.error(f"--bot {bad[0]!r}: a bot id is non-empty and has no '/'")
    config = CheckConfig(args.base_url, api_key, bots, args.timeout, args.probes, args.strict)
    return config, args.json


def main(argv: Sequence[str] | None = None) -> int:
    """The console script: the report on stdout, a stopped check's reason on stderr."""
    parser = build_parser()
    config, as_json = config_from_args(parser, argv)
    report = run_check(config)
    if as_json:
        output = orjson.dumps(to_json(report), option=orjson.OPT_INDENT_2).decode() + "\n"
    else:
        operation = leads_operation()
        output = render_text(report, f"{operation.method} {operation.path_template}")
    sys.stdout.write(redact(output, config.api_key))
    if report.error is not None:
        sys.stderr.write(f"chatnode-contract: error: {report.error.message}\n")
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
