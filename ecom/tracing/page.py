"""The admin trace pages: GET /admin/traces?order=ID (every trace about an order) and
GET /admin/traces/{trace_id} (one trace), drawn as waterfalls from the "file" exporter's spans.

They find an order's traces exactly as ``run.py trace`` does (``waterfall.read_spans`` and
``traces_of_order``) and lay each out with the same span tree (``waterfall.layout``). The file is read in
a thread: it may be up to ``file_max_mb`` (two of them with the rotated one), and the event loop serves
shoppers meanwhile. With tracing off, or spans sent to a collector, the page says so and how to change it.
"""
from __future__ import annotations

import asyncio
import re
from pathlib import Path

from aiohttp import web
from aiohttp_jinja2 import render_template

from ..gateway import roles_required
from ..gateway.keys import CONFIG
from . import trace_file
from .drawing import bar_text, ms, waterfall_svg
from .waterfall import layout, read_spans, spans_of_trace, traces_of_order
from .web import TRACES_ON

ORDER_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # an order id as the shop makes them; anything else finds nothing
SNIPPET = '[tracing]\nenabled = true\nexporter = "file"'  # config.toml, not a text to translate
SHOWN = 5  # traces of one order drawn at most (a busy order's later traces are the sweeps' and admins')


def _drawing(spans: list[dict]) -> dict:
    rows, total = layout(spans)
    trace_id = spans[0]["trace_id"]
    return {"trace_id": trace_id, "svg": waterfall_svg(rows, total, trace_id), "count": len(rows),
            "duration": ms(total), "rows": [{"row": row, "start": ms(row.offset_ns), "duration": ms(row.duration_ns),
                                             "text": bar_text(row)} for row in rows]}


def _order_drawings(path: Path, order: str) -> list[dict]:
    return [_drawing(spans) for spans in list(traces_of_order(read_spans(path), order).values())[:SHOWN]]


def _trace_drawings(path: Path, trace_id: str) -> list[dict]:
    spans = spans_of_trace(read_spans(path), trace_id)
    return [_drawing(spans)] if spans else []


def _page(request: web.Request, context: dict, status: int = 200) -> web.Response:
    config = request.app[CONFIG]
    response = render_template("trace.html", request, {
        "on": request.app[TRACES_ON], "enabled": config.tracing.enabled, "exporter": config.tracing.exporter,
        "file": str(trace_file(config)), "snippet": SNIPPET, "order": "", "trace_id": "", "traces": [], **context}, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


@roles_required("admin")
async def order_traces(request: web.Request) -> web.Response:
    order = request.query.get("order", "").strip()
    if not request.app[TRACES_ON] or not order:
        return _page(request, {"order": order})
    found = []
    if ORDER_ID.match(order):
        found = await asyncio.to_thread(_order_drawings, trace_file(request.app[CONFIG]), order)
    return _page(request, {"order": order, "traces": found, "searched": True}, 200 if found else 404)


@roles_required("admin")
async def one_trace(request: web.Request) -> web.Response:
    trace_id = request.match_info["trace_id"]
    if not request.app[TRACES_ON]:
        return _page(request, {"trace_id": trace_id})
    found = await asyncio.to_thread(_trace_drawings, trace_file(request.app[CONFIG]), trace_id)
    return _page(request, {"trace_id": trace_id, "traces": found, "searched": True}, 200 if found else 404)
