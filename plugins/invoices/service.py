"""Invoices: who may read which document, listings, and the PDF and UBL renderings. No aiohttp here.

Who sees a document: its buyer (the order's customer), its seller, and admins; anyone else gets
NotFound, exactly as for a document that does not exist. The documents themselves are issued by
issue.py from orders' events.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ecom.errors import NotFound
from ecom.i18n import _, use_locale

from . import db, pdf, ubl
from .config import InvoicesConfig
from .issue import Issuer
from .model import Document
from .profiles import Profiles

if TYPE_CHECKING:
    from ecom.gateway.auth import Identity

AREAS = ("customer", "seller", "admin")
MAX_ID = 2**63 - 1


class InvoicesService:
    def __init__(self, pool: Any, config: InvoicesConfig, *, orders: Any, users: Any):
        self.pool, self.config = pool, config
        self.profiles = Profiles(pool, users, config.default_country)
        self.issuer = Issuer(orders, users, self.profiles)

    async def list(self, viewer: "Identity", area: str = "customer", *, order_id: str | None = None,
                   limit: int = 50, offset: int = 0) -> list[Document]:
        """Newest first: a customer's own (``customer``), a seller's own (``seller``), every one (``admin``,
        admins only; anyone else asking for it gets their customer list)."""
        customer = seller = None
        if area == "seller":
            seller = viewer.user_id
        elif area != "admin" or not viewer.is_admin:
            customer = viewer.user_id
        rows = await db.listing(self.pool, customer_id=customer, seller_id=seller, order_id=order_id,
                                limit=limit, offset=offset)
        return [Document.from_row(r) for r in rows]

    async def get(self, viewer: "Identity", document_id: Any) -> Document:
        if isinstance(document_id, bool) or not isinstance(document_id, int) or not 0 < document_id <= MAX_ID:
            raise NotFound(_("No such invoice."))
        row = await db.get(self.pool, document_id)
        if row is None or not (viewer.is_admin or viewer.user_id in (row["customer_id"], row["seller_id"])):
            raise NotFound(_("No such invoice."))
        return Document.from_row(row)

    @staticmethod
    def pdf(doc: Document, locale: str | None, time_zone: str | None = None) -> bytes:
        """The document as a PDF written in ``locale`` (the reader's)."""
        with use_locale(locale, time_zone):
            return pdf.render(doc)

    @staticmethod
    def xml(doc: Document) -> bytes:
        return ubl.render(doc)

    # event handlers (inbox transactions), see issue.py
    async def on_order_status(self, conn, evt) -> None:
        await self.issuer.on_order_status(conn, evt)

    async def on_shipment_status(self, conn, evt) -> None:
        await self.issuer.on_shipment_status(conn, evt)
