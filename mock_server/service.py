"""The mock's core: one routed API request in, one `MockResponse` out, no I/O.

`MockService.dispatch` is the one router over the spec's paths: the ASGI app and the respx router
only adapt to it, so both answer every request (404 and 405 included) identically. The order
of decisions is:

1. routing: the most specific path template wins (`/auth_me` before Send Message's `/{bot_id}`);
2. a body sent to an operation the spec gives none is a 400 (unless allowed);
3. a query parameter the spec does not declare is a 400 `unknown_parameter`;
4. openapi-core validates the request (bad or missing bearer 401, else 400); then a body field
   the spec does not declare is a 400 `unknown_field` (unless allowed);
5. `Prefer: code=NNN` forces a documented response (Prism's convention);
6. Send Message refuses `streaming: true` (its wire format is not published);
7. the fault plan may pick a fault for the route and bot (after validation, before the key
   check, like a gateway);
8. the key must be known (401) and may read the bot, which must exist (403);
9. 200: the bot's leads, the messages of the sessions asked for (streamed), Send Message's reply
   (recorded in the session), or the key's team.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qs

import orjson

import chatnode_spec
from chatnode_spec import Operation
from chatnode_spec.documents import specificity
from mock_server.auth import AuthOutcome, KeyRing, bearer_token, team
from mock_server.config import MockConfig
from mock_server.faults import KINDS, ROUTES, FaultPlan, FaultRule, InjectedFault, parse_fault
from mock_server.journal import Journal
from mock_server.responses import (
    MockRequest,
    MockResponse,
    error_response,
    json_array_response,
    spec_error_response,
)
from mock_server.store import DEFAULT_RECENT_SESSIONS, BotChats, Store
from mock_server.validation import SpecValidator

_PREFER_CODE = re.compile(r"(?:^|[,;\s])code\s*=\s*([^,;\s]*)", re.IGNORECASE)


T = TypeVar("T")
RouteTable = Sequence[tuple[str, str, re.Pattern[str], T]]
"""(method, path template, its regex, target) rows; the first row matching a request wins."""


def route_table(routes: Iterable[tuple[str, str, T]]) -> RouteTable[T]:
    """(method, path template, target) rows with each template compiled (one named group per
    `{parameter}`, matching one non-empty path segment), most specific template first."""
    table = []
    for method, template, target in routes:
        pattern = re.sub(r"\\{([^}/]+)\\}", r"(?P<\1>[^/]+)", re.escape(template))
        table.append((method, template, re.compile(f"^{pattern}$"), target))
    return sorted(table, key=lambda row: specificity(row[1]))


def match_route(
    table: RouteTable[T], request: MockRequest, name: str
) -> tuple[T, dict[str, str]] | MockResponse:
    """The target and path parameters for a request, or the generic 404 (listing what `name`
    serves) or 405 (with `Allow`): the one router of the API and the admin endpoints.

    The most specific template that matches the path decides, whatever the method: `/auth_me`
    is never Send Message to a bot called `auth_me`, a POST to it is a 405."""
    allowed, template = [], None
    for method, row_template, regex, target in table:
        if template not in (None, row_template):
            continue
        match = regex.match(request.path)
        if match and method == request.method:
            return target, match.groupdict()
        if match:
            allowed.append(method)
            template = row_template
    if allowed:
        return error_response(
            405,
            f"{request.method} is not allowed on {request.path}; use {', '.join(allowed)}",
            headers={"Allow": ", ".join(allowed)},
        )
    served = ", ".join(f"{method} {template}" for method, template, _, _ in table)
    return error_response(404, f"No route {request.path}; the {name} serves {served}")


@dataclass
class _Call:
    """A request routed to an operation, and what the journal records of it as it is decided."""

    operation: Operation
    route: str
    """Its name in `faults.ROUTES`, as fault rules scope it."""
    bot_id: str | None
    """None for an operation about the key itself (`/auth_me`)."""
    request: MockRequest
    body: Any = None
    """The JSON body, parsed once openapi-core has validated it; None without one."""
    auth: AuthOutcome = AuthOutcome.NOT_CHECKED
    fault: str | None = None
    prefer: int | None = None


Answer = tuple[Callable[[], MockResponse], Callable[[], Iterator[bytes]]]
"""A route's answer (built only once the key may read the bot) and the elements it would hold."""
Handler = Callable[[_Call, Any], Answer]


class MockService(Store):
    """The state of one mock (its store of bots, the fault plan, the journal) and the request
    handling over it. Its public methods, the store's included, are the one set of changes to a
    running mock, which the admin API, `MockServer`, the fixtures and the respx router all call."""

    def __init__(self, config: MockConfig) -> None:
        super().__init__(config)
        self.faults = FaultPlan(config.faults)
        self.journal = Journal(config.journal_limit)
        """`journal()`: the API requests served so far (no credentials in it)."""
        self.keys = KeyRing(config.api_keys)
        self.validator = SpecValidator()
        base, by_line = chatnode_spec.server_base_path(), {line: r for r, line in ROUTES.items()}
        rows: list[tuple[str, str, tuple[Operation, str, Handler]]] = []
        for op in chatnode_spec.operations():
            route = by_line.get((op.method, op.path_template))
            if route is None:
                raise ValueError(
                    f"the spec declares {op.method} {op.path_template}, which the mock has no "
                    "handler for; add it to faults.ROUTES and a MockService._serve_<route>"
                )
            handler = getattr(self, f"_serve_{route}")
            rows.append((op.method, base + op.path_template, (op, route, handler)))
        self.routes = route_table(rows)

    # The changes to a running mock are the store's (`Store`) and these; errors: ValueError for
    # bad arguments, KeyError for an unknown bot, session or rule (its subclass BotExistsError for
    # adding a known bot).
    def inject(self, rule: FaultRule | str | Mapping[str, Any]) -> InjectedFault:
        """Add a fault rule (a `FaultRule`, its CLI text or its JSON fields) after the others;
        the handle removes it, or use it in a `with`."""
        if isinstance(rule, str):
            rule = parse_fault(rule)
        return self.faults.add(
            rule if isinstance(rule, FaultRule) else FaultRule.from_json(dict(rule))
        )

    def fault_rules(self) -> list[dict[str, Any]]:
        """The rules in force, in order, with their ids and the requests each has left."""
        return self.faults.describe()

    def remove_fault(self, rule_id: int) -> bool:
        return self.faults.remove(rule_id)

    def clear_faults(self) -> None:
        self.faults.clear()

    def clear_journal(self) -> None:
        self.journal.clear()

    def reset(self) -> None:
        """Back to the configuration: its bots, leads and chats, its fault plan, no journal."""
        super().reset()
        self.faults.replace(self.config.faults)
        self.journal.clear()

    def dispatch(self, request: MockRequest) -> MockResponse:
        """Route, then decide: what every adapter (ASGI, respx) answers with. Every request is
        journaled, 404 and 405 included."""
        routed = match_route(self.routes, request, "API")
        if isinstance(routed, MockResponse):
            self.journal.record(request.method, request.path, None, routed.status, None, "n/a")
            return routed
        (operation, route, handler), params = routed
        call = _Call(operation, route, params.get("bot_id"), request)
        response = self._refusal(call) or self._answer(call, handler)
        if self.config.validate_responses and response.conforming and not response.abort:
            response = response.materialized()  # the spec's verdict, else a 500 that names it
            errors = self.validator.response_errors(request, response)
            if errors:
                violation = f"The mock's response violates the spec: {'; '.join(errors)}"
                response = error_response(500, violation, "invalid_response")
        self.journal.record(
            request.method, request.path, call.bot_id, response.status, call.fault,
            call.auth.value, call.prefer,
        )  # fmt: skip
        return response

    def _refusal(self, call: _Call) -> MockResponse | None:
        """Steps 2 to 6 of the module docstring: a response that answers instead of the route."""
        operation, request = call.operation, call.request
        if request.body.strip() and not (operation.has_request_body or self.config.allow_request_body):  # fmt: skip
            return error_response(
                400,
                f"{operation.method} {operation.path_template} takes no request body; send none",
                "unexpected_body",
            )
        query = parse_qs(request.query, keep_blank_values=True)
        rejected = _undeclared(operation, "query parameter", query, operation.query_params)
        if rejected:
            return rejected
        refusal = self.validator.check_request(request, operation)
        if refusal and refusal[0] == 401:
            call.auth = AuthOutcome.MISSING
            return self._documented(operation, 401)
        if refusal:
            return error_response(*refusal)
        if operation.has_request_body and request.body.strip():
            call.body = orjson.loads(request.body)
        # Strict as for query parameters: `{"chatSessionId": ...}` would otherwise start a new
        # session unnoticed. The body is a valid object by now.
        if operation.body_fields is not None and not self.config.allow_unknown_fields:
            rejected = _undeclared(operation, "body field", call.body, operation.body_fields)
            if rejected:
                return rejected
        prefer = request.headers.get("prefer")
        forced = self._preferred(call, prefer) if prefer else None
        if forced is None and call.route == "send" and call.body.get("streaming") is True:
            return error_response(
                400,
                "streaming: true is not supported: ChatNode does not publish the wire format of "
                "a streamed answer, so the mock will not invent one; send streaming: false",
                "streaming_unsupported",
            )
        return forced

    def _preferred(self, call: _Call, prefer: str) -> MockResponse | None:
        """Prism's `Prefer: code=NNN`: the documented response for NNN, or None for a 2xx
        the spec documents (answer normally). Undocumented codes get the generic error shape."""
        match = _PREFER_CODE.search(prefer)
        if match is None:
            return None
        if not match.group(1).isdigit() or not 100 <= int(match.group(1)) <= 599:
            return error_response(
                400, f"Prefer: code={match.group(1)} is not an HTTP status", "invalid_prefer"
            )
        code = call.prefer = int(match.group(1))
        documented = code in call.operation.documented_statuses
        if documented and 200 <= code < 300:
            return None
        if documented:
            return self._documented(call.operation, code)
        return error_response(code, f"Response {code} forced by the Prefer header")

    def _documented(self, operation: Operation, status: int) -> MockResponse:
        message = chatnode_spec.documented_error_message(operation, status) or f"HTTP {status}"
        return spec_error_response(status, message)

    def _serve_leads(self, call: _Call, bot: BotChats) -> Answer:
        """POST /get-conversation-ids/{bot_id}: every lead of the bot."""
        leads = bot.leads
        return lambda: json_array_response(leads.element_chunks(), conforming=leads.conforming), leads.element_chunks  # fmt: skip

    def _serve_chats(self, call: _Call, bot: BotChats) -> Answer:
        """POST /get-chats/{bot_id}: the messages of the sessions in the body (a JSON array of
        session ids, validated by now), or of the `k` most recent sessions when it is empty
        (`k` an integer by now; below 0 counts as 0)."""
        asked, k = call.body or None, parse_qs(call.request.query).get("k")

        def elements() -> Iterator[bytes]:  # only once the key may read the bot
            return bot.element_chunks(asked, int(k[-1]) if k else DEFAULT_RECENT_SESSIONS)

        return lambda: json_array_response(elements(), conforming=bot.conforming), elements

    def _serve_send(self, call: _Call, bot: BotChats) -> Answer:
        """POST /{bot_id}: the visitor's message and the agent's reply, recorded in the session
        (a new one without `chat_session_id`). A fault that answers instead (a status) records
        nothing; `latency` and `drop` record first."""

        def answer() -> MockResponse:
            sent = call.body["message"], call.body.get("chat_session_id")
            exchange = self.send_message(bot.leads.bot_id, *sent)
            return MockResponse(200, orjson.dumps(exchange.response()), conforming=True)

        return answer, _nothing

    def _serve_auth(self, call: _Call, bot: BotChats | None) -> Answer:
        """GET /auth_me: the key's team (an ASSUMED shape: ChatNode publishes none)."""
        answer = MockResponse(200, orjson.dumps(team(self.config.seed)), conforming=True)
        return lambda: answer, _nothing

    def _answer(self, call: _Call, handler: Handler) -> MockResponse:
        """What every route shares: the key check (401, or 403 for a bot it may not read or
        that does not exist), then a fault for this route and bot if the plan picks one, else
        the handler's answer. A fault sees the elements only when the key may."""
        bot = None if call.bot_id is None else self.snapshot(call.bot_id)
        missing = call.bot_id is not None and bot is None
        answer, elements = (None, _nothing) if missing else handler(call, bot)
        token = bearer_token(call.request.headers.get("authorization"))
        call.auth = self.keys.check(token, call.bot_id, answer is not None)

        def normal() -> MockResponse:
            if call.auth in (AuthOutcome.MISSING, AuthOutcome.UNKNOWN):
                return self._documented(call.operation, 401)
            if call.auth is AuthOutcome.FORBIDDEN or answer is None:
                return self._documented(call.operation, 403)
            return answer()

        fault = self.faults.pick(call.bot_id, call.route)
        if fault is None:
            return normal()
        call.fault = fault.label
        visible = elements() if call.auth is AuthOutcome.OK else iter(())
        return KINDS[fault.kind].respond(fault, normal, visible)


def _undeclared(
    operation: Operation, what: str, names: Iterable[str], declared: Iterable[str]
) -> MockResponse | None:
    """400 `unknown_parameter` / `unknown_field` for names the spec does not declare."""
    unknown = sorted(set(names) - set(declared))
    if not unknown:
        return None
    return error_response(
        400,
        f"{operation.method} {operation.path_template} has no {what} "
        f"{', '.join(map(repr, unknown))}; the spec declares {', '.join(sorted(declared)) or 'none'}",
        "unknown_parameter" if what == "query parameter" else "unknown_field",
    )


def _nothing() -> Iterator[bytes]:
    return iter(())
