"""Guests' orders: the signed link that lets a guest follow an order, and adopting it into a new account.

The link is ``/orders/<id>?key=<HMAC-SHA256(secret, order id)>`` with the key derived from the shop secret
(``ctx.secret("guest-order")``): nothing is stored, every worker can check it, and rotating the shop
secret voids every link. It is checked in constant time. Whoever holds the link sees the order as its
customer would (it is the guest's receipt), and may create an account with the order's email, which
then owns the order (the link proves they placed it). No aiohttp here.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from typing import Any

from ecom.errors import NotFound, ValidationFailed
from ecom.i18n import _

log = logging.getLogger("ecom.plugins.orders")
KEY_LENGTH = 43  # unpadded url-safe base64 of 32 bytes


def order_key(secret: bytes, order_id: str) -> str:
    digest = hmac.new(secret, f"guest-order:{order_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def valid_key(secret: bytes, order_id: str, key: Any) -> bool:
    if not isinstance(key, str) or len(key) != KEY_LENGTH or not key.isascii():
        return False
    return hmac.compare_digest(order_key(secret, order_id), key)


def follow_url(secret: bytes, order_id: str) -> str:
    return f"/orders/{order_id}?key={order_key(secret, order_id)}"


class Guests:
    """Orders of guests: checking a link, and giving an order to the account its guest created."""

    def __init__(self, pool, secret: bytes, users):
        self.pool, self.secret, self.users = pool, secret, users

    def url(self, order_id: str) -> str:
        return follow_url(self.secret, order_id)

    def check(self, order_id: str, key: Any) -> None:
        """NotFound (as for an order that does not exist) unless ``key`` signs ``order_id``."""
        if not valid_key(self.secret, order_id, key):
            raise NotFound(_("No such order."))

    async def adopt(self, order_id: str, key: Any, name: Any, password: Any) -> bool:
        """Create an account with the guest order's email and give it the order. True when adopted; False
        when that email already has an account (the caller answers both alike: no account enumeration;
        the owner logs in and the order stays reachable by its link)."""
        self.check(order_id, key)
        row = await self.pool.fetchrow("SELECT customer_id, email FROM orders WHERE id = $1", order_id)
        if row is None:
            raise NotFound(_("No such order."))
        if row["customer_id"] is not None or not row["email"]:
            raise ValidationFailed(_("This order already belongs to an account: log in to see it."),
                                   errors={"email": _("This order already belongs to an account.")})
        user = await self.users.register(row["email"], name, password)
        if user is None:
            return False
        status = await self.pool.execute(
            "UPDATE orders SET customer_id = $2, updated_at = now() WHERE id = $1 AND customer_id IS NULL "
            "AND lower(email) = lower($3)", order_id, user.id, user.email)
        log.info("guest order %s adopted by the new user %s", order_id, user.id)
        return status.endswith(" 1")
