"""The invoices plugin's values: an issued document (invoice or credit note) and a seller's profile."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ecom.i18n import N_

INVOICE, CREDIT_NOTE = "invoice", "credit_note"
SERIES = {INVOICE: "F", CREDIT_NOTE: "R"}
KIND_LABELS = {INVOICE: N_("Invoice"), CREDIT_NOTE: N_("Credit note")}
# credit note reasons: stored as the English msgid, shown translated
SHIPMENT_REFUNDED = N_("Shipment refunded")
SHIPMENT_CANCELLED = N_("Shipment cancelled")
ORDER_CANCELLED = N_("Order cancelled")
ORDER_REFUNDED = N_("Order refunded")


def number(series: str, seller_id: int, year: int, seq: int) -> str:
    """F-12-2026-000001: series, seller, calendar year, then the gap-free sequence of that year."""
    return f"{series}-{seller_id}-{year}-{seq:06d}"


@dataclass(frozen=True)
class Document:
    id: int
    kind: str
    number: str
    seller_id: int
    customer_id: int | None
    order_id: str
    invoice_id: int | None
    shipments: tuple[int, ...]
    currency: str
    net_cents: int
    tax_cents: int
    total_cents: int
    locale: str | None
    reason: str
    document: dict[str, Any]
    issued_at: datetime
    seq: int = 0
    year: int = 0

    @classmethod
    def from_row(cls, row: Any) -> "Document":
        doc = row["document"]
        return cls(row["id"], row["kind"], row["number"], row["seller_id"], row["customer_id"], row["order_id"],
                   row["invoice_id"], tuple(row["shipments"]), row["currency"].strip(), row["net_cents"],
                   row["tax_cents"], row["total_cents"], row["locale"], row["reason"],
                   json.loads(doc) if isinstance(doc, str) else dict(doc), row["issued_at"], row["seq"], row["year"])

    @property
    def label(self) -> str:
        return KIND_LABELS[self.kind]

    @property
    def is_credit(self) -> bool:
        return self.kind == CREDIT_NOTE

    def as_json(self) -> dict[str, Any]:
        d = self.document
        return {"id": self.id, "kind": self.kind, "number": self.number, "seller_id": self.seller_id,
                "customer_id": self.customer_id, "order_id": self.order_id, "invoice_id": self.invoice_id,
                "invoice_number": (d.get("invoice") or {}).get("number"), "shipments": list(self.shipments),
                "currency": self.currency, "net_cents": self.net_cents, "tax_cents": self.tax_cents,
                "total_cents": self.total_cents, "reason": self.reason or None,
                "issued_at": self.issued_at.isoformat(), "prices_include_tax": d.get("prices_include_tax"),
                "seller": d.get("seller"), "buyer": d.get("buyer"), "lines": d.get("lines", []),
                "taxes": d.get("taxes", []), "pdf": f"/invoices/{self.id}.pdf", "xml": f"/invoices/{self.id}.xml"}
