"""Checkout, the first step of the saga (DESIGN §6): check everything (the address, the card), price it
(quote.py: regions, voucher preview, shipping, taxes), use the voucher and reserve stock per shipment,
then write the order (with copies of its addresses and its money breakdown), its lines, its shipments,
its first history row, its idempotency key and the PaymentRequested event in ONE transaction. If
anything fails the reservations are released and the voucher's use given back; if the process dies in
between, inventory's own expiry frees the stock (held 60 s longer than the order waits for its payment).
Guests check out too (an email, no account): their keys are filed under a negative owner id.

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
from decimal import Decimal
from typing import Any, Mapping

from ecom.errors import Conflict, ValidationFailed
from ecom.i18n import _, current_locale
from plugins.inventory.keys import OutOfStock
from plugins.payments.events import PaymentRequested

from . import cart_db, db, pricing, shipment_db
from .checks import CheckoutRequest
from .quote import Quoter
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


def guest_owner(email: str) -> int:
    """The (negative, so never a user's) owner id a guest's Idempotency-Keys are filed under."""
    digest = hashlib.blake2b(f"orders:guest:{email}".encode(), digest_size=8).digest()
    return -(int.from_bytes(digest, "big") >> 1) - 1


class Checkout:
    def __init__(self, pool, config, inventory, payments, vouchers, carts, transitions: Transitions, quoter: Quoter):
        self.pool, self.config = pool, config
        self.inventory, self.payments, self.vouchers, self.carts = inventory, payments, vouchers, carts
        self.transitions, self.quoter = transitions, quoter

    async def place(self, customer_id: int | None, request: CheckoutRequest, *, key: str | None, request_hash: str,
                    email: str | None = None, guest_cart: tuple[tuple[int, int], ...] = ()) -> Placed:
        """``customer_id`` None: a guest (``request.email`` required, ``guest_cart`` is the session's cart)."""
        email = request.email or email
        if customer_id is None and not email:
            raise ValidationFailed(_("Enter your email: we send the order's news there."),
                                   errors={"email": _("Enter your email address.")})
        owner = customer_id if customer_id is not None else guest_owner(email)
        if key is not None and (found := await db.find_key(self.pool, owner, key)) is not None:
            return _replay(found, request_hash)
        if request.items is not None:
            items = request.items
        else:
            items = tuple(await self.carts.items(customer_id)) if customer_id is not None else tuple(guest_cart)
        errors: dict[str, str] = {}
        where = await self.quoter.destination(customer_id, request.destination, errors)
        try:
            self.payments.check_card(request.card)
        except ValidationFailed as err:
            errors.update(err.errors)
        if errors:
            raise ValidationFailed(_("Check the order: {problems}").format(problems="; ".join(errors.values())),
                                   errors=errors)
        lines, currency = await self.quoter.lines(items, where.ship_to.country)
        buyer = f"customer:{customer_id}" if customer_id is not None else f"email:{email}"
        code, method = request.destination.voucher, request.destination.shipping_method
        preview = await self.quoter.discount(code, buyer, pricing.plan(lines), currency)
        priced = await self.quoter.price(lines, currency, where.ship_to, method, preview)
        order_id = new_order_id()
        held: list[str] = []
        redeemed, card = False, None
        try:
            if key is None:
                redeemed = await self._redeem(order_id, code, buyer, lines, currency, preview)
                await self._reserve(order_id, priced, held)
            async with self.pool.acquire() as conn, conn.transaction():
                if key is not None:
                    await db.advisory_lock(conn, lock_key(owner, key))
                    if (found := await db.find_key(conn, owner, key)) is not None:
                        return _replay(found, request_hash)
                    redeemed = await self._redeem(order_id, code, buyer, lines, currency, preview)
                    await self._reserve(order_id, priced, held)
                # the card's token (and its key, in payments) only for an order that is being placed
                card = await self.payments.tokenize(request.card)
                await self._write(conn, order_id, customer_id, email, where, priced, card)
                await self.transitions.placed(conn, order_id, buyer if customer_id else "guest", "Order placed")
                if key is not None:
                    await db.insert_key(conn, owner, key, request_hash, order_id)
                if request.items is None and customer_id is not None:
                    await cart_db.remove(conn, customer_id, [ln.product_id for ln in lines])
                await self.transitions.events.emit(conn, PaymentRequested(
                    order_id, customer_id or 0, priced.total_cents, currency, card.token, card.brand, card.last4))
        except BaseException:
            if card is not None:  # never sent: its key goes now rather than at its expiry
                await asyncio.shield(self._discard(card.token))
            for ref in held:
                await asyncio.shield(self._release(ref))
            if redeemed:
                await asyncio.shield(self._give_back(order_id))
            raise
        log.info("order %s placed by %s: %d %s in %d shipment(s)", order_id,
                 f"customer {customer_id}" if customer_id is not None else "a guest", priced.total_cents, currency,
                 len(priced.shipments))
        return Placed(order_id, True)

    async def _write(self, conn, order_id: str, customer_id: int | None, email: str | None, where, priced,
                     card) -> None:
        money = {"subtotal": priced.subtotal_cents, "discount": priced.discount_cents,
                 "shipping": priced.shipping_cents, "tax": priced.tax_cents, "total": priced.total_cents}
        bill = json.dumps(where.bill_to.as_dict()) if where.bill_to is not None else None
        await db.insert_priced_order(
            conn, order_id, customer_id=customer_id, email=email, region=priced.shipments[0].region,
            currency=priced.currency, money=money, prices_include_tax=priced.prices_include_tax,
            voucher_code=priced.voucher_code, ship_to=json.dumps(where.ship_to.as_dict()), bill_to=bill,
            brand=card.brand, last4=card.last4, ttl_seconds=self.config.reservation_ttl_seconds,
            locale=current_locale())
        await db.insert_priced_lines(conn, order_id, [
            (pl.line.product_id, pl.line.seller_id, pl.line.name, pl.line.unit_price_cents, pl.line.quantity, s.no,
             pl.line.tax_class, pl.discount_cents, pl.tax_cents, pl.line.weight_grams, percent(pl.rate_bp))
            for s in priced.shipments for pl in s.lines])
        await shipment_db.insert_shipments(conn, order_id, [
            shipment_db.NewShipment(s.no, s.seller_id, s.region, s.method, s.shipping_cents, s.shipping_tax_cents,
                                    shipping_tax_rate=percent(s.shipping_rate_bp))
            for s in priced.shipments])

    async def _redeem(self, order_id, code, buyer, lines, currency, preview) -> bool:
        """Use the voucher for this order (safe under concurrency: the vouchers plugin counts); Conflict
        when its uses are gone or its discount moved since the preview."""
        if not code:
            return False
        try:
            got = await self.quoter.discount(code, buyer, pricing.plan(lines), currency, redeem_ref=order_id)
        except BaseException:
            await asyncio.shield(self._give_back(order_id))  # idempotent: nothing to give back is fine
            raise
        if dict(got.per_line) != dict(preview.per_line):
            await asyncio.shield(self._give_back(order_id))
            message = _("The voucher's discount changed while you checked out: check the new total and order "
                        "again.")
            raise Conflict(message, errors={"voucher": message})
        return True

    async def _reserve(self, order_id: str, priced, held: list[str]) -> None:
        """One reservation per shipment ("<order id>/<n>" from its region), all or nothing: ``held`` lists
        the ones made, for the caller to release when anything fails."""
        ttl = self.config.reservation_ttl_seconds + RESERVATION_MARGIN
        for s in priced.shipments:
            ref = shipment_db.reservation_ref(order_id, s.no)
            try:
                await self.inventory.reserve(ref, [(pl.line.product_id, pl.line.quantity) for pl in s.lines],
                                             s.region, ttl_seconds=ttl)
            except OutOfStock as err:
                name = next((pl.line.name for pl in s.lines if pl.line.product_id == err.product_id),
                            _("product {id}").format(id=err.product_id))
                message = _("Not enough stock of “{name}” (product {id}) in {region}: {available} available, "
                            "{requested} requested.").format(name=name, id=err.product_id, region=err.region,
                                                             available=err.available, requested=err.requested)
                raise Conflict(message, errors={"items": message}) from None
            held.append(ref)

    async def _discard(self, token: str) -> None:
        try:
            await self.payments.discard_token(token)
        except Exception:  # noqa: BLE001 - its key expires by itself
            log.warning("discarding the card token of a failed checkout failed; its key expires by itself")

    async def _release(self, ref: str) -> None:
        try:
            await self.inventory.release(ref, "checkout failed", actor="system:orders")
        except Exception:  # noqa: BLE001 - inventory's expiry frees it later
            log.exception("reservation %s: releasing the stock of a failed checkout failed; it expires by itself", ref)

    async def _give_back(self, order_id: str) -> None:
        try:
            await self.vouchers.release(order_id)
        except Exception:  # noqa: BLE001 - logged; the use stays counted (never over-redeemed)
            log.exception("order %s: giving the voucher's use back failed", order_id)


def percent(rate_bp: int) -> Decimal:
    """A tax rate in basis points (the taxes' answer) as the percent orders keep: 2100 -> Decimal("21")."""
    return Decimal(rate_bp) / 100


def _replay(found, request_hash: str) -> Placed:
    if not hmac.compare_digest(found["request_hash"], request_hash):
        message = _("This Idempotency-Key was already used for a different request. Use a new key for a new "
                    "order, or resend exactly the same request to get its result.")
        raise ValidationFailed(message, errors={"Idempotency-Key": message})
    return Placed(found["order_id"], False)
