"""Events of the checkout/payment saga (DESIGN §6). A public API: change a payload only with a version bump.

Every payload travels in the envelope of :mod:`ecom.events`
(``{"id", "type": <topic>, "version": 1, "occurred_at", "data": {...}}``), QoS 1, through the producer's
outbox; consumers dedupe by event id in their inbox. Money is integer minor units plus an ISO 4217
currency code. No event ever carries a card number or CVC in clear: only ``card_token`` (opaque,
``<key id>.<Fernet ciphertext>``, whose one-off key payments deletes once the payment is processed or
the token expires: a copy kept anywhere opens nothing after that), ``brand`` and ``last4``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from ecom.events import event


@event("ecom/payments/requested", owner="orders")
@dataclass(frozen=True)
class PaymentRequested:
    """Charge a card for an order. Produced by **orders** at checkout, in the order's transaction.

    Topic ``ecom/payments/requested``, version 1, data::

        {"order_id": "ord_...", "customer_id": 7, "amount_cents": 2599, "currency": "EUR",
         "card_token": "<PaymentsService.tokenize(card).token>", "brand": "visa", "last4": "4242"}

    Payments records one payment per ``order_id`` (a repeated request has no further effect), due
    ``[plugins.payments] delay_seconds`` later, and answers with exactly one PaymentCompleted or
    PaymentFailed for that order.
    """
    order_id: Annotated[str, "The order's public number (``ord_...``)."]
    customer_id: Annotated[int, "The buyer's user id (0 for a guest's order)."]
    amount_cents: Annotated[int, "What to charge, in minor units of ``currency``."]
    currency: Annotated[str, "ISO 4217 code (EUR)."]
    card_token: Annotated[str, "The card, encrypted with a one-off key that payments deletes once used or "
                               "expired (``<key id>.<Fernet ciphertext>``). A secret: never delivered by webhook."]
    brand: Annotated[str, "Card brand (visa, mastercard, amex, ...)."]
    last4: Annotated[str, "The card number's last four digits."]


@event("ecom/payments/completed")
@dataclass(frozen=True)
class PaymentCompleted:
    """The card was charged. Produced by **payments** (scheduler), once per order.

    Topic ``ecom/payments/completed``, version 1, data::

        {"order_id": "ord_...", "payment_id": "<uuid>", "transaction_id": "txn_...",
         "amount_cents": 2599, "currency": "EUR", "brand": "visa", "last4": "4242"}
    """
    order_id: Annotated[str, "The order's public number (``ord_...``)."]
    payment_id: Annotated[str, "The payment's id (a UUID) in payments."]
    transaction_id: Annotated[str, "The processor's transaction reference (``txn_...``)."]
    amount_cents: Annotated[int, "What was charged, in minor units of ``currency``."]
    currency: Annotated[str, "ISO 4217 code (EUR)."]
    brand: Annotated[str, "Card brand (visa, mastercard, amex, ...)."]
    last4: Annotated[str, "The card number's last four digits."]


@event("ecom/payments/failed")
@dataclass(frozen=True)
class PaymentFailed:
    """The card was not charged. Produced by **payments**, once per order (instead of PaymentCompleted).

    Topic ``ecom/payments/failed``, version 1, data::

        {"order_id": "ord_...", "payment_id": "<uuid>", "reason": "Card declined"}

    ``reason`` is human-readable and safe to show the shopper: "Card declined", "Card expired",
    "Card details expired" (the token outlived ``card_token_ttl_seconds`` or cannot be read),
    "Invalid card number", "Invalid CVC", "Invalid payment request". It is the English text, which is
    also the gettext msgid (in the payments catalog): store it as it comes and show it with ``_(reason)``
    in the reader's language.
    """
    order_id: Annotated[str, "The order's public number (``ord_...``)."]
    payment_id: Annotated[str, "The payment's id (a UUID) in payments."]
    reason: Annotated[str, "Why, in English (also the gettext msgid: show it with ``_(reason)``)."]


@event("ecom/payments/refund_requested", owner="orders")
@dataclass(frozen=True)
class RefundRequested:
    """Give (some of) an order's money back. Produced by **orders** when a paid order, or one shipment of
    it, is cancelled or refunded.

    Topic ``ecom/payments/refund_requested``, version 1, data::

        {"order_id": "ord_...", "amount_cents": 2599, "currency": "EUR", "reason": "Cancelled by customer",
         "refund_ref": "shipment-2"}

    ``refund_ref`` names what is refunded (orders: ``shipment-<n>``); ``""`` (the default, and what a
    producer without the field sends) is the whole order: it refunds ``amount_cents`` but never more than
    is left after earlier refunds. A payment may be refunded once per (order_id, refund_ref): a repeated
    request has no effect. A named refund must be 1..what is left, or it is rejected. The payment becomes
    ``partially_refunded`` until the refunds add up to the amount paid, then ``refunded``; each granted
    refund emits one PaymentRefunded. A request for an unknown, unpaid or fully refunded order (or with a
    wrong currency, or more than is left) is recorded as a rejected refund and logged; nothing is emitted.
    """
    order_id: Annotated[str, "The order's public number (``ord_...``)."]
    amount_cents: Annotated[int, "How much to give back at most, in minor units of ``currency``."]
    currency: Annotated[str, "ISO 4217 code (EUR); must be the payment's."]
    reason: Annotated[str, "Why, as a sentence safe to show the shopper."]
    refund_ref: Annotated[str, "What is refunded (``shipment-<n>``); empty: the whole order."] = ""


@event("ecom/payments/refunded")
@dataclass(frozen=True)
class PaymentRefunded:
    """The money went back to the card. Produced by **payments**, once per (order_id, refund_ref).

    Topic ``ecom/payments/refunded``, version 1, data::

        {"order_id": "ord_...", "payment_id": "<uuid>", "refund_id": "<uuid>", "amount_cents": 2599,
         "refund_ref": "shipment-2"}

    ``amount_cents`` is what this refund gave back (for ``refund_ref`` ``""``: what was left of the
    order, at most the amount asked). The payment's status (PaymentsService.payment_for_order) says
    whether it is now ``partially_refunded`` or ``refunded``; its ``refunded_cents`` is the running sum.
    """
    order_id: Annotated[str, "The order's public number (``ord_...``)."]
    payment_id: Annotated[str, "The payment's id (a UUID) in payments."]
    refund_id: Annotated[str, "This refund's id (a UUID)."]
    amount_cents: Annotated[int, "What this refund gave back, in minor units of the payment's currency."]
    refund_ref: Annotated[str, "What was refunded (``shipment-<n>``); empty: the whole order."] = ""
