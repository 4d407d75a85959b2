"""HTTP <-> InvoicesService: the JSON API under /api/v1/invoices and the downloads /invoices/{id}.pdf|.xml.

A customer reads their own documents, a seller theirs, an admin every one; anyone else gets a 404, the
same answer as for a document that does not exist. The PDF is written in the reader's language (the
request's locale); the UBL XML is the same for everyone.
"""
from __future__ import annotations

from aiohttp import web

from ecom.errors import ValidationFailed
from ecom.gateway import identity, login_required
from ecom.i18n import _, current
from ecom.inputs import query_int
from ecom.openapi import api_schema

from .keys import INVOICES
from .model import Document
from .service import AREAS, InvoicesService

routes = web.RouteTableDef()
DOC_ID = r"{invoice_id:\d{1,19}}"
MAX_LIMIT = 200
NO_STORE = {"Cache-Control": "private, no-store"}
CENTS = {"type": "integer"}
DOCUMENT = {"type": "object", "properties": {
    "id": CENTS, "kind": {"enum": ["invoice", "credit_note"]}, "number": {"type": "string"},
    "seller_id": CENTS, "customer_id": {"type": ["integer", "null"]}, "order_id": {"type": "string"},
    "invoice_id": {"type": ["integer", "null"], "description": "A credit note's invoice."},
    "invoice_number": {"type": ["string", "null"]}, "shipments": {"type": "array", "items": CENTS},
    "currency": {"type": "string"}, "net_cents": CENTS, "tax_cents": CENTS, "total_cents": CENTS,
    "reason": {"type": ["string", "null"]}, "issued_at": {"type": "string", "format": "date-time"},
    "prices_include_tax": {"type": "boolean"}, "seller": {"type": "object"}, "buyer": {"type": "object"},
    "lines": {"type": "array", "items": {"type": "object"}},
    "taxes": {"type": "array", "items": {"type": "object", "properties": {
        "rate": {"type": "string", "description": "Percent with 2 decimals, e.g. 21.00"},
        "base_cents": CENTS, "tax_cents": CENTS}}},
    "pdf": {"type": "string"}, "xml": {"type": "string"}}}


def invoices(request: web.Request) -> InvoicesService:
    return request.app[INVOICES]


def doc_id(request: web.Request) -> int:
    return int(request.match_info["invoice_id"])


async def visible(request: web.Request) -> Document:
    return await invoices(request).get(identity(request), doc_id(request))


def pdf_response(request: web.Request, doc: Document) -> web.Response:
    """The PDF in the request's language and time zone, as a download named after its number."""
    lang = current()
    body = invoices(request).pdf(doc, lang.locale, lang.time_zone)
    return web.Response(body=body, content_type="application/pdf", headers={
        **NO_STORE, "Content-Disposition": f'attachment; filename="{doc.number}.pdf"'})


def xml_response(request: web.Request, doc: Document) -> web.Response:
    return web.Response(body=invoices(request).xml(doc), content_type="application/xml", charset="utf-8",
                        headers={**NO_STORE, "Content-Disposition": f'attachment; filename="{doc.number}.xml"'})


def view_of(request: web.Request) -> str:
    view = request.query.get("view", "customer")
    if view not in AREAS:
        raise ValidationFailed(_("view must be one of {views}.").format(views=", ".join(AREAS)),
                               errors={"view": _("Unknown view.")})
    return view


@routes.get("/api/v1/invoices")
@api_schema(response={"type": "array", "items": DOCUMENT}, query={
    "view": {"enum": list(AREAS), "default": "customer",
             "description": "customer: yours as a buyer; seller: the ones you issued; admin: every one (admins)"},
    "order_id": {"type": "string", "maxLength": 100},
    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 50},
    "offset": {"type": "integer", "minimum": 0, "maximum": 10**6, "default": 0}})
@login_required
async def api_list(request: web.Request) -> web.Response:
    """Invoices and credit notes, newest first: a buyer's, a seller's or (admins) every one."""
    limit = query_int(request, "limit", 50, minimum=1, maximum=MAX_LIMIT)
    offset = query_int(request, "offset", 0, minimum=0, maximum=10**6)
    order_id = request.query.get("order_id", "").strip()[:100] or None
    found = await invoices(request).list(identity(request), view_of(request), order_id=order_id, limit=limit,
                                         offset=offset)
    return web.json_response([d.as_json() for d in found], headers=NO_STORE)


@routes.get(f"/api/v1/invoices/{DOC_ID}")
@api_schema(response=DOCUMENT)
@login_required
async def api_get(request: web.Request) -> web.Response:
    """One invoice or credit note with its lines and tax per rate (404 unless it is yours)."""
    return web.json_response((await visible(request)).as_json(), headers=NO_STORE)


@routes.get(f"/api/v1/invoices/{DOC_ID}/pdf")
@api_schema()
@login_required
async def api_pdf(request: web.Request) -> web.Response:
    """The document as a PDF, in the caller's language."""
    return pdf_response(request, await visible(request))


@routes.get(f"/api/v1/invoices/{DOC_ID}/xml")
@api_schema()
@login_required
async def api_xml(request: web.Request) -> web.Response:
    """The document as a UBL 2.1 (EN 16931) Invoice or CreditNote."""
    return xml_response(request, await visible(request))


@routes.get(f"/invoices/{DOC_ID}.pdf")
@login_required
async def download_pdf(request: web.Request) -> web.Response:
    return pdf_response(request, await visible(request))


@routes.get(f"/invoices/{DOC_ID}.xml")
@login_required
async def download_xml(request: web.Request) -> web.Response:
    return xml_response(request, await visible(request))
