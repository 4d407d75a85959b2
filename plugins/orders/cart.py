"""Carts: a guest's lives in the session (the routes keep it there as [[product_id, quantity], ...]),
a customer's in the ``carts`` table; the guest's is merged into the customer's at the first read with
an identity. Prices and names always come from the products plugin; quantities are checked against
inventory (the best-stocked region). No aiohttp here.
"""
from __future__ import annotations

from typing import Any

from ecom.errors import Conflict, ValidationFailed
from ecom.i18n import _
from ecom.resilience import retry_read

from . import cart_db, checks
from .models import Cart, CartLine

Items = list[tuple[int, int]]


def guest_items(raw: Any, max_lines: int) -> Items:
    """The session's cart, cleaned of anything malformed (a cookie is input too)."""
    out: dict[int, int] = {}
    for entry in raw if isinstance(raw, list) else []:
        try:
            pid, qty = checks.product_id(entry[0]), checks.quantity(entry[1])
        except (ValidationFailed, TypeError, IndexError, KeyError):
            continue
        out[pid] = qty
    return list(out.items())[:max_lines]


class CartService:
    def __init__(self, pool, config, products, inventory):
        self.pool, self.config, self.products, self.inventory = pool, config, products, inventory

    async def items(self, customer_id: int) -> Items:
        return await cart_db.lines(self.pool, customer_id)

    async def merge(self, customer_id: int, guest: Items) -> Items:
        """Add a guest cart to the customer's (quantities summed, 99 at most a line)."""
        async with self.pool.acquire() as conn, conn.transaction():
            existing = await cart_db.lines(conn, customer_id)
            have, room = {p for p, _ in existing}, self.config.max_lines - len(existing)
            new = [(p, q) for p, q in guest if p not in have][:max(room, 0)]
            await cart_db.merge(conn, customer_id, [(p, q) for p, q in guest if p in have] + new)
            return await cart_db.lines(conn, customer_id)

    async def change(self, customer_id: int | None, current: Items, product_id: Any, quantity: Any, *,
                     add: bool) -> Items:
        """Set (or with ``add`` increase) a product's quantity; the new items. A customer's cart is saved
        here, a guest's is the caller's to keep. ValidationFailed / Conflict say what is wrong."""
        pid, qty = checks.product_id(product_id), checks.quantity(quantity)
        have = dict(current)
        wanted = have.get(pid, 0) + qty if add else qty
        if wanted > checks.MAX_QUANTITY:
            message = _("At most {n} units of one product in a cart (you have {have}).").format(
                n=checks.MAX_QUANTITY, have=have.get(pid, 0))
            raise ValidationFailed(message, errors={"quantity": message})
        if pid not in have and len(have) >= self.config.max_lines:
            message = _("A cart holds at most {n} different products.").format(n=self.config.max_lines)
            raise ValidationFailed(message, errors={"product_id": message})
        product = (await self.products.get_many([pid])).get(pid)
        if product is None or not product.active:
            message = _("Product {id} is not for sale.").format(id=pid)
            raise ValidationFailed(message, errors={"product_id": message})
        available = (await self.best_available([pid])).get(pid, 0)
        if wanted > available:
            message = (_("Only {available} of “{name}” available; you asked for {wanted}.").format(
                available=available, name=product.name, wanted=wanted) if available
                       else _("“{name}” is out of stock.").format(name=product.name))
            raise Conflict(message, errors={"quantity": message})
        have[pid] = wanted
        if customer_id is not None:
            await cart_db.put(self.pool, customer_id, pid, wanted)
        return list(have.items())

    async def remove(self, customer_id: int | None, current: Items, product_id: Any) -> Items:
        pid = checks.product_id(product_id)
        if customer_id is not None:
            await cart_db.remove(self.pool, customer_id, [pid])
        return [(p, q) for p, q in current if p != pid]

    async def best_available(self, product_ids: list[int]) -> dict[int, int]:
        """Units available per product in its best-stocked region (the most one line can ship: the shop
        sends each line from one region, the first that has it among those serving the address)."""
        if not product_ids:
            return {}
        # every region in one query; a read, so retried after a dropped connection (ecom/resilience.py)
        table = await retry_read(lambda: self.inventory.stock_table(list(product_ids)))
        return {pid: max((s.available for s in stocks), default=0) for pid, stocks in table.items()}

    async def view(self, items: Items) -> Cart:
        """The cart as it stands now: current names and prices, availability, and what is wrong."""
        ids = [p for p, _ in items]
        found = await self.products.get_many(ids)
        available = await self.best_available([p for p in ids if p in found])
        lines, missing = [], []
        for pid, qty in items:
            product = found.get(pid)
            if product is None:
                missing.append(pid)
                continue
            units = available.get(pid, 0)
            problem = None
            if not product.active:
                problem = _("“{name}” is no longer for sale: remove it to check out.").format(name=product.name)
            elif qty > units:
                problem = (_("Only {units} of “{name}” available: lower the quantity to check out.").format(
                    units=units, name=product.name) if units
                           else _("“{name}” is out of stock: remove it to check out.").format(name=product.name))
            lines.append(CartLine(pid, qty, product.name, product.price_cents, product.currency, units, problem,
                               product.image_url))
        return Cart(tuple(lines), tuple(missing))
