"""Payments: card tokens, recording requested payments, processing them when due, refunds, listings.

No aiohttp here. Logs name payments and orders, never a card number, CVC or token. A card token opens
at most once: its key (vault.py) is deleted when its payment is processed, when it turns out to be
unusable, or when it expires.
"""
from __future__ import annotations

import logging
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg

from ecom import tracing
from ecom.errors import ValidationFailed
from ecom.i18n import N_, _

from . import db, refunds
from .cards import BRANDS, CardDetails, CardToken, decline_reason, parse_card
from .config import PaymentsConfig
from .events import PaymentCompleted, PaymentFailed, PaymentRequested, RefundRequested
from .refunds import Refund
from .vault import CardVault, TokenInvalid

log = logging.getLogger("ecom.plugins.payments")

STATUSES = ("pending", "approved", "declined", "partially_refunded", "refunded")
CURRENCY = re.compile(r"[A-Z]{3}")
MAX_AMOUNT = 10**12
MAX_ORDER_ID = 100
INVALID_REQUEST = N_("Invalid payment request")  # failure reasons: English msgids, shown with _()
TOKEN_EXPIRED = N_("Card details expired")
RETRY_SECONDS = 5


@dataclass(frozen=True)
class Payment:
    id: uuid.UUID
    order_id: str
    customer_id: int | None
    status: str
    amount_cents: int
    currency: str
    brand: str | None
    last4: str | None
    transaction_id: str | None
    failure_reason: str | None
    created_at: datetime
    processed_at: datetime | None
    refunded_at: datetime | None
    refunded_cents: int = 0  # the sum of granted refunds (status partially_refunded until it is amount_cents)

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> "Payment":
        return cls(**dict(row))


@dataclass(frozen=True)
class DaySummary:
    day: date
    approved: int
    declined: int
    refunded: int


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _order_id(value: Any) -> str | None:
    ok = isinstance(value, str) and 1 <= len(value) <= MAX_ORDER_ID and value.isprintable()
    return value if ok else None


class PaymentsService:
    def __init__(self, pool: asyncpg.Pool | None, config: PaymentsConfig, vault: CardVault, events: Any = None):
        self.pool, self.config, self.vault, self.events = pool, config, vault, events

    # ------------------------------------------------------------------ checkout (called by orders)
    async def tokenize(self, card: Any) -> CardToken:
        """Check ``{card_number, exp_month, exp_year, cvc}`` and seal it into a token with a key of its
        own, stored here until the payment is processed or ``card_token_ttl_seconds`` have passed.

        Raises ValidationFailed naming the bad fields (``card_number``, ``exp_month``, ``exp_year``,
        ``cvc``). The token is the only place the number and CVC exist after this call."""
        details = parse_card(card)
        key_id, data_key, wrapped = self.vault.new_key()
        await db.insert_card_key(self.pool, key_id, wrapped, self.config.card_token_ttl_seconds)
        return CardToken(self.vault.seal(details, key_id, data_key), details.brand, details.last4)

    @staticmethod
    def check_card(card: Any) -> None:
        """ValidationFailed naming the bad card fields, as tokenize would, without making a key."""
        parse_card(card)

    async def discard_token(self, token: str) -> None:
        """Shred a token that will never be sent (its checkout failed)."""
        if (key_id := self.vault.key_id(token)) is not None:
            await db.take_card_key(self.pool, key_id)

    async def forget_expired_card_keys(self) -> int:
        """Delete the keys of tokens past their TTL (every copy of those tokens becomes noise)."""
        return await db.delete_expired_card_keys(self.pool)

    async def _open(self, conn: asyncpg.Connection, token: Any) -> CardDetails | None:
        """The card in ``token``, its key deleted in ``conn``'s transaction; None if it cannot be opened."""
        key_id = self.vault.key_id(token)
        wrapped = await db.take_card_key(conn, key_id) if key_id is not None else None
        if wrapped is None:
            return None
        try:
            return self.vault.open(token, wrapped)
        except TokenInvalid:
            return None

    # ------------------------------------------------------------------ event handlers (inbox transactions)
    async def on_payment_requested(self, conn: asyncpg.Connection, req: PaymentRequested) -> None:
        """Record the order's one payment, due ``delay_seconds`` from now. A repeat is ignored."""
        order_id = _order_id(req.order_id)
        if order_id is None:
            log.error("payment request without a usable order id dropped")
            return
        payment_id = uuid.uuid4()
        amount, customer_id = _int(req.amount_cents), _int(req.customer_id)
        currency = req.currency if isinstance(req.currency, str) and CURRENCY.fullmatch(req.currency) else None
        brand = req.brand if req.brand in BRANDS else None
        last4 = req.last4 if isinstance(req.last4, str) and re.fullmatch(r"[0-9]{4}", req.last4) else None
        if (amount is None or not 0 < amount <= MAX_AMOUNT or currency is None or customer_id is None
                or not isinstance(req.card_token, str) or not req.card_token):
            if (key_id := self.vault.key_id(req.card_token)) is not None:
                await db.take_card_key(conn, key_id)  # never to be used: shred it now
            if await db.insert_declined(conn, payment_id, order_id, customer_id, amount if amount and 0 < amount
                                        <= MAX_AMOUNT else 0, currency or "XXX", brand, last4, INVALID_REQUEST):
                await self.events.emit(conn, PaymentFailed(order_id, str(payment_id), INVALID_REQUEST))
                log.warning("payment %s for order %s declined: malformed request", payment_id, order_id)
            return
        if not await db.insert_pending(conn, payment_id, order_id, customer_id, amount, currency, brand, last4,
                                       req.card_token, self.config.delay_seconds,
                                       tracing.carry({}) if tracing.on else None):
            if (key_id := self.vault.key_id(req.card_token)) is not None:
                await db.drop_unused_card_key(conn, key_id, order_id, req.card_token)
            log.info("payment for order %s already recorded; repeated request ignored", order_id)
            return
        log.info("payment %s for order %s recorded (%d %s), due in %gs", payment_id, order_id, amount, currency,
                 self.config.delay_seconds)

    async def on_refund_requested(self, conn: asyncpg.Connection, req: RefundRequested) -> None:
        """Grant one refund per (order, refund_ref), never above what was paid (refunds.py); anything
        else is recorded as a rejected refund."""
        order_id = _order_id(req.order_id)
        if order_id is None:
            log.error("refund request without a usable order id dropped")
            return
        await refunds.on_refund_requested(conn, self.events, req, order_id)

    # ------------------------------------------------------------------ the scheduler's work
    async def process_due(self) -> int:
        """Approve or decline up to ``scheduler_batch`` due payments in one transaction, each with its
        result event in the outbox. Returns how many were claimed (a payment that hits an error is
        put back, due ``RETRY_SECONDS`` later)."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await db.claim_due(conn, self.config.scheduler_batch)
            for row in rows:
                try:
                    async with conn.transaction():  # a savepoint: one bad row does not hold up the rest
                        with tracing.continued(row["traceparent"], "payments: process payment"):
                            await self._process(conn, row)
                except (asyncpg.PostgresError, ValueError) as err:
                    log.error("payment %s for order %s could not be processed (%s: %s); retrying in %ds",
                              row["id"], row["order_id"], type(err).__name__, err, RETRY_SECONDS)
                    await db.postpone(conn, row["id"], RETRY_SECONDS)
            return len(rows)

    async def _process(self, conn: asyncpg.Connection, row: asyncpg.Record) -> None:
        payment_id, order_id = row["id"], row["order_id"]
        card = await self._open(conn, row["card_token"])
        reason = TOKEN_EXPIRED if card is None else decline_reason(card)
        if reason is not None:
            await db.decline(conn, payment_id, reason, card and card.brand, card and card.last4)
            await self.events.emit(conn, PaymentFailed(order_id, str(payment_id), reason))
            log.info("payment %s for order %s declined: %s", payment_id, order_id, reason)
            return
        transaction_id = "txn_" + secrets.token_hex(12)
        await db.approve(conn, payment_id, transaction_id, card.brand, card.last4)
        await self.events.emit(conn, PaymentCompleted(order_id, str(payment_id), transaction_id, row["amount_cents"],
                                                      row["currency"].strip(), card.brand, card.last4))
        log.info("payment %s for order %s approved: %s", payment_id, order_id, transaction_id)

    async def seconds_until_due(self) -> float | None:
        return await db.seconds_until_due(self.pool)

    # ------------------------------------------------------------------ reading
    async def list_payments(self, *, customer_id: int | None = None, order_id: str | None = None,
                            status: str | None = None, limit: int = 50, offset: int = 0) -> list[Payment]:
        """Newest first. ``customer_id`` None means everyone's (admins); filters apply when given."""
        errors = {}
        if order_id is not None and _order_id(order_id) is None:
            errors["order_id"] = _("must be 1 to {max} printable characters").format(max=MAX_ORDER_ID)
        if status is not None and status not in STATUSES:
            errors["status"] = _("must be one of {statuses}").format(statuses=", ".join(STATUSES))
        if errors:
            raise ValidationFailed(_("Check the filters."), errors=errors)
        rows = await db.list_payments(self.pool, customer_id, order_id, status, limit, offset)
        return [Payment.from_row(r) for r in rows]

    async def payment_for_order(self, order_id: str) -> Payment | None:
        if _order_id(order_id) is None:
            return None
        row = await db.payment_for_order(self.pool, order_id)
        return Payment.from_row(row) if row else None

    async def refunds_of(self, payment_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[Refund]]:
        """payment id -> its granted refunds, oldest first (every id given has a list, maybe empty)."""
        found: dict[uuid.UUID, list[Refund]] = {pid: [] for pid in payment_ids}
        for row in await db.granted_refunds(self.pool, list(found)) if found else []:
            found[row["payment_id"]].append(Refund.from_row(row))
        return found

    async def daily_summary(self, days: int = 30, *, time_zone: str = "UTC") -> list[DaySummary]:
        """Approved/declined/refunded counts per day of processing in ``time_zone``, newest first (a chart)."""
        return [DaySummary(**dict(r)) for r in await db.daily_summary(self.pool, days, time_zone)]

    async def counts_by_status(self) -> dict[str, int]:
        """{status: payments} for every status (0 included), all time."""
        found = await db.counts_by_status(self.pool)
        return {status: found.get(status, 0) for status in STATUSES}
