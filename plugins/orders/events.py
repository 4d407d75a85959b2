"""Events the orders plugin publishes (a public API: change a payload only with a version bump).

``ecom/orders/status`` (OrderStatusChanged) and ``ecom/orders/shipment`` (ShipmentStatusChanged).

Orders also consumes payments' events (plugins/payments/events.py): PaymentCompleted and PaymentFailed
(inbox), and produces PaymentRequested (at checkout) and RefundRequested (a paid order cancelled, or a
payment that arrived for an order that had expired or been cancelled meanwhile).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, TypedDict

from ecom.events import event

ACTOR = ("Who made the change: ``customer:<id>``, ``seller:<id>``, ``admin:<id>``, ``guest`` (a guest's "
         "checkout), ``system:payments``, ``system:expiry``, ``system:orders``.")


class OrderLine(TypedDict):
    """One line of an order as placed (prices are the ones the buyer paid, not today's)."""
    product_id: Annotated[int, "The catalog's product id."]
    seller_id: Annotated[int, "The product's seller (the shipment it travels in is theirs)."]
    shipment_no: Annotated[int | None, "The shipment carrying this line (1, 2, ...); null only for a line "
                                       "of an order placed before shipments existed."]
    quantity: Annotated[int, "Units bought (1..99)."]
    unit_price_cents: Annotated[int, "Price of one unit in the order's currency, in minor units (cents), "
                                     "before the order's discount."]
    currency: Annotated[str, "ISO 4217 code of the order's currency (EUR)."]


@event("ecom/orders/status")
@dataclass(frozen=True)
class OrderStatusChanged:
    """An order was placed or changed status. Produced by **orders**, through its outbox, in the
    transaction that records the change (so exactly one event per history row).

    Topic ``ecom/orders/status``, version 1, data::

        {"order_id": "ord_...", "status": "paid", "previous": "pending_payment",
         "reason": "Payment txn_... approved", "at": "2025-01-31T12:00:00.123456+00:00",
         "actor": "system:payments", "customer_id": 7,
         "lines": [{"product_id": 12, "seller_id": 3, "shipment_no": 1, "quantity": 2,
                    "unit_price_cents": 1299, "currency": "EUR"}]}

    ``status`` and ``previous`` are order statuses (pending_payment, paid, payment_failed, expired,
    cancelled, fulfilled, shipped, delivered); ``previous`` is null when the order was just placed.
    ``at`` is the ISO-8601 time of the change, ``reason`` a sentence safe to show the shopper, ``actor``
    who did it: ``customer:<id>``, ``seller:<id>``, ``admin:<id>``, ``system:payments``,
    ``system:expiry``. Live views (the order page's event stream) are fed by this event.

    ``customer_id`` and ``lines`` (added without a version bump: optional fields) let a consumer act
    without calling back into orders. A guest's order has ``customer_id`` null: its email is personal
    data and never travels in an event. Consumers: notifications, invoices, webhooks (``orders.status``).
    """
    order_id: Annotated[str, "The order's public number (``ord_...``)."]
    status: Annotated[str, "The order's status after the change (pending_payment, paid, payment_failed, "
                           "expired, cancelled, fulfilled, partially_shipped, shipped, partially_delivered, "
                           "delivered, partially_refunded, refunded)."]
    previous: Annotated[str | None, "The status before the change; null when the order was just placed."]
    reason: Annotated[str, "Why, as a sentence safe to show the shopper (English)."]
    at: Annotated[str, "ISO-8601 time of the change (the history row's)."]
    actor: Annotated[str, ACTOR] = ""
    customer_id: Annotated[int | None, "The buyer's user id; null for a guest's order (and in events of "
                                       "producers older than this field)."] = None
    lines: Annotated[list[OrderLine], "Every line of the order ([] from producers older than this field)."] \
        = field(default_factory=list)


@event("ecom/orders/shipment")
@dataclass(frozen=True)
class ShipmentStatusChanged:
    """One shipment of an order changed status. Produced by **orders**, through its outbox, in the
    transaction that makes the change: a seller's or admin's step (fulfilled, shipped, delivered), a
    refund of that shipment (refunded), or the whole order cancelled, expired or failed (cancelled).

    Topic ``ecom/orders/shipment``, version 1, data::

        {"order_id": "ord_...", "shipment_no": 1, "seller_id": 12, "status": "shipped",
         "previous": "fulfilled", "carrier": "DHL", "tracking_number": "JD0146...",
         "at": "2025-01-31T12:00:00.123456+00:00", "actor": "seller:12", "customer_id": 7,
         "lines": [{"product_id": 12, "seller_id": 12, "shipment_no": 1, "quantity": 2,
                    "unit_price_cents": 1299, "currency": "EUR"}]}

    ``status`` and ``previous`` are shipment statuses (pending, fulfilled, shipped, delivered, cancelled,
    refunded); ``previous`` is null only if a shipment ever starts without one. ``carrier`` and
    ``tracking_number`` are the shipment's (set once it is shipped, else null). ``actor`` as in
    OrderStatusChanged (``seller:<id>``, ``admin:<id>``, ``customer:<id>``, ``system:payments``,
    ``system:expiry``). The order's own status change, if any, follows as an OrderStatusChanged in the
    same transaction. Consumers: notifications (shipped, delivered, refunded mails), invoices (credit
    note for a refunded shipment). Details of the order: ``ORDERS.record(order_id)``.

    ``customer_id`` and ``lines`` (the lines this shipment carries; optional fields, no version bump)
    tell a consumer "customer X received product Y" from the event alone (a reviews plugin on
    ``delivered``). A guest's order has ``customer_id`` null.
    """
    order_id: Annotated[str, "The order's public number (``ord_...``)."]
    shipment_no: Annotated[int, "The shipment's number within the order (1, 2, ...: one per seller and region)."]
    seller_id: Annotated[int, "The seller who ships it."]
    status: Annotated[str, "The shipment's status after the change (pending, fulfilled, shipped, delivered, "
                           "cancelled, refunded)."]
    previous: Annotated[str | None, "The status before the change."]
    carrier: Annotated[str | None, "The carrier's name, once shipped (else null)."]
    tracking_number: Annotated[str | None, "The carrier's tracking number, once shipped (else null)."]
    at: Annotated[str, "ISO-8601 time of the change."]
    actor: Annotated[str, ACTOR] = ""
    customer_id: Annotated[int | None, "The buyer's user id; null for a guest's order (and in events of "
                                       "producers older than this field)."] = None
    lines: Annotated[list[OrderLine], "The order's lines in this shipment ([] from producers older than "
                                      "this field)."] = field(default_factory=list)
