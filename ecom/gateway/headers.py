"""Security headers on every response (nginx adds the same with `always` in front), and X-Served-By."""
from __future__ import annotations

from aiohttp import web

from .keys import CONFIG

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(self)",
    "Content-Security-Policy": ("default-src 'self'; img-src 'self' data:; style-src 'self'; "
                                "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; "
                                "form-action 'self'; base-uri 'self'; object-src 'none'"),
}


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """An on_response_prepare hook, so that errors, redirects and static files get them too."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    config = request.app[CONFIG]
    response.headers.setdefault("X-Served-By", config.server.name or f"{config.server.host}:{config.server.port}")
    if config.security.secure_cookies:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
