"""`/_admin/` endpoints: drive the mock from outside the Python process (a shell script, a
connector test in another language). JSON in and out, errors in the generic shape, never journaled.
With `MockConfig.admin_token` set, every call needs `Authorization: Bearer <admin_token>` (else 401).

    GET    /_admin/health                  {"status": "ok", "bots": [...]}
    GET    /_admin/bots                    {"bots": [{"bot_id": ..., "leads": N}]}
    POST   /_admin/bots                    {"bot_id": ..., "count": N | "leads": [...]} -> 201
    GET    /_admin/bots/{bot_id}/leads     [lead, ...]  (what the API serves now)
    POST   /_admin/bots/{bot_id}/leads     {"count": N | "leads": [...]} -> {"appended": [...]}
    PUT    /_admin/bots/{bot_id}/leads     {"count": N | "leads": [...]} -> {"total": N}
    GET    /_admin/bots/{bot_id}/sessions/{session_id}/messages
                                           [message, ...]  (what the chats API serves for it now)
    POST   /_admin/bots/{bot_id}/sessions/{session_id}/messages
                                           {"content": str, "type": "human"} (both optional)
                                           or {"raw": {...}} -> 201 {"appended": message}
    POST   /_admin/bots/{bot_id}/messages  {"message": str, "chat_session_id": str (optional)}
                                           -> 201 {"response": Send Message's answer,
                                           "lead": the listed lead of a new session or null,
                                           "messages": [question, answer] as Get Chat History
                                           serves them}  (an end user chatting)
    GET    /_admin/faults                  {"faults": [rule, ...]}
    POST   /_admin/faults                  {"spec": "429:times=3"} or rule fields -> 201 rule
    DELETE /_admin/faults[/{id}]           clear all, or one rule
    GET    /_admin/journal                 {"entries": [...]}
    DELETE /_admin/journal                 clear it
    POST   /_admin/reset                   back to the configuration
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from mock_server.auth import admin_allowed, bearer_token
from mock_server.faults import FaultRule
from mock_server.responses import MockRequest, MockResponse, error_response
from mock_server.service import MockService, match_route, route_table

ADMIN_PREFIX = "/_admin"

Params = Mapping[str, str]
Handler = Callable[[MockService, Params, Any], Any]


class AdminError(Exception):
    """An admin request the mock cannot carry out; becomes the generic error shape."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _json(data: Any, status: int = 200) -> MockResponse:
    return MockResponse(status, orjson.dumps(data))


def _count_or_leads(body: Any) -> tuple[int | None, list[Any] | None]:
    if not isinstance(body, dict) or ("count" in body) == ("leads" in body):
        raise AdminError(400, 'Send a JSON object with exactly one of "count" or "leads"')
    count, leads = body.get("count"), body.get("leads")
    if count is not None and (not isinstance(count, int) or count < 0):
        raise AdminError(400, f'"count" must be a non-negative integer, got {count!r}')
    if leads is not None and not isinstance(leads, list):
        raise AdminError(400, '"leads" must be a JSON array')
    return count, leads


def _known_bot(service: MockService, params: Params) -> str:
    bot_id = params["bot_id"]
    if service.store.snapshot(bot_id) is None:
        raise AdminError(404, f"No bot {bot_id!r}; add it with POST {ADMIN_PREFIX}/bots")
    return bot_id


def health(service: MockService, params: Params, body: Any) -> Any:
    return {"status": "ok", "bots": service.store.bot_ids()}


def list_bots(service: MockService, params: Params, body: Any) -> Any:
    snapshots = [service.store.snapshot(b) for b in service.store.bot_ids()]
    return {"bots": [{"bot_id": s.bot_id, "leads": s.count} for s in snapshots if s]}


def add_bot(service: MockService, params: Params, body: Any) -> Any:
    if not isinstance(body, dict) or not isinstance(body.get("bot_id"), str):
        raise AdminError(400, 'Send {"bot_id": "...", "count": N} or {"bot_id": ..., "leads": []}')
    bot_id = body["bot_id"]
    count, leads = _count_or_leads({k: v for k, v in body.items() if k != "bot_id"} or {"count": 0})
    try:
        service.store.add_bot(bot_id, count=count, leads=leads)
    except KeyError as exc:
        raise AdminError(409, str(exc.args[0])) from exc
    except ValueError as exc:
        raise AdminError(400, str(exc)) from exc
    return _json({"bot_id": bot_id, "leads": service.store.snapshot(bot_id).count}, 201)  # type: ignore[union-attr]


def get_leads(service: MockService, params: Params, body: Any) -> Any:
    return service.store.leads(_known_bot(service, params))


def append_leads(service: MockService, params: Params, body: Any) -> Any:
    bot_id = _known_bot(service, params)
    count, leads = _count_or_leads(body)
    appended = service.store.append(bot_id, count=count, leads=leads)
    total = service.store.snapshot(bot_id).count  # type: ignore[union-attr]
    return {"bot_id": bot_id, "appended": appended, "total": total}


def set_leads(service: MockService, params: Params, body: Any) -> Any:
    bot_id = _known_bot(service, params)
    count, leads = _count_or_leads(body)
    service.store.set_leads(bot_id, leads, count=count)
    return {"bot_id": bot_id, "total": service.store.snapshot(bot_id).count}  # type: ignore[union-attr]


def _session(service: MockService, params: Params) -> tuple[str, str]:
    bot_id, session_id = _known_bot(service, params), params["session_id"]
    if session_id not in service.store.snapshot(bot_id).sessions:  # type: ignore[union-attr]
        raise AdminError(
            404, f"Bot {bot_id!r} has no lead with session_id {session_id!r}; GET its leads"
        )
    return bot_id, session_id


def get_messages(service: MockService, params: Params, body: Any) -> Any:
    bot_id, session_id = _session(service, params)
    return service.store.chats(bot_id, [session_id])


def append_message(service: MockService, params: Params, body: Any) -> Any:
    bot_id, session_id = _session(service, params)
    body = {} if body is None else body
    if not isinstance(body, dict) or set(body) - {"content", "type", "raw"}:
        raise AdminError(
            400, 'Send {"content": "...", "type": "human"} (both optional) or {"raw": {...}}'
        )
    if ("raw" in body and set(body) != {"raw"}) or not isinstance(body.get("raw", {}), dict):
        raise AdminError(400, '"raw" must be a JSON object, sent alone')
    content, kind = body.get("content"), body.get("type", "human")
    if not isinstance(content, str | None) or not isinstance(kind, str):
        raise AdminError(400, '"content" and "type" must be strings')
    appended = service.store.append_message(
        bot_id, session_id, content=content, type=kind, raw=body.get("raw")
    )
    return _json({"bot_id": bot_id, "session_id": session_id, "appended": appended}, 201)


def send_message(service: MockService, params: Params, body: Any) -> Any:
    bot_id = _known_bot(service, params)
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("message"), str)
        or not isinstance(body.get("chat_session_id", ""), str)
        or set(body) - {"message", "chat_session_id"}
    ):
        raise AdminError(400, 'Send {"message": "...", "chat_session_id": "..." (optional)}')
    exchange = service.send(bot_id, body["message"], body.get("chat_session_id"))
    messages = [exchange.question, exchange.answer]
    return _json(
        {"response": exchange.response(), "lead": exchange.lead, "messages": messages}, 201
    )


def list_faults(service: MockService, params: Params, body: Any) -> Any:
    return {"faults": service.faults.describe()}


def add_fault(service: MockService, params: Params, body: Any) -> Any:
    if not isinstance(body, dict):
        raise AdminError(400, 'Send {"spec": "429:times=3"} or the fields of a fault rule')
    try:
        rule = FaultRule.from_json(body)
    except (ValueError, TypeError) as exc:
        raise AdminError(400, str(exc)) from exc
    rule_id = service.faults.add(rule)
    return _json({"id": rule_id, **rule.to_json()}, 201)


def clear_faults(service: MockService, params: Params, body: Any) -> Any:
    service.faults.clear()
    return {"faults": []}


def remove_fault(service: MockService, params: Params, body: Any) -> Any:
    rule_id = params["fault_id"]
    if not (rule_id.isdigit() and service.faults.remove(int(rule_id))):
        raise AdminError(404, f"No fault rule {rule_id}; GET {ADMIN_PREFIX}/faults lists them")
    return {"removed": rule_id}


def journal(service: MockService, params: Params, body: Any) -> Any:
    return {"entries": service.journal.entries()}


def clear_journal(service: MockService, params: Params, body: Any) -> Any:
    service.journal.clear()
    return {"entries": []}


def reset(service: MockService, params: Params, body: Any) -> Any:
    service.reset()
    return {"status": "reset", "bots": service.store.bot_ids()}


_ROUTES = route_table(
    (method, ADMIN_PREFIX + path, handler)
    for path, method, handler in [
        ("/health", "GET", health),
        ("/bots", "GET", list_bots),
        ("/bots", "POST", add_bot),
        ("/bots/{bot_id}/leads", "GET", get_leads),
        ("/bots/{bot_id}/leads", "POST", append_leads),
        ("/bots/{bot_id}/leads", "PUT", set_leads),
        ("/bots/{bot_id}/sessions/{session_id}/messages", "GET", get_messages),
        ("/bots/{bot_id}/sessions/{session_id}/messages", "POST", append_message),
        ("/bots/{bot_id}/messages", "POST", send_message),
        ("/faults", "GET", list_faults),
        ("/faults", "POST", add_fault),
        ("/faults", "DELETE", clear_faults),
        ("/faults/{fault_id}", "DELETE", remove_fault),
        ("/journal", "GET", journal),
        ("/journal", "DELETE", clear_journal),
        ("/reset", "POST", reset),
    ]
)


def is_admin_path(path: str) -> bool:
    """Whether the admin API, not the ChatNode API, answers this path."""
    return path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")


def answer(service: MockService, request: MockRequest) -> MockResponse:
    """The response to a request under `/_admin/`: token check, routing, JSON body, handler."""
    token = bearer_token(request.headers.get("authorization"))
    if not admin_allowed(token, service.config.admin_token):
        return error_response(
            401,
            "The admin API is locked: send `Authorization: Bearer <admin token>`, the token the "
            "mock was started with (--admin-token, MockConfig.admin_token)",
            headers={"WWW-Authenticate": 'Bearer realm="chatnode-mock-admin"'},
        )
    routed = match_route(_ROUTES, request, "admin API")
    if isinstance(routed, MockResponse):
        return routed
    handler, params = routed
    try:
        body = orjson.loads(request.body) if request.body.strip() else None
        result = handler(service, params, body)
    except orjson.JSONDecodeError as exc:
        return error_response(400, f"Request body is not JSON: {exc}")
    except AdminError as exc:
        return error_response(exc.status, str(exc))
    return result if isinstance(result, MockResponse) else _json(result)
