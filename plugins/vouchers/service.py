"""VouchersService: create and list codes, and the checkout side — preview, redeem, release.

redeem is safe under concurrency: in one transaction it first takes a use with a conditional UPDATE
(``used < max_uses``), which also locks the voucher row, and only then counts the buyer's uses, so
concurrent redeems of one code are serialised at that row and neither limit can be passed. It is
idempotent per ``order_ref``: the same order gets the discount recorded the first time.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import asyncpg

from ecom.errors import Conflict, NotFound, ValidationFailed
from ecom.i18n import _

from . import db
from .checks import Bad, check_new, check_patch, normal_code
from .config import VouchersConfig
from .model import BUYER_SHAPE, Discount, Usage, Voucher, VoucherLine, message
from .split import discount_for, refused

MAX_LINES = 1000
MAX_ORDER_REF = 100


class _AlreadyThere(Exception):
    """A concurrent redeem of the same order committed first: roll ours back and answer with theirs."""


def _voucher_error(cls, key: str, **values):
    text = message(key, **values)
    return cls(text, errors={"voucher": text})


def _code(code: Any) -> str:
    try:
        return normal_code(code)
    except Bad:
        raise refused("unknown") from None


def check_lines(lines: Sequence[VoucherLine], currency: str) -> None:
    """What orders passes in; a mistake there is a 422 naming "lines", never a 500."""
    refs = [line.ref for line in lines]
    if not 1 <= len(lines) <= MAX_LINES or len(set(refs)) != len(refs):
        raise ValidationFailed(_("Give 1 to 1000 lines with distinct refs."),
                               errors={"lines": _("distinct refs, 1-1000")})
    for line in lines:
        if not (isinstance(line.amount_cents, int) and line.amount_cents >= 0 and isinstance(line.category, str)
                and isinstance(line.seller_id, int)):
            raise ValidationFailed(_("Line {ref} is malformed.").format(ref=repr(line.ref)),
                                   errors={"lines": _("malformed line")})
    if not (isinstance(currency, str) and len(currency) == 3 and currency.isalpha() and currency.isupper()):
        raise ValidationFailed(_("The currency must be an ISO 4217 code."), errors={"currency": _("like EUR")})


def _buyer(buyer: str) -> str:
    if not isinstance(buyer, str) or not BUYER_SHAPE.fullmatch(buyer):
        raise ValidationFailed(_("The buyer must be 'customer:<id>' or 'email:<address>'."),
                               errors={"buyer": _("customer:<id> or email:<address>")})
    return buyer.lower()


class VouchersService:
    def __init__(self, pool: asyncpg.Pool, config: VouchersConfig):
        self.pool = pool
        self.config = config

    # --- managing codes (admins: shop-wide, any; sellers: their own) ---

    async def create(self, data: Mapping[str, Any], *, seller_id: int | None, created_by: int) -> Voucher:
        """A new code owned by ``seller_id`` (None = shop-wide); the caller decided who may own it."""
        fields = check_new(data) | {"seller_id": seller_id, "created_by": created_by}
        created = await db.insert_voucher(self.pool, fields)
        if created is None:
            raise Conflict(message("duplicate"), errors={"code": message("duplicate")})
        return created

    async def list(self, *, seller_id: int | None, limit: int = 50, offset: int = 0) -> list[Voucher]:
        """Newest first; ``seller_id`` None = every voucher (admins)."""
        return await db.vouchers(self.pool, seller_id, limit, offset)

    async def get(self, voucher_id: int, *, seller_id: int | None = None) -> Voucher:
        """NotFound for a missing voucher, or one of another seller when ``seller_id`` is given."""
        found = await db.voucher(self.pool, voucher_id)
        if found is None or (seller_id is not None and found.seller_id != seller_id):
            raise NotFound(message("not_found"))
        return found

    async def update(self, voucher_id: int, data: Mapping[str, Any], *, seller_id: int | None = None) -> Voucher:
        """Switch a code off or on, move its end, change its total limit (not below the uses taken)."""
        fields = check_patch(data)
        async with self.pool.acquire() as conn, conn.transaction():
            found = await db.voucher(conn, voucher_id, lock=True)
            if found is None or (seller_id is not None and found.seller_id != seller_id):
                raise NotFound(message("not_found"))
            if fields.get("max_uses") is not None and fields["max_uses"] < found.used:
                raise ValidationFailed(message("below_used", used=found.used),
                                       errors={"max_uses": message("below_used", used=found.used)})
            ends = fields.get("ends_at", found.ends_at)
            if ends is not None and found.starts_at is not None and ends <= found.starts_at:
                raise ValidationFailed(_("The end must be after the start."),
                                       errors={"ends_at": _("Must be after the start.")})
            return await db.update_voucher(conn, voucher_id, fields)

    async def usage(self, voucher_id: int, recent: int = 50) -> Usage:
        found = await self.get(voucher_id)
        redeemed, released = await db.counts(self.pool, voucher_id)
        return Usage(found, redeemed, released, await db.recent_redemptions(self.pool, voucher_id, recent))

    # --- checkout ---

    async def preview(self, code: str, buyer: str, lines: Sequence[VoucherLine], currency: str) -> Discount:
        """What the code would take off these lines now (the cart); takes no use. ``buyer`` "" = not known yet."""
        check_lines(lines, currency)
        found, now = await db.voucher_by_code(self.pool, _code(code))
        if found is None:
            raise refused("unknown")
        discount = discount_for(found, now, lines, currency)
        if found.remaining is not None and found.remaining <= 0:
            raise _voucher_error(Conflict, "used_up")
        if buyer and found.max_uses_per_customer is not None:
            if await db.buyer_uses(self.pool, found.id, _buyer(buyer)) >= found.max_uses_per_customer:
                raise refused("per_customer")
        return discount

    async def redeem(self, code: str, order_ref: str, buyer: str, lines: Sequence[VoucherLine],
                     currency: str) -> Discount:
        """Take one use of the code for ``order_ref``; the same order again gets the same Discount.

        ValidationFailed on "voucher" when the code does not apply (see split.py and the per-customer
        limit), Conflict when its uses are gone or the order carries another code."""
        check_lines(lines, currency)
        buyer = _buyer(buyer)
        if not isinstance(order_ref, str) or not 1 <= len(order_ref) <= MAX_ORDER_REF:
            raise ValidationFailed(_("The order ref must be 1 to 100 characters."),
                                   errors={"order_ref": _("1-100 chars")})
        code = _code(code)
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                return await self._redeem(conn, code, order_ref, buyer, lines, currency)
        except (_AlreadyThere, Conflict, ValidationFailed):
            row = await db.redemption_of(self.pool, order_ref)  # a concurrent redeem of this order won
            if row is None:
                raise
            return self._same_order(row, code)

    async def _redeem(self, conn, code: str, order_ref: str, buyer: str, lines: Sequence[VoucherLine],
                      currency: str) -> Discount:
        existing = await db.redemption_of(conn, order_ref)
        if existing is not None:
            return self._same_order(existing, code)
        found, now = await db.voucher_by_code(conn, code)
        if found is None:
            raise refused("unknown")
        discount = discount_for(found, now, lines, currency)
        if not await db.take_use(conn, found.id):  # locks the voucher row until commit
            fresh = await db.voucher(conn, found.id)
            raise refused("inactive") if not fresh.active else _voucher_error(Conflict, "used_up")
        limit = found.max_uses_per_customer
        if limit is not None and await db.buyer_uses(conn, found.id, buyer) >= limit:
            raise refused("per_customer")
        if not await db.insert_redemption(conn, found.id, order_ref, buyer, currency, discount):
            raise _AlreadyThere
        return discount

    @staticmethod
    def _same_order(row: asyncpg.Record, code: str) -> Discount:
        if row["code"] != code:
            raise _voucher_error(Conflict, "other_voucher")
        if row["status"] != "redeemed":
            raise _voucher_error(Conflict, "released")
        return db.as_discount(row)

    async def release(self, order_ref: str) -> bool:
        """Give the order's use back (its order failed, expired or was cancelled before shipping).
        Idempotent: False when there is nothing (any more) to give back."""
        async with self.pool.acquire() as conn, conn.transaction():
            voucher_id = await db.release(conn, order_ref)
            if voucher_id is None:
                return False
            await db.give_back(conn, voucher_id)
            return True

