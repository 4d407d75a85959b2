"""GET /api/v1/openapi.json: the OpenAPI 3.1 document of every /api/v1 route, made from the routes.

Each operation's summary and description come from its handler's docstring; its tag is the plugin
that owns it; path parameters come from the path. A handler may say more with ``@api_schema``::

    @routes.post("/api/v1/wishes")
    @api_schema(request={"type": "object", "required": ["product_id"], ...}, status=201)
    async def add_wish(request): "Add a product to the wish list."
"""
from __future__ import annotations

import inspect
import re
from typing import Any

from aiohttp import web

PARAM = re.compile(r"{(\w+)(?::[^}]*)?}")
PROBLEM = {"description": "A problem (RFC 9457)", "content": {"application/problem+json": {"schema": {
    "$ref": "#/components/schemas/Problem"}}}}


def api_schema(*, request: dict | None = None, response: dict | None = None, status: int = 200,
               body_required: bool = True):
    """Attach a JSON Schema for the request body and/or the success response of an API handler."""
    def mark(handler):
        handler.ecom_openapi = {"request": request, "response": response, "status": status,
                                "body_required": body_required}
        return handler
    return mark


def _unwrap(handler: Any) -> Any:
    while hasattr(handler, "__wrapped__"):
        handler = handler.__wrapped__
    return handler


def _plugin_of(handler: Any) -> str:
    module = getattr(_unwrap(handler), "__module__", "") or ""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "plugins" else parts[0]


def _operation(method: str, path: str, handler: Any) -> dict:
    doc = inspect.getdoc(_unwrap(handler)) or ""
    summary, _, description = doc.partition("\n")
    meta = getattr(handler, "ecom_openapi", None) or getattr(_unwrap(handler), "ecom_openapi", None) or {}
    status = str(meta.get("status", 201 if method == "post" else 204 if method == "delete" else 200))
    success: dict[str, Any] = {"description": "Success"}
    if meta.get("response"):
        success["content"] = {"application/json": {"schema": meta["response"]}}
    op: dict[str, Any] = {
        "summary": summary.strip() or f"{method.upper()} {path}", "tags": [_plugin_of(handler)],
        "operationId": f"{_plugin_of(handler)}.{getattr(_unwrap(handler), '__name__', 'handler')}.{method}",
        "parameters": [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                       for name in PARAM.findall(path)],
        "responses": {status: success, "400": PROBLEM, "401": PROBLEM, "403": PROBLEM, "404": PROBLEM,
                      "409": PROBLEM, "422": PROBLEM, "429": PROBLEM},
    }
    if description.strip():
        op["description"] = description.strip()
    if meta.get("request"):
        op["requestBody"] = {"required": meta.get("body_required", True),
                             "content": {"application/json": {"schema": meta["request"]}}}
    elif method in ("post", "put", "patch"):
        op["requestBody"] = {"required": False, "content": {"application/json": {"schema": {"type": "object"}}}}
    return op


def build(app: web.Application) -> dict:
    paths: dict[str, dict] = {}
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        method = route.method.lower()
        if not path or not path.startswith("/api/v1/") or method in ("head", "options", "*"):
            continue
        doc_path = PARAM.sub(lambda m: "{" + m.group(1) + "}", path)
        paths.setdefault(doc_path, {})[method] = _operation(method, doc_path, route.handler)
    return {
        "openapi": "3.1.0",
        "info": {"title": "ecom API", "version": "1", "description": "JSON API of the shop. Errors are "
                 "application/problem+json. Authenticate with `Authorization: Bearer <token>` from "
                 "POST /api/v1/auth/token."},
        "servers": [{"url": "/"}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Problem": {"type": "object", "required": ["title", "status"], "properties": {
                "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                "detail": {"type": "string"}, "errors": {"type": "object", "additionalProperties": {"type": "string"}},
                "request_id": {"type": "string"}}}},
        },
        "security": [{"bearer": []}, {}],
    }


async def openapi_json(request: web.Request) -> web.Response:
    """The OpenAPI document of this API."""
    return web.json_response(build(request.app), headers={"Cache-Control": "public, max-age=300"})
