"""GET /api/v1/orders/{id}/events: the order's status as server-sent events (its customer or an admin;
session cookie or bearer token).

The current status is sent at once, then every change as it happens (OrderStatusChanged, received by
this worker through MQTT fan-out), with a ``: keep-alive`` comment every 15 s. The stream ends when the
order reaches a final status, when the client goes away, or when the server shuts down. Each event::

    event: status
    data: {"order_id": "ord_...", "status": "paid", "previous": "pending_payment", "reason": "...", "at": "...",
           "actor": "system:payments", "final": false}

Each frame also carries what a page shows, in the reader's language and time zone: ``reason_text``
(the reason translated, reasons.show), ``failure_text`` (a failed payment's own reason, translated) and
``at_text`` (the time, locale-formatted). ``final`` is true on the last frame: the stream ends after it and the client should not reconnect. A
partially refunded order is final only once none of its shipments can move (models.settled); its other
shipments' steps change no order status (no event comes), so such a stream re-reads its shipments every
``RECHECK_SECONDS`` and then sends its status once more with ``final: true``.
"""
from __future__ import annotations

import json
import time
from datetime import datetime

from aiohttp import web

from ecom.aio import get_or_none
from ecom.app import CLOSING
from ecom.errors import Unauthorized
from ecom.gateway import identity
from ecom.i18n import _, format_datetime
from ecom.openapi import api_schema

from . import checks, reasons
from .keys import LIVE
from .live import CLOSED
from .models import FINAL, PARTIALLY_REFUNDED
from .routes import ORDER
from .views import orders

routes = web.RouteTableDef()
KEEP_ALIVE_SECONDS = 15.0
TICK_SECONDS = 1.0  # how often a quiet stream checks that its client and the server are still there
RECHECK_SECONDS = 3.0  # how often a partially refunded order's stream re-reads whether it is settled


def _texts(data: dict) -> dict:
    """The frame's human texts, translated now (the request's language; the stream runs in its context)."""
    reason = data.get("reason") or ""
    out = {"reason_text": reasons.show(reason), "failure_text": None, "at_text": ""}
    if reason.startswith(reasons.FAILED_PREFIX):
        out["failure_text"] = _(reason[len(reasons.FAILED_PREFIX):])
    try:
        out["at_text"] = format_datetime(datetime.fromisoformat(data["at"])) if data.get("at") else ""
    except (TypeError, ValueError):
        pass
    return out


def _frame(data: dict, final: bool = False) -> bytes:
    return f"event: status\ndata: {json.dumps({**data, **_texts(data), 'final': final})}\n\n".encode()


async def _final(request: web.Request, order_id: str, status: str) -> bool:
    """Whether the stream ends at ``status`` (partially refunded: once no shipment can move)."""
    if status == PARTIALLY_REFUNDED:
        return await orders(request).shipments.settled(order_id)
    return status in FINAL


def _over(request: web.Request) -> bool:
    """The client went away, or the server is shutting down."""
    transport = request.transport
    return transport is None or transport.is_closing() or request.app[CLOSING].is_set()


@routes.get(f"/api/v1/orders/{ORDER}/events")
@api_schema(query={"key": {"type": "string", "description": "A guest's signed order key (from follow_url)."}})
async def order_events(request: web.Request) -> web.StreamResponse:
    """The order's status as server-sent events: now, then every change.

    Its customer, an admin, or a guest with the order's signed ``?key=`` may follow it."""
    order_id = checks.order_id(request.match_info["id"])
    key, who = request.query.get("key"), identity(request)
    if key is None and who is None:
        raise Unauthorized(_("Log in first (or follow the order's link with its key)."))
    with request.app[LIVE].watch(order_id) as queue:  # watching before reading: no change slips in between
        if key is not None:
            order = await orders(request).for_guest(order_id, key)
        else:
            order = await orders(request).watchable(who, order_id)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                               "X-Accel-Buffering": "no"})
        await response.prepare(request)
        last = order.history[-1] if order.history else None
        sent, final = order.status, order.final
        current = {"order_id": order.id, "status": order.status, "previous": last.previous if last else None,
                   "reason": last.reason if last else "", "at": last.at.isoformat() if last else None,
                   "actor": last.actor if last else ""}
        try:
            await response.write(_frame(current, final))
            quiet_since = checked = time.monotonic()
            while not final and not _over(request):
                evt = await get_or_none(queue, TICK_SECONDS)
                if evt is None:
                    if sent == PARTIALLY_REFUNDED and time.monotonic() - checked >= RECHECK_SECONDS:
                        checked = time.monotonic()
                        if await orders(request).shipments.settled(order_id):
                            final = True
                            await response.write(_frame(current, final))
                            break
                    if time.monotonic() - quiet_since >= KEEP_ALIVE_SECONDS:
                        await response.write(b": keep-alive\n\n")
                        quiet_since = time.monotonic()
                    continue
                if evt is CLOSED:
                    break
                if evt.status == sent:  # already told (read at the start and received as an event too)
                    continue
                sent, final = evt.status, await _final(request, order_id, evt.status)
                current = {"order_id": evt.order_id, "status": evt.status, "previous": evt.previous,
                           "reason": evt.reason, "at": evt.at, "actor": evt.actor}
                await response.write(_frame(current, final))
                quiet_since = time.monotonic()
        except (ConnectionResetError, ConnectionError):
            pass  # the client went away
        return response
