"""What tracing adds to an app: the trace pages for admins, and the request's trace ids for its access line.

Why the pages are always there, even with tracing off: an admin who follows the docs (or an old link)
gets a page that says tracing is off and how to turn it on, instead of a 404 that says nothing. They
cost nothing until opened (the file is read only then, and OpenTelemetry is never imported by them).

Why a middleware for the ids: aiohttp writes the access line after the handler returned, when the
request's span is closed and its context reset. This middleware runs inside the span (right after the
OpenTelemetry one) and puts the span's ids on the request, where ``ecom.logs.AccessLog`` reads them.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp_jinja2
from aiohttp import web

import ecom.tracing as state

if TYPE_CHECKING:
    from ..config import Config
    from ..plugin import LoadedPlugins

PAGES = "/admin/traces"
ONE_TRACE = PAGES + r"/{trace_id:[0-9a-f]{32}}"
TRACES_ON = web.AppKey("ecom.traces_on", bool)  # tracing with the file exporter: the pages can show traces


def file_traces(config: "Config") -> bool:
    """True when this shop writes spans to the file the trace pages (and ``run.py trace``) read."""
    return config.tracing.enabled and config.tracing.exporter == "file"


def install(app: web.Application, config: "Config", loaded: "LoadedPlugins") -> None:
    """Add the trace pages (their paths reserved against plugins), the ``traces_on`` template global (the
    order page's "Trace" link) and, while tracing is on, the ids middleware."""
    from ..plugin import check_routes
    from . import page
    check_routes(loaded.plugins, [("GET", PAGES, "core"), ("GET", ONE_TRACE, "core")])
    app[TRACES_ON] = file_traces(config)
    app.router.add_get(PAGES, page.order_traces)
    app.router.add_get(ONE_TRACE, page.one_trace)
    aiohttp_jinja2.get_env(app).globals["traces_on"] = app[TRACES_ON]
    if state.on:
        app.middlewares.insert(_after_opentelemetry(app), remember_trace_ids)


def _after_opentelemetry(app: web.Application) -> int:
    """Just inside the OpenTelemetry middleware, so that answers of the outer gateway middlewares (a 403
    from CSRF, a 429) carry their ids too."""
    for index, middleware in enumerate(app.middlewares):
        if getattr(middleware, "__module__", "").startswith("opentelemetry"):
            return index + 1
    return 0


@web.middleware
async def remember_trace_ids(request: web.Request, handler):
    from ..logs import TRACE_IDS
    from .spans import log_ids
    ids = log_ids()
    if ids["trace_id"] != "-":  # an excluded URL (/healthz, /static/) has no span
        request[TRACE_IDS] = ids
    return await handler(request)
