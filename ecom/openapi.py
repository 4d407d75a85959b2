"""GET /api/v1/openapi.json: the OpenAPI 3.1 document of every /api/v1 route, made from the routes.

Each operation's summary and description come from its handler's docstring; its tag is the plugin
that owns it; path parameters come from the path; who may call it comes from ``login_required`` /
``roles_required``. A handler says the rest with ``@api_schema`` — its JSON body, its answer, and every
query parameter it reads (tests/test_openapi.py fails when a handler reads one that is not declared)::

    @routes.get("/api/v1/wishes")
    @api_schema(query={"limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}},
                response=WISH_LIST)
    async def wishes(request): "The caller's wish list."

The error answers are derived from what the gateway and the handler can do, so that a fuzzer
(tests/test_fuzz.py) can hold the code to them: a write may answer 413 (body too large), 415 (not JSON)
and 409 (state conflict); anything with input may answer 422; anything with a path parameter 404; a
role-gated operation 403; every operation 401 (a bad bearer token), 429 (rate limit) and 503 (database
briefly unreachable). A method the path does not serve is a 405 with an ``Allow`` header.
"""
from __future__ import annotations

import inspect
import re
from typing import Any

from aiohttp import web

PARAM = re.compile(r"{(\w+)(?::[^}]*)?}")
WRITES = ("post", "put", "patch", "delete")
PROBLEM_SCHEMA = {"type": "object", "required": ["type", "title", "status", "detail"], "properties": {
    "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
    "detail": {"type": "string"},
    "errors": {"type": "object", "additionalProperties": {"type": "string"},
               "description": "What is wrong with each named field or parameter."},
    "request_id": {"type": "string"}}}
WHY = {400: "The body could not be read (not JSON, bad encoding)",
       401: "No identity where one is needed, or a bearer token that is invalid, expired or revoked",
       403: "The caller lacks the role, or a browser form without its CSRF token",
       404: "No such resource (or not one the caller may see)",
       409: "The current state forbids it (a duplicate, an illegal transition, out of stock)",
       413: "The request body is larger than the server accepts",
       415: "The body is not sent as application/json",
       422: "A field or parameter is invalid; `errors` names each",
       429: "Too many requests from this client; retry after `Retry-After` seconds",
       503: "A database is briefly unreachable; retry after `Retry-After` seconds"}
HEADERS = {
    401: {"WWW-Authenticate": {"required": True, "schema": {"type": "string"}, "description": "Bearer realm"}},
    429: {"Retry-After": {"required": True, "schema": {"type": "string"}, "description": "Seconds to wait"}},
    503: {"Retry-After": {"required": True, "schema": {"type": "string"}, "description": "Seconds to wait"}},
}


def api_schema(*, request: dict | None = None, response: dict | None = None, status: int = 200,
               body_required: bool = True, query: dict[str, dict] | None = None,
               required_query: tuple[str, ...] = (), errors: tuple[int, ...] = ()):
    """Describe an API handler: its JSON body, its success status and answer, and its query parameters.

    ``query`` maps each query parameter the handler reads to its JSON Schema (a ``description`` in it
    becomes the parameter's); ``required_query`` names those that must be present; ``errors`` adds error
    statuses the rules in this module's docstring do not derive (a 403 that depends on a parameter)."""
    if set(errors) - set(WHY):
        raise ValueError(f"api_schema: no description for error statuses {sorted(set(errors) - set(WHY))}")
    unknown = set(required_query) - set(query or {})
    if unknown:
        raise ValueError(f"api_schema: required_query names undeclared parameters {sorted(unknown)}")

    def mark(handler):
        handler.ecom_openapi = {"request": request, "response": response, "status": status,
                                "body_required": body_required, "query": dict(query or {}),
                                "required_query": tuple(required_query), "errors": tuple(errors)}
        return handler
    return mark


def _unwrap(handler: Any) -> Any:
    while hasattr(handler, "__wrapped__"):
        handler = handler.__wrapped__
    return handler


def _auth(handler: Any) -> tuple[str, ...] | None:
    """The roles a handler requires (``()``: any identity), from ``login_required``/``roles_required``;
    None when guests may call it."""
    while handler is not None:
        roles = getattr(handler, "ecom_auth", None)
        if roles is not None:
            return tuple(roles)
        handler = getattr(handler, "__wrapped__", None)
    return None


def _plugin_of(handler: Any) -> str:
    module = getattr(_unwrap(handler), "__module__", "") or ""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "plugins" else parts[0]


def meta_of(handler: Any) -> dict:
    return getattr(handler, "ecom_openapi", None) or getattr(_unwrap(handler), "ecom_openapi", None) or {}


def _query_parameters(meta: dict) -> list[dict]:
    params = []
    for name, schema in meta.get("query", {}).items():
        param = {"name": name, "in": "query", "required": name in meta.get("required_query", ()),
                 "schema": schema}
        if schema.get("description"):
            param["description"] = schema["description"]
        params.append(param)
    return params


def _error_statuses(method: str, path: str, meta: dict, auth: tuple[str, ...] | None) -> list[int]:
    statuses = {401, 429, 503, *meta.get("errors", ())}
    if method in WRITES:
        statuses |= {400, 403, 409, 413, 415, 422}
    if PARAM.search(path):
        statuses.add(404)
    if meta.get("query"):
        statuses.add(422)
    if auth:  # a role check
        statuses.add(403)
    return sorted(statuses)


def _problem(status: int) -> dict:
    answer: dict[str, Any] = {"description": WHY[status], "content": {"application/problem+json": {
        "schema": {"$ref": "#/components/schemas/Problem"}}}}
    if status in HEADERS:
        answer["headers"] = HEADERS[status]
    return answer


def path_patterns(pattern: str) -> dict[str, str]:
    """Each ``(?P<name>regex)`` group of a route's compiled pattern: what the router lets through."""
    found, start = {}, 0
    while (match := re.compile(r"\(\?P<(\w+)>").search(pattern, start)) is not None:
        depth, i = 1, match.end()
        while depth and i < len(pattern):
            if pattern[i] == "\\":
                i += 1
            elif pattern[i] == "(":
                depth += 1
            elif pattern[i] == ")":
                depth -= 1
            i += 1
        found[match.group(1)] = pattern[match.end():i - 1]
        start = i
    return found


def _path_schema(regex: str | None) -> dict:
    return {"type": "string", "pattern": f"^(?:{regex})$"} if regex else {"type": "string"}


def _operation(method: str, path: str, handler: Any, patterns: dict[str, str]) -> dict:
    doc = inspect.getdoc(_unwrap(handler)) or ""
    summary, _, description = doc.partition("\n")
    meta, auth = meta_of(handler), _auth(handler)
    status = meta.get("status", 201 if method == "post" else 204 if method == "delete" else 200)
    success: dict[str, Any] = {"description": "Success"}
    if meta.get("response"):
        success["content"] = {"application/json": {"schema": meta["response"]}}
    name = getattr(_unwrap(handler), "__name__", "handler")
    op: dict[str, Any] = {
        "summary": summary.strip() or f"{method.upper()} {path}", "tags": [_plugin_of(handler)],
        "operationId": f"{_plugin_of(handler)}.{name}.{method}",
        "parameters": [{"name": p, "in": "path", "required": True, "schema": _path_schema(patterns.get(p))}
                       for p in PARAM.findall(path)] + _query_parameters(meta),
        "responses": {str(status): success,
                      **{str(code): _problem(code) for code in _error_statuses(method, path, meta, auth)}},
    }
    if auth is not None:
        op["security"] = [{"bearer": []}]
        op["x-roles"] = list(auth)
    description = description.strip()
    if auth:
        description = f"{description}\n\nNeeds the role: {' or '.join(auth)} (admins always pass).".strip()
    if description:
        op["description"] = description
    if meta.get("request"):
        op["requestBody"] = {"required": meta.get("body_required", True),
                             "content": {"application/json": {"schema": meta["request"]}}}
    elif method in ("post", "put", "patch"):
        op["requestBody"] = {"required": False, "content": {"application/json": {"schema": {"type": "object"}}}}
    return op


def api_routes(app: web.Application):
    """(method, documented path, handler, path parameter regexes) of every /api/v1 route of ``app``."""
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        method = route.method.lower()
        if not path or not path.startswith("/api/v1/") or method in ("head", "options", "*"):
            continue
        pattern = info.get("pattern")
        yield (method, PARAM.sub(lambda m: "{" + m.group(1) + "}", path), route.handler,
               path_patterns(pattern.pattern) if pattern is not None else {})


def build(app: web.Application) -> dict:
    paths: dict[str, dict] = {}
    for method, path, handler, patterns in api_routes(app):
        paths.setdefault(path, {})[method] = _operation(method, path, handler, patterns)
    return {
        "openapi": "3.1.0",
        "info": {"title": "ecom API", "version": "1", "description": "JSON API of the shop. Errors are "
                 "application/problem+json. Authenticate with `Authorization: Bearer <token>` from "
                 "POST /api/v1/auth/token. A method a path does not serve is a 405 with an `Allow` header."},
        "servers": [{"url": "/"}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Problem": PROBLEM_SCHEMA},
        },
        "security": [{"bearer": []}, {}],
    }


async def openapi_json(request: web.Request) -> web.Response:
    """The OpenAPI document of this API."""
    return web.json_response(build(request.app), headers={"Cache-Control": "public, max-age=300"})
