"""CORS for /api/ from the configured allow-list only; preflights are answered here."""
from __future__ import annotations

from aiohttp import web

from ..i18n import _

from .keys import CONFIG

ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
ALLOW_HEADERS = "Authorization, Content-Type, Idempotency-Key, X-Request-Id"


@web.middleware
async def cors_middleware(request: web.Request, handler):
    origin = request.headers.get("Origin")
    allowed = request.app[CONFIG].security.cors_origins
    if not request.path.startswith("/api/") or not origin:
        return await handler(request)
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        if origin not in allowed:
            raise web.HTTPForbidden(text=_("This origin is not allowed to call the API."))
        return web.Response(status=204, headers={
            "Access-Control-Allow-Origin": origin, "Access-Control-Allow-Methods": ALLOW_METHODS,
            "Access-Control-Allow-Headers": ALLOW_HEADERS, "Access-Control-Max-Age": "600", "Vary": "Origin"})
    response = await handler(request)
    if origin in allowed:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = "X-Request-Id, ETag, Location"
        response.headers.add("Vary", "Origin")
    return response
