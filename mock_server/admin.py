"""`/_admin/` endpoints: drive the mock from outside the Python process (a shell script, a
connector test in another language). JSON in and out, no bearer auth, errors in the generic shape.

    GET    /_admin/health                  {"status": "ok", "bots": [...]}
    GET    /_admin/bots                    {"bots": [{"bot_id": ..., "leads": N}]}
    POST   /_admin/bots                    {"bot_id": ..., "count": N | "leads": [...]} -> 201
    GET    /_admin/bots/{bot_id}/leads     [lead, ...]  (what the API serves now)
    POST   /_admin/bots/{bot_id}/leads     {"count": N | "leads": [...]} -> {"appended": [...]}
    PUT    /_admin/bots/{bot_id}/leads     {"count": N | "leads": [...]} -> {"total": N}
    GET    /_admin/faults                  {"faults": [rule, ...]}
    POST   /_admin/faults                  {"spec": "429:times=3"} or rule fields -> 201 rule
    DELETE /_admin/faults[/{id}]           clear all, or one rule
    GET    /_admin/journal                 {"entries": [...]}
    DELETE /_admin/journal                 clear it
    POST   /_admin/reset                   back to the configuration
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mock_server.faults import FaultRule
from mock_server.responses import error_response
from mock_server.service import MockService

ADMIN_PREFIX = "/_admin"

Handler = Callable[[MockService, Request, Any], Any]


class AdminError(Exception):
    """An admin request the mock cannot carry out; becomes the generic error shape."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status, media_type="application/json")


def _count_or_leads(body: Any) -> tuple[int | None, list[Any] | None]:
    if not isinstance(body, dict) or ("count" in body) == ("leads" in body):
        raise AdminError(400, 'Send a JSON object with exactly one of "count" or "leads"')
    count, leads = body.get("count"), body.get("leads")
    if count is not None and (not isinstance(count, int) or count < 0):
        raise AdminError(400, f'"count" must be a non-negative integer, got {count!r}')
    if leads is not None and not isinstance(leads, list):
        raise AdminError(400, '"leads" must be a JSON array')
    return count, leads


def _known_bot(service: MockService, request: Request) -> str:
    bot_id = request.path_params["bot_id"]
    if service.store.snapshot(bot_id) is None:
        raise AdminError(404, f"No bot {bot_id!r}; add it with POST {ADMIN_PREFIX}/bots")
    return bot_id


def health(service: MockService, request: Request, body: Any) -> Any:
    return {"status": "ok", "bots": service.store.bot_ids()}


def list_bots(service: MockService, request: Request, body: Any) -> Any:
    snapshots = [service.store.snapshot(b) for b in service.store.bot_ids()]
    return {"bots": [{"bot_id": s.bot_id, "leads": s.count} for s in snapshots if s]}


def add_bot(service: MockService, request: Request, body: Any) -> Any:
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


def get_leads(service: MockService, request: Request, body: Any) -> Any:
    return service.store.leads(_known_bot(service, request))


def append_leads(service: MockService, request: Request, body: Any) -> Any:
    bot_id = _known_bot(service, request)
    count, leads = _count_or_leads(body)
    appended = service.store.append(bot_id, count=count, leads=leads)
    total = service.store.snapshot(bot_id).count  # type: ignore[union-attr]
    return {"bot_id": bot_id, "appended": appended, "total": total}


def set_leads(service: MockService, request: Request, body: Any) -> Any:
    bot_id = _known_bot(service, request)
    count, leads = _count_or_leads(body)
    service.store.set_leads(bot_id, leads, count=count)
    return {"bot_id": bot_id, "total": service.store.snapshot(bot_id).count}  # type: ignore[union-attr]


def list_faults(service: MockService, request: Request, body: Any) -> Any:
    return {"faults": service.faults.describe()}


def add_fault(service: MockService, request: Request, body: Any) -> Any:
    if not isinstance(body, dict):
        raise AdminError(400, 'Send {"spec": "429:times=3"} or the fields of a fault rule')
    try:
        rule = FaultRule.from_json(body)
    except (ValueError, TypeError) as exc:
        raise AdminError(400, str(exc)) from exc
    rule_id = service.faults.add(rule)
    return _json({"id": rule_id, **rule.to_json()}, 201)


def clear_faults(service: MockService, request: Request, body: Any) -> Any:
    service.faults.clear()
    return {"faults": []}


def remove_fault(service: MockService, request: Request, body: Any) -> Any:
    rule_id = request.path_params["fault_id"]
    if not service.faults.remove(rule_id):
        raise AdminError(404, f"No fault rule {rule_id}; GET {ADMIN_PREFIX}/faults lists them")
    return {"removed": rule_id}


def journal(service: MockService, request: Request, body: Any) -> Any:
    return {"entries": service.journal.entries()}


def clear_journal(service: MockService, request: Request, body: Any) -> Any:
    service.journal.clear()
    return {"entries": []}


def reset(service: MockService, request: Request, body: Any) -> Any:
    service.reset()
    return {"status": "reset", "bots": service.store.bot_ids()}


_ROUTES: list[tuple[str, str, Handler]] = [
    ("/health", "GET", health),
    ("/bots", "GET", list_bots),
    ("/bots", "POST", add_bot),
    ("/bots/{bot_id}/leads", "GET", get_leads),
    ("/bots/{bot_id}/leads", "POST", append_leads),
    ("/bots/{bot_id}/leads", "PUT", set_leads),
    ("/faults", "GET", list_faults),
    ("/faults", "POST", add_fault),
    ("/faults", "DELETE", clear_faults),
    ("/faults/{fault_id:int}", "DELETE", remove_fault),
    ("/journal", "GET", journal),
    ("/journal", "DELETE", clear_journal),
    ("/reset", "POST", reset),
]


def admin_routes(service: MockService) -> list[BaseRoute]:
    """One Starlette route per admin path, dispatching on method to the handlers above."""
    by_path: dict[str, dict[str, Handler]] = {}
    for path, method, handler in _ROUTES:
        by_path.setdefault(path, {})[method] = handler
    return [
        Route(ADMIN_PREFIX + path, _endpoint(service, handlers), methods=list(handlers))
        for path, handlers in by_path.items()
    ]


def _endpoint(
    service: MockService, handlers: dict[str, Handler]
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        raw = await request.body()
        try:
            body = orjson.loads(raw) if raw.strip() else None
        except orjson.JSONDecodeError as exc:
            return _error(AdminError(400, f"Request body is not JSON: {exc}"))
        try:
            result = handlers[request.method](service, request, body)
        except AdminError as exc:
            return _error(exc)
        return result if isinstance(result, Response) else _json(result)

    return endpoint


def _error(exc: AdminError) -> Response:
    response = error_response(exc.status, str(exc))
    return Response(response.body, response.status, media_type=response.content_type)
