"""Events the orders plugin publishes (a public API: change a payload only with a version bump).

``ecom/orders/status`` (OrderStatusChanged) and ``ecom/orders/shipment`` (ShipmentStatusChanged).

Orders also consumes payments' events (plugins/payments/events.py): PaymentCompleted and PaymentFailed
(inbox), and produces PaymentRequested (at checkout) and RefundRequested (a paid order cancelled, or a
payment that arrived for an order that had expired or been cancelled meanwhile).
"""
from __future__ import annotations

from dataclasses import dataclass

from ecom.events import event


@event("ecom/orders/status")
@dataclass(frozen=True)
class OrderStatusChanged:
    """An order was placed or changed status. Produced by **orders**, through its outbox, in the
    transaction that records the change (so exactly one event per history row).

    Topic ``ecom/orders/status``, version 1, data::

        {"order_id": "ord_...", "status": "paid", "previous": "pending_payment",
         "reason": "Payment txn_... approved", "at": "2025-01-31T12:00:00.123456+00:00",
         "actor": "system:payments"}

    ``status`` and ``previous`` are order statuses (pending_payment, paid, payment_failed, expired,
    cancelled, fulfilled, shipped, delivered); ``previous`` is null when the order was just placed.
    ``at`` is the ISO-8601 time of the change, ``reason`` a sentence safe to show the shopper, ``actor``
    who did it: ``customer:<id>``, ``seller:<id>``, ``admin:<id>``, ``system:payments``,
    ``system:expiry``. Live views (the order page's event stream) are fed by this event.
    """
    order_id: str
    status: str
    previous: str | None
    reason: str
    at: str
    actor: str = ""


@event("ecom/orders/shipment")
@dataclass(frozen=True)
class ShipmentStatusChanged:
    """One shipment of an order changed status. Produced by **orders**, through its outbox, in the
    transaction that makes the change: a seller's or admin's step (fulfilled, shipped, delivered), a
    refund of that shipment (refunded), or the whole order cancelled, expired or failed (cancelled).

    Topic ``ecom/orders/shipment``, version 1, data::

        {"order_id": "ord_...", "shipment_no": 1, "seller_id": 12, "status": "shipped",
         "previous": "fulfilled", "carrier": "DHL", "tracking_number": "JD0146...",
         "at": "2025-01-31T12:00:00.123456+00:00", "actor": "seller:12"}

    ``status`` and ``previous`` are shipment statuses (pending, fulfilled, shipped, delivered, cancelled,
    refunded); ``previous`` is null only if a shipment ever starts without one. ``carrier`` and
    ``tracking_number`` are the shipment's (set once it is shipped, else null). ``actor`` as in
    OrderStatusChanged (``seller:<id>``, ``admin:<id>``, ``customer:<id>``, ``system:payments``,
    ``system:expiry``). The order's own status change, if any, follows as an OrderStatusChanged in the
    same transaction. Consumers: notifications (shipped, delivered, refunded mails), invoices (credit
    note for a refunded shipment). Details of the order: ``ORDERS.record(order_id)``.
    """
    order_id: str
    shipment_no: int
    seller_id: int
    status: str
    previous: str | None
    carrier: str | None
    tracking_number: str | None
    at: str
    actor: str = ""
