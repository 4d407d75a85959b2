"""The template context (identity, CSRF token, flash messages) for requests that can render a page.

aiohttp_jinja2's own context middleware runs every context processor on every request: on each API call
it loaded the session (a Fernet decryption when a cookie came along) and built a CSRF input for a page
nobody renders. API answers are JSON, errors included (ecom.gateway.errors.wants_json), and files are
files, so those paths skip it; every other request gets the context exactly as before.
"""
from __future__ import annotations

from typing import Awaitable, Callable, Sequence

from aiohttp import web
from aiohttp_jinja2 import REQUEST_CONTEXT_KEY

NO_PAGE_PREFIXES = ("/api/", "/static/", "/media/")

ContextProcessor = Callable[[web.Request], Awaitable[dict]]


def page_context_middleware(processors: Sequence[ContextProcessor]):
    """Run ``processors`` (innermost, after the gateway knows who calls) for requests that may render.

    ``processors`` is read as it is at each request, not copied: plugins append theirs at start-up (the
    orders plugin's cart count, through aiohttp_jinja2's APP_CONTEXT_PROCESSORS_KEY)."""

    @web.middleware
    async def page_context(request: web.Request, handler):
        if not request.path.startswith(NO_PAGE_PREFIXES):
            context = request.get(REQUEST_CONTEXT_KEY)
            if context is None:
                context = request[REQUEST_CONTEXT_KEY] = {}
            for processor in processors:
                context.update(await processor(request))
        return await handler(request)
    return page_context
