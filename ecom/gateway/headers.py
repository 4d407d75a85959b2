"""Security headers on every response (nginx adds the same with `always` in front), and X-Served-By."""
from __future__ import annotations

from aiohttp import web

from ..config import Config

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


def headers_for(config: Config) -> tuple[tuple[str, str], ...]:
    """Every header a response gets unless its handler set one of the same name: fixed for a process."""
    extra = {"X-Served-By": config.server.name or f"{config.server.host}:{config.server.port}"}
    if config.security.secure_cookies:
        extra["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    return tuple({**SECURITY_HEADERS, **extra}.items())


def security_headers_hook(config: Config):
    """An on_response_prepare hook, so that errors, redirects and static files get them too. The list is
    built once here, not from the config on every response."""
    fixed = headers_for(config)

    async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
        headers = response.headers
        for name, value in fixed:
            headers.setdefault(name, value)
    return add_security_headers
