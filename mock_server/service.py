"""The mock's core: one routed API request in, one `MockResponse` out, no I/O.

The ASGI app and the respx router are thin adapters around `MockService.handle`, so the live
server and the in-process router answer every request identically. The order of decisions is:

1. body: the spec's operation takes none, so a non-empty body is a 400 (unless allowed);
2. openapi-core validates the request (missing/malformed bearer -> 401, bad parameter -> 400);
3. `Prefer: code=NNN` forces a documented response (Prism's convention);
4. the fault plan may pick a fault (after validation, before the key check, like a gateway);
5. the key must be known (401) and may read the bot, which must exist (403);
6. 200 with the bot's leads, streamed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property

from mock_server import spec
from mock_server.auth import AuthOutcome, KeyRing, bearer_token
from mock_server.config import MockConfig
from mock_server.faults import FaultPlan, fault_response
from mock_server.journal import Journal
from mock_server.responses import (
    MockRequest,
    MockResponse,
    error_response,
    spec_error_response,
)
from mock_server.store import BotLeads, LeadStore
from mock_server.validation import SpecValidator

WHOLE_BODY_LEADS = 2048
"""Bodies up to this many leads are sent in one piece with a Content-Length; bigger ones stream."""

_PREFER_CODE = re.compile(r"(?:^|[,;\s])code\s*=\s*([^,;\s]*)", re.IGNORECASE)


@dataclass(frozen=True)
class Route:
    """A spec operation as served: its full path template (with the server base path)."""

    operation: spec.Operation
    path_template: str

    @cached_property
    def path_regex(self) -> re.Pattern[str]:
        """The template as a regex with named groups, for routers that match by regex."""
        pattern = re.sub(r"\\{([^}/]+)\\}", r"(?P<\1>[^/]+)", re.escape(self.path_template))
        return re.compile(f"^{pattern}$")


@dataclass
class _Outcome:
    """What the journal records about a request, filled in as it is decided."""

    auth: AuthOutcome = AuthOutcome.NOT_CHECKED
    fault: str | None = None
    prefer: int | None = None


class MockService:
    """The state of one mock (leads, faults, journal) and the request handling over it."""

    def __init__(self, config: MockConfig) -> None:
        self.config = config
        self.store = LeadStore(config)
        self.faults = FaultPlan(config.faults)
        self.journal = Journal(config.journal_limit)
        self.keys = KeyRing(config.api_keys)
        self.validator = SpecValidator()
        base = spec.server_base_path()
        self.routes = [Route(op, base + op.path_template) for op in spec.operations()]
        self._handlers: dict[spec.Operation, Callable[..., MockResponse]] = {}
        for route in self.routes:
            name = _OPERATION_HANDLERS.get((route.operation.method, route.operation.path_template))
            if name is None:
                raise ValueError(
                    f"the spec declares {route.operation.method} {route.path_template}, "
                    "which the mock has no handler for; add one to _OPERATION_HANDLERS"
                )
            self._handlers[route.operation] = getattr(self, name)

    def reset(self) -> None:
        """Back to the configuration: its bots and leads, its fault plan, an empty journal."""
        self.store.reset()
        self.faults.replace(self.config.faults)
        self.journal.clear()

    def allowed_methods(self, path: str) -> list[str]:
        """The methods the spec allows on a concrete path ([] when no route matches it)."""
        return [r.operation.method for r in self.routes if r.path_regex.match(path)]

    def dispatch(self, request: MockRequest) -> MockResponse:
        """Route by the spec's paths, then handle: for adapters without a router of their own."""
        allowed = []
        for route in self.routes:
            match = route.path_regex.match(request.path)
            if match is None:
                continue
            if route.operation.method == request.method:
                return self.handle(route.operation, match.groupdict(), request)
            allowed.append(route.operation.method)
        if allowed:
            return self.method_not_allowed(request, allowed)
        return self.not_found(request)

    def not_found(self, request: MockRequest) -> MockResponse:
        response = error_response(
            404, f"No route {request.path}; the API serves {self._route_list()}", "not_found"
        )
        self.journal.record(request.method, request.path, None, 404, None, "n/a")
        return response

    def method_not_allowed(self, request: MockRequest, allowed: list[str]) -> MockResponse:
        response = error_response(
            405,
            f"{request.method} is not allowed on {request.path}; use {', '.join(allowed)}",
            "method_not_allowed",
            headers={"Allow": ", ".join(allowed)},
        )
        self.journal.record(request.method, request.path, None, 405, None, "n/a")
        return response

    def handle(
        self, operation: spec.Operation, path_params: Mapping[str, str], request: MockRequest
    ) -> MockResponse:
        """The response to a request routed to `operation`, recorded in the journal."""
        outcome = _Outcome()
        response = self._decide(operation, path_params, request, outcome)
        if self.config.validate_responses and response.conforming and not response.abort:
            response = self._checked(request, response)
        self.journal.record(
            request.method,
            request.path,
            path_params.get("bot_id"),
            response.status,
            outcome.fault,
            outcome.auth.value,
            outcome.prefer,
        )
        return response

    def _decide(
        self,
        operation: spec.Operation,
        path_params: Mapping[str, str],
        request: MockRequest,
        outcome: _Outcome,
    ) -> MockResponse:
        if request.body.strip() and not (
            operation.has_request_body or self.config.allow_request_body
        ):
            return error_response(
                400,
                f"{operation.method} {operation.path_template} takes no request body; send none",
                "unexpected_body",
            )
        verdict = self.validator.check_request(request, operation)
        if verdict.status == 401:
            outcome.auth = AuthOutcome.MISSING
            return self._documented(operation, 401)
        if verdict.status is not None:
            return error_response(verdict.status, verdict.detail, verdict.error)
        prefer = request.headers.get("prefer")
        if prefer:
            forced = self._preferred(operation, prefer, outcome)
            if forced is not None:
                return forced
        return self._handlers[operation](operation, path_params, request, outcome)

    def _preferred(
        self, operation: spec.Operation, prefer: str, outcome: _Outcome
    ) -> MockResponse | None:
        """Prism's `Prefer: code=NNN`: the documented response for NNN, or None for a 2xx
        the spec documents (answer normally). Undocumented codes get the generic error shape."""
        match = _PREFER_CODE.search(prefer)
        if match is None:
            return None
        if not match.group(1).isdigit() or not 100 <= int(match.group(1)) <= 599:
            return error_response(
                400, f"Prefer: code={match.group(1)} is not an HTTP status", "invalid_prefer"
            )
        code = outcome.prefer = int(match.group(1))
        if code in operation.documented_statuses and 200 <= code < 300:
            return None
        if code in operation.documented_statuses:
            return self._documented(operation, code)
        return error_response(code, f"Response {code} forced by the Prefer header")

    def _documented(self, operation: spec.Operation, status: int) -> MockResponse:
        message = spec.documented_error_message(operation, status) or f"HTTP {status}"
        return spec_error_response(status, message)

    def _list_leads(
        self,
        operation: spec.Operation,
        path_params: Mapping[str, str],
        request: MockRequest,
        outcome: _Outcome,
    ) -> MockResponse:
        """POST /get-conversation-ids/{bot_id}: every lead of the bot."""
        bot_id = path_params["bot_id"]
        leads = self.store.snapshot(bot_id)
        token = bearer_token(request.headers.get("authorization"))
        outcome.auth = self.keys.check(token, bot_id, leads is not None)

        def normal() -> MockResponse:
            if outcome.auth in (AuthOutcome.MISSING, AuthOutcome.UNKNOWN):
                return self._documented(operation, 401)
            if outcome.auth is AuthOutcome.FORBIDDEN or leads is None:
                return self._documented(operation, 403)
            return self._leads_response(leads)

        fault = self.faults.pick(bot_id)
        if fault is None:
            return normal()
        outcome.fault = fault.label
        visible = leads if outcome.auth is AuthOutcome.OK else None
        return fault_response(fault, normal, visible)

    def _leads_response(self, leads: BotLeads) -> MockResponse:
        conforming = not (self.config.quirks or leads.has_raw)
        if leads.count <= WHOLE_BODY_LEADS:
            return MockResponse(200, leads.whole_body, conforming=conforming)
        return MockResponse(200, chunks=leads.body_chunks(), conforming=conforming)

    def _checked(self, request: MockRequest, response: MockResponse) -> MockResponse:
        """The response if the spec allows it, else a 500 that names the violation."""
        errors = self.validator.response_errors(request, response.materialized())
        if not errors:
            return response
        return error_response(
            500, f"The mock's response violates the spec: {'; '.join(errors)}", "invalid_response"
        )

    def _route_list(self) -> str:
        return ", ".join(f"{r.operation.method} {r.path_template}" for r in self.routes)


_OPERATION_HANDLERS: dict[tuple[str, str], str] = {
    ("POST", spec.LEADS_PATH_TEMPLATE): "_list_leads",
}
"""Which method of MockService answers each spec operation."""
