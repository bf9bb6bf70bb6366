"""`/_admin/` endpoints: drive the mock from outside the Python process (a shell script, a client
test in another language) through the same `MockService` methods as `MockServer` and the
fixtures. JSON in and out, errors in the generic shape, never journaled. With
`MockConfig.admin_token` set, every call needs `Authorization: Bearer <admin_token>` (else 401).
`ADMIN_ROUTES` is the one list of them: the router, the CLI help and docs/sandbox.md read it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import orjson

from mock_server.auth import admin_allowed, bearer_token
from mock_server.responses import MockRequest, MockResponse, error_response
from mock_server.service import MockService, match_route, route_table
from mock_server.store import BotExistsError

ADMIN_PREFIX = "/_admin"

Body = dict[str, Any]
Handler = Callable[..., Any]
"""Called as `handler(service, body, **path_parameters)`; answers what becomes the JSON."""


class AdminRoute(NamedTuple):
    method: str
    path: str
    """Under ADMIN_PREFIX."""
    handler: Handler
    request: str
    """The body it takes, for the docs."""
    answer: str
    """What it answers, for the docs."""
    status: int = 200
    fields: tuple[str, ...] | None = None
    """The body is a JSON object (or none) with only these fields; None: any (the handler checks
    or ignores them)."""
    required: tuple[str, ...] = ()


def _messages(service: MockService, body: Body, bot_id: str, session_id: str) -> Any:
    chats = service.snapshot(bot_id)
    if chats is None or not chats.has_session(session_id):
        raise KeyError(f"Bot {bot_id!r} has no session {session_id!r}; GET its leads")
    return service.chats(bot_id, [session_id])


def _append_leads(service: MockService, body: Body, bot_id: str) -> Any:
    appended = service.append(bot_id, **body)
    return {"bot_id": bot_id, "appended": appended, "total": service.bots()[bot_id]}


def _set_leads(service: MockService, body: Body, bot_id: str) -> Any:
    service.set_leads(bot_id, **body)
    return {"bot_id": bot_id, "total": service.bots()[bot_id]}


def _add_bot(service: MockService, body: Body) -> Any:
    service.add_bot(**body)
    return {"bot_id": body["bot_id"], "leads": service.bots()[body["bot_id"]]}


def _append_message(service: MockService, body: Body, bot_id: str, session_id: str) -> Any:
    appended = service.append_message(bot_id, session_id, **body)
    return {"bot_id": bot_id, "session_id": session_id, "appended": appended}


def _send_message(service: MockService, body: Body, bot_id: str) -> Any:
    exchange = service.send_message(bot_id, body["message"], body.get("chat_session_id"))
    messages = [exchange.question, exchange.answer]
    return {"response": exchange.response(), "lead": exchange.lead, "messages": messages}


def _add_fault(service: MockService, body: Body) -> Any:
    injected = service.inject(body)
    return {"id": injected.id, **injected.rule.to_json()}


def _remove_fault(service: MockService, body: Body, fault_id: str) -> Any:
    if not (fault_id.isdigit() and service.remove_fault(int(fault_id))):
        raise KeyError(f"No fault rule {fault_id}; GET {ADMIN_PREFIX}/faults lists them")
    return {"removed": fault_id}


_BOTS = "/bots/{bot_id}"
_SESSION = _BOTS + "/sessions/{session_id}/messages"
COUNT_OR_LEADS = '`{"count": N}` or `{"leads": [...]}`'
COUNT_OR_LEADS_FIELDS = ("count", "leads")

ADMIN_ROUTES = [
    AdminRoute("GET", "/health", lambda s, b: {"status": "ok", "bots": list(s.bots())},
               "", '`{"status": "ok", "bots": ["bot-alpha", "bot-beta"]}`'),
    AdminRoute("GET", "/bots", lambda s, b: {"bots": [{"bot_id": k, "leads": n} for k, n in s.bots().items()]},
               "", '`{"bots": [{"bot_id": "bot-alpha", "leads": 100}, ...]}`'),
    AdminRoute("POST", "/bots", _add_bot, '`{"bot_id": "b3", "count": 10}` or `{"bot_id": "b3", "leads": [...]}`',
               '`{"bot_id": "b3", "leads": 10}`; 409 if it exists', 201, ("bot_id", "count", "leads"), ("bot_id",)),
    AdminRoute("GET", _BOTS + "/leads", lambda s, b, bot_id: s.leads(bot_id),
               "", "the leads Get Leads serves now"),
    AdminRoute("POST", _BOTS + "/leads", _append_leads, COUNT_OR_LEADS,
               '`{"bot_id": ..., "appended": [...], "total": 103}`: generated leads are created after '
               "everything the bot has; raw leads are served verbatim (even non-conforming)", 200, COUNT_OR_LEADS_FIELDS),
    AdminRoute("PUT", _BOTS + "/leads", _set_leads, COUNT_OR_LEADS, '`{"bot_id": ..., "total": 5}`', 200,
               COUNT_OR_LEADS_FIELDS),
    AdminRoute("GET", _SESSION, _messages, "", "the session's messages as Get Chat History serves them"),
    AdminRoute("POST", _SESSION, _append_message,
               '`{"content": "...", "type": "human"}` (both optional) or `{"raw": {...}}`',
               '`{"bot_id", "session_id", "appended": message}`, created after every message the '
               "bot has; 404 for an unknown bot or session", 201, ("content", "type", "raw")),
    AdminRoute("POST", _BOTS + "/messages", _send_message,
               '`{"message": "...", "chat_session_id": "..."}` (the id optional)',
               '`{"response": <Send Message\'s answer>, "lead": <the lead listed for a new session, or '
               'null>, "messages": [<question>, <answer>]}`: an end user chatting, without a key, '
               "faults or journal", 201, ("message", "chat_session_id"), ("message",)),
    AdminRoute("GET", "/faults", lambda s, b: {"faults": s.fault_rules()},
               "", '`{"faults": [{"id": 1, "kind": "status", "status": 429, "times": 3, "remaining": 3}]}`'),
    AdminRoute("POST", "/faults", _add_fault, '`{"spec": "429:retry_after=0:times=3"}` or `{"kind": "drop", "bot": "b"}`',
               '`{"id": 1, "kind": "status", ...}`', 201),
    AdminRoute("DELETE", "/faults", lambda s, b: s.clear_faults() or {"faults": []}, "", "clears every rule"),
    AdminRoute("DELETE", "/faults/{fault_id}", _remove_fault, "", '`{"removed": "1"}`; 404 if none'),
    AdminRoute("GET", "/journal", lambda s, b: {"entries": s.journal()}, "",
               '`{"entries": [{"timestamp": ..., "method": "POST", "path": "/v1/get-conversation-ids/bot-alpha", '
               '"bot": "bot-alpha", "status": 200, "fault": null, "auth": "ok", "prefer": null}]}`'),
    AdminRoute("DELETE", "/journal", lambda s, b: s.clear_journal() or {"entries": []}, "", "clears it"),
    AdminRoute("POST", "/reset", lambda s, b: s.reset() or {"status": "reset", "bots": list(s.bots())},
               "", "bots, leads, chats and faults back to the configuration; journal emptied"),
]  # fmt: skip
"""Every admin endpoint, with what it takes and answers (docs/sandbox.md's table is made of it)."""

_ROUTER = route_table((r.method, ADMIN_PREFIX + r.path, r) for r in ADMIN_ROUTES)


def is_admin_path(path: str) -> bool:
    """Whether the admin API, not the ChatNode API, answers this path."""
    return path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")


def answer(service: MockService, request: MockRequest) -> MockResponse:
    """The response to a request under `/_admin/`: token check, routing, JSON body, handler;
    a ValueError is a 400, an unknown bot or session a 404, an existing bot a 409."""
    token = bearer_token(request.headers.get("authorization"))
    if not admin_allowed(token, service.config.admin_token):
        return error_response(
            401,
            "The admin API is locked: send `Authorization: Bearer <admin token>`, the token the "
            "mock was started with (--admin-token, MockConfig.admin_token)",
            headers={"WWW-Authenticate": 'Bearer realm="chatnode-mock-admin"'},
        )
    routed = match_route(_ROUTER, request, "admin API")
    if isinstance(routed, MockResponse):
        return routed
    route, params = routed
    try:
        body = orjson.loads(request.body) if request.body.strip() else {}
        fields, required = route.fields, set(route.required)
        if not isinstance(body, dict) or set(body) - set(body if fields is None else fields) or required - set(body):  # fmt: skip
            among = "" if fields is None else f" with fields among {', '.join(fields)}"
            need = f"; {', '.join(route.required)} required" if route.required else ""
            raise ValueError(f"Send a JSON object{among}{need}")
        result = route.handler(service, body, **params)
    except orjson.JSONDecodeError as exc:
        return error_response(400, f"Request body is not JSON: {exc}")
    except BotExistsError as exc:
        return error_response(409, str(exc.args[0]))
    except KeyError as exc:
        return error_response(404, str(exc.args[0]))
    except ValueError as exc:
        return error_response(400, str(exc))
    return MockResponse(route.status, orjson.dumps(result))
