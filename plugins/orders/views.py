"""JSON shapes of the orders API (shared by routes.py and stream.py) and the session cart helpers."""
from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp_session import get_session

from ecom.gateway import identity

from .cart import Items, guest_items
from .keys import ORDERS
from .models import Cart, HistoryEntry, Order, Shipment
from .service import OrdersService

log = logging.getLogger("ecom.plugins.orders")
SESSION_CART = "cart"  # the guest cart in the session: [[product_id, quantity], ...]


def orders(request: web.Request) -> OrdersService:
    return request.app[ORDERS]


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def rate_json(rate) -> str | None:
    """A tax rate (percent, Decimal) as an exact decimal string ("21", "10.5"); None when not recorded."""
    if rate is None:
        return None
    text = format(rate, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def history_json(h: HistoryEntry) -> dict[str, Any]:
    return {"status": h.status, "previous": h.previous, "actor": h.actor, "reason": h.reason, "at": _iso(h.at)}


def _line_json(ln) -> dict[str, Any]:
    """A line as the API always showed it (its shipment, discount and tax are in ``shipments``)."""
    return {"product_id": ln.product_id, "seller_id": ln.seller_id, "name": ln.name,
            "unit_price_cents": ln.unit_price_cents, "quantity": ln.quantity, "line_total_cents": ln.line_total_cents}


def shipment_json(s: Shipment, *, with_history: bool = True) -> dict[str, Any]:
    out = {"no": s.no, "seller_id": s.seller_id, "region": s.region, "status": s.status, "method": s.method,
           "shipping_cents": s.shipping_cents, "shipping_tax_cents": s.shipping_tax_cents, "carrier": s.carrier,
           "tracking_number": s.tracking_number, "refund_cents": s.refund_cents,
           "shipping_tax_rate": rate_json(s.shipping_tax_rate),
           "lines": [{"product_id": ln.product_id, "quantity": ln.quantity, "discount_cents": ln.discount_cents,
                      "tax_cents": ln.tax_cents, "tax_rate": rate_json(ln.tax_rate)} for ln in s.lines]}
    if with_history:
        out["history"] = [history_json(h) for h in s.history]
    return out


def order_json(o: Order, *, with_history: bool = True) -> dict[str, Any]:
    """An order as its viewer may see it (a seller: only their lines, shipments and total, the ship-to
    address and phone; no card, no bill-to, no email)."""
    out = {"id": o.id, "status": o.status, "total_cents": o.total_cents, "currency": o.currency, "region": o.region,
           "lines": [_line_json(ln) for ln in o.lines],
           "shipments": [shipment_json(s, with_history=with_history) for s in o.shipments],
           "ship_to": o.ship_to,
           "subtotal_cents": o.subtotal_cents, "discount_cents": o.discount_cents, "shipping_cents": o.shipping_cents,
           "tax_cents": o.tax_cents, "prices_include_tax": o.prices_include_tax,
           "created_at": _iso(o.created_at), "updated_at": _iso(o.updated_at), "expires_at": _iso(o.expires_at),
           "customer_id": o.customer_id,
           "card": None if o.seller_view else {"brand": o.card_brand, "last4": o.card_last4},
           "failure_reason": o.failure_reason, "view": "seller" if o.seller_view else "full", "locale": o.locale}
    if not o.seller_view:
        out.update({"email": o.email, "bill_to": o.bill_to, "voucher_code": o.voucher_code})
    if with_history:
        out["history"] = [history_json(h) for h in o.history]
    return out


def cart_json(cart: Cart) -> dict[str, Any]:
    return {"lines": [{"product_id": ln.product_id, "name": ln.name, "quantity": ln.quantity,
                       "unit_price_cents": ln.unit_price_cents, "currency": ln.currency,
                       "line_total_cents": ln.line_total_cents, "available": ln.available, "problem": ln.problem}
                      for ln in cart.lines],
            "totals": cart.totals, "currency": cart.currency,
            "total_cents": cart.totals.get(cart.currency) if cart.currency else None,
            "item_count": cart.item_count, "can_checkout": cart.problem is None, "problem": cart.problem}


async def current_cart(request: web.Request) -> tuple[int | None, Items]:
    """(customer id or None for a guest, the cart's items). With an identity, a guest cart still in the
    session is merged into the customer's cart once, then dropped from the session."""
    svc, session, who = orders(request), await get_session(request), identity(request)
    guest = guest_items(session.get(SESSION_CART), svc.config.max_lines)
    if who is None:
        return None, guest
    if SESSION_CART in session:
        del session[SESSION_CART]
        if guest:
            return who.user_id, await svc.carts.merge(who.user_id, guest)
    return who.user_id, await svc.carts.items(who.user_id)


async def keep_cart(request: web.Request, customer_id: int | None, items: Items) -> None:
    """A guest's cart goes back into the session (a customer's is already saved)."""
    if customer_id is None:
        session = await get_session(request)
        if items:
            session[SESSION_CART] = [[p, q] for p, q in items]
        else:
            session.pop(SESSION_CART, None)


NO_PAGES = ("/api/", "/static/", "/media/", "/healthz", "/readyz", "/metrics")


async def cart_count_context(request: web.Request) -> dict[str, Any]:
    """A template context processor: ``cart_count``, the units in the shopper's cart, for the navbar.

    It runs for every request, so it does nothing outside pages; a guest's count comes from the session,
    a customer's from one indexed query (merging a guest cart carried over by the log-in first).
    A failure only hides the number."""
    if request.path.startswith(NO_PAGES):
        return {}
    try:
        _, items = await current_cart(request)
    except Exception:  # noqa: BLE001 - the navbar must never break a page
        log.warning("cart count failed on %s", request.path, exc_info=True)
        return {"cart_count": None}
    return {"cart_count": sum(q for _, q in items)}
