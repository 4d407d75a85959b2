"""History reasons: stored in English (the msgid) in order_history / shipment_history and in events,
shown translated in the reader's language (the ``order_reason`` template filter).

Every sentence orders writes is marked here with N_. Some carry a variable part, kept out of the sentence
where they are stored: "<reason> (shipment 2)", "Shipment 2 refunded by the seller: <note>", "Payment
failed: <payments' reason>"; ``show`` recognises those shapes and translates the fixed parts (a
payments' reason is payments' own msgid, translated when the catalogs know it).
"""
from __future__ import annotations

import re

from ecom.i18n import N_, _

PLACED, PAID_REASON = N_("Order placed"), N_("Payment approved")
CANCELLED_BY = {"customer": N_("Cancelled by the customer"), "admin": N_("Cancelled by an admin")}
MARKED = {("fulfilled", "seller"): N_("Marked fulfilled by the seller"),
          ("fulfilled", "admin"): N_("Marked fulfilled by the admin"),
          ("shipped", "seller"): N_("Marked shipped by the seller"),
          ("shipped", "admin"): N_("Marked shipped by the admin"),
          ("delivered", "seller"): N_("Marked delivered by the seller"),
          ("delivered", "admin"): N_("Marked delivered by the admin")}
REFUNDED_BY = {"seller": N_("Shipment {n} refunded by the seller"), "admin": N_("Shipment {n} refunded by the admin"),
               "customer": N_("Shipment {n} refunded by the customer")}
CARD_DECLINED = N_("Card declined")
LATE = {"expired": N_("Payment arrived after the order was expired"),
        "cancelled": N_("Payment arrived after the order was cancelled"),
        "payment_failed": N_("Payment arrived after the order was payment failed")}
OTHERS = (N_("The stock hold ran out before the payment arrived; the payment is refunded"),
          N_("Payment arrived after the stock hold ran out"),
          N_("The stock hold ran out before the sale could be recorded; the payment is refunded"),
          N_("Not paid in time; the stock was released"))

_SHIPMENT = re.compile(r"^(?P<reason>.+) \(shipment (?P<n>\d+)\)$")
_REFUND = re.compile(r"^Shipment (?P<n>\d+) refunded by the (?P<role>\w+)(?:: (?P<note>.*))?$", re.S)
FAILED_PREFIX = "Payment failed: "  # + payments' reason, as saga.py writes it


def show(reason: str | None) -> str:
    """``reason`` in the current language (unknown text is shown as it was stored)."""
    if not reason:
        return ""
    if (m := _SHIPMENT.match(reason)) is not None:
        return _("{reason} (shipment {n})").format(reason=show(m["reason"]), n=m["n"])
    if (m := _REFUND.match(reason)) is not None and m["role"] in REFUNDED_BY:
        text = _(REFUNDED_BY[m["role"]]).format(n=m["n"])
        return _("{reason}: {note}").format(reason=text, note=m["note"]) if m["note"] else text
    if reason.startswith(FAILED_PREFIX):
        return _("Payment failed: {reason}").format(reason=_(reason[len(FAILED_PREFIX):]))
    return _(reason)
