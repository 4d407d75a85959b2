"""A document as a PDF for people (reportlab platypus), in the current locale (service.pdf sets it).

Every text is translated with ``_()`` and every amount, rate and date is formatted for the reader's
language by ecom.i18n (money, percent, format_date), so a Spanish reader gets "Factura", "21 %" and
"12,10 €". The built-in Helvetica covers Spanish letters and the euro sign; no font file is needed.
"""
from __future__ import annotations

import io
from datetime import datetime
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from ecom.i18n import _, format_date, money, percent

from .model import Document


def _t(value: Any) -> str:
    """Escaped for a Paragraph; narrow no-break spaces (some CLDR patterns) as plain ones."""
    return escape(str(value)).replace("\u202f", " ")


def _rate(rate: str) -> str:
    return percent(Decimal(rate) / 100, 2 if Decimal(rate) % 1 else 0)


def _party(title: str, who: dict[str, str], styles: Any) -> list:
    rows = [f"<b>{_t(title)}</b>", _t(who.get("legal_name") or who.get("name") or "")]
    if who.get("company"):
        rows.append(_t(who["company"]))
    if who.get("tax_id"):
        rows.append(_t(_("Tax ID: {tax_id}").format(tax_id=who["tax_id"])))
    rows += [_t(who[k]) for k in ("line1", "line2") if who.get(k)]
    place = " ".join(v for v in (who.get("postal_code"), who.get("city")) if v)
    rows += [_t(v) for v in (place, who.get("region"), who.get("country"), who.get("email")) if v]
    return [Paragraph("<br/>".join(rows), styles["Normal"])]


def _table(data: list[list[Any]], widths: list[float], header: bool = True) -> Table:
    table = Table(data, colWidths=widths, repeatRows=1 if header else 0)
    style = [("ALIGN", (1, 0), (-1, -1), "RIGHT"), ("VALIGN", (0, 0), (-1, -1), "TOP"),
             ("FONTSIZE", (0, 0), (-1, -1), 9)]
    if header:
        style += [("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"), ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.grey)]
    table.setStyle(TableStyle(style))
    return table


def render(doc: Document) -> bytes:
    d, cur = doc.document, doc.currency
    styles = getSampleStyleSheet()
    title = _("Credit note {number}") if doc.is_credit else _("Invoice {number}")
    story: list = [Paragraph(_t(title.format(number=doc.number)), styles["Title"]),
                   Paragraph(_t(_("Issue date: {date}").format(date=format_date(doc.issued_at, "long"))),
                             styles["Normal"]),
                   Paragraph(_t(_("Order: {order}").format(order=doc.order_id)), styles["Normal"])]
    if doc.is_credit:
        ref = d["invoice"]
        story.append(Paragraph(_t(_("Corrects invoice {number} of {date}.").format(
            number=ref["number"], date=format_date(datetime.fromisoformat(ref["issued_at"]), "long"))),
            styles["Normal"]))
        if doc.reason:
            story.append(Paragraph(_t(_("Reason: {reason}").format(reason=_(doc.reason))), styles["Normal"]))
    story.append(Spacer(1, 6 * mm))
    story.append(_table([[_party(_("Seller"), d["seller"], styles), _party(_("Buyer"), d["buyer"], styles)]],
                        [90 * mm, 90 * mm], header=False))
    story.append(Spacer(1, 6 * mm))
    rows = [[_("Description"), _("Qty"), _("Unit price"), _("Tax rate"), _("Net"), _("Tax"), _("Total")]]
    for ln in d["lines"]:
        name = ln["name"] or _("Shipping")
        rows.append([Paragraph(_t(name), styles["Normal"]), str(ln["quantity"]), money(ln["unit_price_cents"], cur),
                     _rate(ln["rate"]), money(ln["net_cents"], cur), money(ln["tax_cents"], cur),
                     money(ln["gross_cents"], cur)])
    story.append(_table(rows, [58 * mm, 12 * mm, 24 * mm, 18 * mm, 24 * mm, 20 * mm, 24 * mm]))
    story.append(Spacer(1, 6 * mm))
    taxes = [[_("Tax rate"), _("Taxable base"), _("Tax")]]
    taxes += [[_rate(g["rate"]), money(g["base_cents"], cur), money(g["tax_cents"], cur)] for g in d["taxes"]]
    story.append(_table(taxes, [30 * mm, 35 * mm, 30 * mm]))
    story.append(Spacer(1, 6 * mm))
    totals = [[_("Net total"), money(doc.net_cents, cur)], [_("Tax total"), money(doc.tax_cents, cur)],
              [_("Credited total") if doc.is_credit else _("Total"), money(doc.total_cents, cur)]]
    table = _table(totals, [40 * mm, 35 * mm], header=False)
    table.setStyle(TableStyle([("FONTNAME", (0, 2), (-1, 2), "Helvetica-Bold")]))
    story.append(table)
    story.append(Spacer(1, 4 * mm))
    note = _("Refunded to the card the order was paid with.") if doc.is_credit else _("Paid by card.")
    story.append(Paragraph(_t(note), styles["Normal"]))
    out = io.BytesIO()
    pdf = SimpleDocTemplate(out, pagesize=A4, title=title.format(number=doc.number), author=d["seller"].get(
        "legal_name", ""), leftMargin=15 * mm, rightMargin=15 * mm, topMargin=15 * mm, bottomMargin=15 * mm)
    pdf.build(story)
    return out.getvalue()
