"""Checkout, the first step of the saga (DESIGN §6): check everything, reserve stock, then write the
order, its lines, its first history row, its idempotency key and the PaymentRequested event in ONE
transaction. If that transaction fails the reservation is released; if the process dies in between,
inventory's own expiry frees it (it is held 60 s longer than the order waits for its payment).

An ``Idempotency-Key`` (per customer) makes a retry return the first order: concurrent requests with
one key are serialized by a transaction-scoped advisory lock, and the key is looked up under it.
No aiohttp here; the card leaves this module only inside the payments plugin's token.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
import string
from dataclasses import dataclass
from typing import Any, Mapping

from ecom.errors import Conflict, ValidationFailed
from plugins.inventory.keys import OutOfStock
from plugins.payments.events import PaymentRequested

from . import cart_db, db
from .checks import CheckoutRequest
from .transitions import Transitions

log = logging.getLogger("ecom.plugins.orders")

ID_ALPHABET = string.ascii_lowercase + string.digits
ID_LENGTH = 24                   # 36^24: about 124 bits, not guessable
RESERVATION_MARGIN = 60          # inventory holds the stock this much longer than the order waits


def new_order_id() -> str:
    return "ord_" + "".join(secrets.choice(ID_ALPHABET) for _ in range(ID_LENGTH))


def lock_key(customer_id: int, key: str) -> int:
    """A signed 64-bit advisory lock key for (customer, Idempotency-Key)."""
    digest = hashlib.blake2b(f"orders:{customer_id}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _without_card_secrets(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """``body`` with the card number cut to its last 4 digits and without the CVC. Kept for a week next
    to the order's brand and last 4, even a keyed hash of the whole number could be brute-forced (about
    10^10 guesses) by whoever holds the shop secret; two cards with the same last 4 under one key are
    one request, which is harmless."""
    payment = body.get("payment")
    if not isinstance(payment, Mapping):
        return body
    number = "".join(ch for ch in str(payment.get("card_number", "")) if ch.isdigit())
    kept = {k: v for k, v in payment.items() if k not in ("card_number", "cvc")}
    return {**body, "payment": {**kept, "card_last4": number[-4:]}}


def fingerprint(secret: bytes, body: Mapping[str, Any]) -> str:
    """A keyed hash of the request body, card secrets left out (see _without_card_secrets)."""
    canonical = json.dumps(_without_card_secrets(body), sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                           default=str)
    return hmac.new(secret, canonical.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Placed:
    order_id: str
    created: bool  # False: the answer to an earlier request with the same Idempotency-Key


@dataclass(frozen=True)
class _Line:
    product_id: int
    seller_id: int
    name: str
    unit_price_cents: int
    quantity: int


class Checkout:
    def __init__(self, pool, config, products, inventory, payments, carts, transitions: Transitions):
        self.pool, self.config = pool, config
        self.products, self.inventory, self.payments, self.carts = products, inventory, payments, carts
        self.transitions = transitions

    async def place(self, customer_id: int, request: CheckoutRequest, *, key: str | None, request_hash: str) -> Placed:
        if key is not None and (found := await db.find_key(self.pool, customer_id, key)) is not None:
            return _replay(found, request_hash)
        items = request.items if request.items is not None else tuple(await self.carts.items(customer_id))
        lines, currency, errors = await self._priced(items)
        try:
            self.payments.check_card(request.card)
        except ValidationFailed as err:
            errors.update(err.errors)
        if errors:
            raise ValidationFailed("Check the order: " + "; ".join(errors.values()), errors=errors)
        total = sum(line.unit_price_cents * line.quantity for line in lines)
        order_id = new_order_id()
        reserved, card = False, None
        try:
            if key is None:
                reserved = await self._reserve(order_id, lines, request.region)
            async with self.pool.acquire() as conn, conn.transaction():
                if key is not None:
                    await db.advisory_lock(conn, lock_key(customer_id, key))
                    if (found := await db.find_key(conn, customer_id, key)) is not None:
                        return _replay(found, request_hash)
                    reserved = await self._reserve(order_id, lines, request.region)
                # the card's token (and its key, in payments) only for an order that is being placed
                card = await self.payments.tokenize(request.card)
                await db.insert_order(conn, order_id, customer_id, request.region, total, currency, card.brand,
                                      card.last4, self.config.reservation_ttl_seconds)
                await db.insert_lines(conn, order_id, [(ln.product_id, ln.seller_id, ln.name, ln.unit_price_cents,
                                                        ln.quantity) for ln in lines])
                await self.transitions.placed(conn, order_id, f"customer:{customer_id}", "Order placed")
                if key is not None:
                    await db.insert_key(conn, customer_id, key, request_hash, order_id)
                if request.items is None:
                    await cart_db.remove(conn, customer_id, [ln.product_id for ln in lines])
                await self.transitions.events.emit(conn, PaymentRequested(
                    order_id, customer_id, total, currency, card.token, card.brand, card.last4))
        except BaseException:
            if card is not None:  # never sent: its key goes now rather than at its expiry
                await asyncio.shield(self._discard(card.token))
            if reserved:
                await asyncio.shield(self._release(order_id))
            raise
        log.info("order %s placed by customer %s: %d %s in %s", order_id, customer_id, total, currency, request.region)
        return Placed(order_id, True)

    async def _priced(self, items: tuple[tuple[int, int], ...]) -> tuple[list[_Line], str, dict[str, str]]:
        """(lines at today's prices, their currency, what is wrong: unknown, not for sale, mixed currencies)."""
        if not items:
            return [], "", {"items": "Your cart is empty: add something before checking out."}
        if len(items) > self.config.max_lines:
            return [], "", {"items": f"An order has at most {self.config.max_lines} lines."}
        found = await self.products.get_many([pid for pid, _ in items])
        unknown = [pid for pid, _ in items if pid not in found or not found[pid].active]
        if unknown:
            names = ", ".join(str(pid) for pid in unknown)
            return [], "", {"items": f"Not for sale (unknown or withdrawn): product {names}."}
        lines = [_Line(pid, found[pid].seller_id, found[pid].name, found[pid].price_cents, qty) for pid, qty in items]
        currencies = sorted({found[pid].currency for pid, _ in items})
        if len(currencies) > 1:
            return [], "", {"items": f"One order is paid in one currency; these items are priced in "
                                     f"{', '.join(currencies)}. Check them out separately."}
        if sum(ln.unit_price_cents * ln.quantity for ln in lines) <= 0:
            return [], "", {"items": "There is nothing to pay for: the order total is 0."}
        return lines, currencies[0], {}

    async def _reserve(self, order_id: str, lines: list[_Line], region: str) -> bool:
        try:
            await self.inventory.reserve(order_id, [(ln.product_id, ln.quantity) for ln in lines], region,
                                         ttl_seconds=self.config.reservation_ttl_seconds + RESERVATION_MARGIN)
        except OutOfStock as err:
            name = next((ln.name for ln in lines if ln.product_id == err.product_id), f"product {err.product_id}")
            message = (f"Not enough stock of “{name}” (product {err.product_id}) in {err.region}: "
                       f"{err.available} available, {err.requested} requested.")
            raise Conflict(message, errors={"items": message}) from None
        return True

    async def _discard(self, token: str) -> None:
        try:
            await self.payments.discard_token(token)
        except Exception:  # noqa: BLE001 - its key expires by itself
            log.warning("discarding the card token of a failed checkout failed; its key expires by itself")

    async def _release(self, order_id: str) -> None:
        try:
            await self.inventory.release(order_id, "checkout failed", actor="system:orders")
        except Exception:  # noqa: BLE001 - inventory's expiry frees it later
            log.exception("order %s: releasing the stock of a failed checkout failed; it expires by itself", order_id)


def _replay(found, request_hash: str) -> Placed:
    if not hmac.compare_digest(found["request_hash"], request_hash):
        message = ("This Idempotency-Key was already used for a different request. Use a new key for a new "
                   "order, or resend exactly the same request to get its result.")
        raise ValidationFailed(message, errors={"Idempotency-Key": message})
    return Placed(found["order_id"], False)
