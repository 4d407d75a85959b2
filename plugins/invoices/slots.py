"""The invoices plugin's fragment of the order page's ``order.sidebar`` slot (ecom/slots.py): the order's
invoices and credit notes, with their PDF and XML links, for whoever views the order page (the buyer sees
theirs, a seller the ones they issued, an admin all). One query, only on the order page; personal, and the
order page is never cached."""
from __future__ import annotations

from aiohttp import web

from ecom.gateway import identity

from .keys import INVOICES

MAX_SHOWN = 20


async def order_invoices(request: web.Request, order: dict) -> dict | None:
    who = identity(request)
    if who is None:
        return None
    area = "admin" if who.is_admin else "seller" if order.get("seller_view") else "customer"
    found = await request.app[INVOICES].list(who, area, order_id=order["id"], limit=MAX_SHOWN)
    return {"documents": found} if found else None
