"""HTTP <-> the catalog CSV (catalogimport.py): export, and import with a preview, for sellers (their own
products) and admins (everyone's, or one seller's with ``seller_id``).

- ``GET /seller/products.csv`` the file (session or bearer token);
- ``POST /api/v1/products/import`` the file as the body (text/csv) or the ``file`` field of a multipart
  form; ``?dry_run=true`` previews -> 200 report; a bad file or line -> 422 problem+json whose ``errors``
  name each ``line N``;
- ``/seller/products/import`` the same as a page: upload, preview or import, and the report (422 page
  listing the lines to fix when the file is refused).
"""
from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp_jinja2 import render_template

from ecom.errors import ValidationFailed
from ecom.gateway import identity, roles_required
from ecom.i18n import N_, _
from ecom.inputs import form_data, form_field, query_int
from ecom.jsonx import json_response
from ecom.openapi import api_schema

from .catalogcsv import EXPORT_COLUMNS, MAX_BYTES, MAX_LINES
from .catalogimport import CatalogCsv, Report
from .caching import NO_STORE
from .routes import products
from .service import MAX_ID

routes = web.RouteTableDef()
CSV_TYPES = ("text/csv", "application/csv", "text/plain")
ACTIONS = (N_("created"), N_("updated"), N_("unchanged"))  # shown with _(action) by the report page
SELLER_QUERY = {"seller_id": {"type": "integer", "minimum": 1, "maximum": MAX_ID,
                              "description": "Admins: whose products (default: export everyone's, import your own)."}}
IMPORT_REPORT = {"type": "object", "properties": {
    "seller_id": {"type": "integer"}, "dry_run": {"type": "boolean"},
    "created": {"type": "integer"}, "updated": {"type": "integer"}, "unchanged": {"type": "integer"},
    "lines": {"type": "array", "items": {"type": "object", "properties": {
        "line": {"type": "integer"}, "sku": {"type": "string"}, "product_id": {"type": "integer"},
        "action": {"enum": ["created", "updated", "unchanged"]},
        "changed": {"type": "array", "items": {"type": "string"}}}}}}}


def report_json(report: Report) -> dict[str, Any]:
    return {"seller_id": report.seller_id, "dry_run": report.dry_run, "created": report.count("created"),
            "updated": report.count("updated"), "unchanged": report.count("unchanged"),
            "lines": [{"line": o.line_no, "sku": o.sku, "product_id": o.product_id, "action": o.action,
                       "changed": list(o.changed)} for o in report.lines]}


def _seller_id(raw: str) -> int | None:
    """An admin's ``seller_id`` (ignored for sellers: they only ever act on their own products)."""
    raw = raw.strip()
    if not raw:
        return None
    if not raw.isascii() or not raw.isdecimal() or not 0 < int(raw) <= MAX_ID:
        raise ValidationFailed(_("Enter the seller's user id."), errors={"seller_id": _("A user id, like 12.")})
    return int(raw)


def _file(form: Any) -> bytes:
    field = form.get("file")
    if not isinstance(field, web.FileField):
        message = _("Choose a CSV file to upload.")
        raise ValidationFailed(message, errors={"file": message})
    return field.file.read()


@routes.get("/seller/products.csv")
@roles_required("seller")
async def export_csv(request: web.Request) -> web.Response:
    """The actor's products as CSV (admins: everyone's, or ``?seller_id=``'s); imports back unchanged."""
    seller_id = _seller_id(request.query.get("seller_id", ""))
    text = await CatalogCsv(products(request)).export(identity(request), seller_id)
    return web.Response(text=text, content_type="text/csv", charset="utf-8", headers={
        "Content-Disposition": 'attachment; filename="products.csv"', "Cache-Control": NO_STORE})


@routes.post("/api/v1/products/import")
@api_schema(response=IMPORT_REPORT, query={**SELLER_QUERY, "dry_run": {
    "type": "boolean", "default": False, "description": "Preview: check and report, change nothing."}})
@roles_required("seller")
async def api_import(request: web.Request) -> web.Response:
    """Create or update the caller's products from a catalog CSV, matched by SKU, all or nothing.

    The body is the CSV (Content-Type text/csv) or the ``file`` field of a multipart form; its header names
    the columns (``sku`` and any of the product fields; ``id``/``seller_id`` are ignored). -> 200 report
    (``dry_run=true``: nothing changed). 422 problem+json naming every bad ``line N`` (nothing imported),
    415 for another content type."""
    if request.content_type in CSV_TYPES:
        data = await request.read()
    elif request.content_type == "multipart/form-data":
        data = _file(await form_data(request))
    else:
        raise web.HTTPUnsupportedMediaType(text=_("Send the CSV as the body with 'Content-Type: text/csv', or as "
                                                  "the 'file' field of a multipart/form-data upload."))
    dry_run = request.query.get("dry_run", "").lower() in ("1", "true", "yes")
    seller_id = query_int(request, "seller_id", 0, minimum=1, maximum=MAX_ID) or None
    report = await CatalogCsv(products(request)).run(identity(request), data, seller_id=seller_id, dry_run=dry_run)
    return json_response(report_json(report))


def _page(request: web.Request, *, report: Report | None = None, errors: dict | None = None, message: str = "",
          seller_id: str = "", status: int = 200) -> web.Response:
    response = render_template("products/import.html", request, {
        "report": report, "errors": errors or {}, "message": message, "seller_id": seller_id,
        "columns": EXPORT_COLUMNS, "max_lines": MAX_LINES, "max_kib": MAX_BYTES // 1024}, status=status)
    response.headers["Cache-Control"] = NO_STORE
    return response


@routes.get("/seller/products/import")
@roles_required("seller")
async def import_form(request: web.Request) -> web.Response:
    return _page(request)


@routes.post("/seller/products/import")
@roles_required("seller")
async def import_upload(request: web.Request) -> web.Response:
    form = await form_data(request)
    raw_seller = form_field(form, "seller_id")
    dry_run = form_field(form, "mode") != "apply"
    try:
        seller_id = _seller_id(raw_seller) if identity(request).is_admin else None
        report = await CatalogCsv(products(request)).run(identity(request), _file(form), seller_id=seller_id,
                                                         dry_run=dry_run)
    except ValidationFailed as err:
        return _page(request, errors=err.errors, message=err.detail, seller_id=raw_seller, status=422)
    return _page(request, report=report, seller_id=raw_seller)
