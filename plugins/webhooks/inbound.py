"""The inbound stock webhook: an ERP pushes stock levels, signed like our outbound webhooks.

``POST /api/v1/inventory/stock-webhook`` with the Standard Webhooks headers (``webhook-id``,
``webhook-timestamp``, ``webhook-signature``) made with a secret an admin created on /admin/webhooks
for one seller, and a JSON body ``{"items": [{"sku": "MUG-1", "region": "eu-west", "quantity": 12}]}``.
A missing or wrong signature, or a timestamp more than 5 minutes off, is a 401 and touches nothing.

The items go through the SAME bulk path as a seller's CSV upload: they are written as that CSV
(``sku,region,quantity``) and handed to inventory's public ImportService.queue for the secret's seller,
so every check (SKU in this seller's catalog, region, quantity, reserved units) and the batching,
ledger and low-stock events are inventory's own. The answer is 202 with the queued import's summary.
"""
from __future__ import annotations

import csv
import io

from ecom.errors import ValidationFailed
from ecom.gateway.auth import Identity
from ecom.i18n import _

MAX_ITEMS = 100_000


def items_to_csv(body: dict) -> bytes:
    items = body.get("items")
    if not isinstance(items, list) or not items or len(items) > MAX_ITEMS:
        raise ValidationFailed(_("Send a JSON object whose items list has 1 to {n} entries.").format(n=MAX_ITEMS),
                               errors={"items": _("1 to {n} items").format(n=MAX_ITEMS)})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["sku", "region", "quantity"])
    for item in items:
        if not isinstance(item, dict):
            item = {}
        # inventory checks each value (a bad one is a rejected line with its number, as in a CSV)
        writer.writerow([str(item.get("sku", "")), str(item.get("region", "")), str(item.get("quantity", ""))])
    return out.getvalue().encode()


def seller_identity(seller_id: int, secret_id: int) -> Identity:
    """Who the import is recorded for: the secret's seller (inventory looks SKUs up in their catalog)."""
    return Identity(user_id=seller_id, email="", name=f"stock webhook {secret_id}", roles=frozenset({"seller"}),
                    via="webhook")
