"""A document as a UBL 2.1 Invoice or CreditNote (EN 16931 core: CustomizationID urn:cen.eu:en16931:2017).

Built with lxml in the element order of the OASIS UBL 2.1 schemas (tests validate against them). Every
amount carries ``currencyID``; amounts are the stored integer cents written in the currency's minor
units. Shipping is a line of its own (so LineExtensionAmount = TaxExclusiveAmount, no document-level
charges); tax is one TaxSubtotal per rate (category S, or Z for 0 %). An invoice was paid by card at
checkout, so its PrepaidAmount is the whole TaxInclusiveAmount and nothing is payable; a credit note's
PayableAmount is what is given back. Texts in the XML are not translated: it is for machines.
"""
from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from babel.numbers import get_currency_precision
from lxml import etree

from ecom.i18n import default_language

from .model import Document

CUSTOMIZATION = "urn:cen.eu:en16931:2017"
PROFILE = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
NS = {"inv": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
      "cn": "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2",
      "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
      "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"}
CARD = "48"  # UNCL 4461: bank card


def _cbc(parent: etree._Element, name: str, text: Any, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, f"{{{NS['cbc']}}}{name}", attrs)
    el.text = str(text)
    return el


def _cac(parent: etree._Element, name: str) -> etree._Element:
    return etree.SubElement(parent, f"{{{NS['cac']}}}{name}")


class _Amounts:
    def __init__(self, currency: str):
        self.currency, self.digits = currency, get_currency_precision(currency)

    def text(self, cents: int) -> str:
        return f"{Decimal(int(cents)).scaleb(-self.digits):.{self.digits}f}"

    def add(self, parent: etree._Element, name: str, cents: int) -> None:
        _cbc(parent, name, self.text(cents), currencyID=self.currency)


def _issue_date(value: datetime) -> str:
    return value.astimezone(default_language().zone).date().isoformat()


def _party(parent: etree._Element, role: str, who: dict[str, str], seller: bool) -> None:
    party = _cac(_cac(parent, role), "Party")
    _cbc(_cac(party, "PartyName"), "Name", who.get("legal_name") or who.get("company") or who.get("name") or "-")
    address = _cac(party, "PostalAddress")
    for name, key in (("StreetName", "line1"), ("AdditionalStreetName", "line2"), ("CityName", "city"),
                      ("PostalZone", "postal_code"), ("CountrySubentity", "region")):
        if who.get(key):
            _cbc(address, name, who[key])
    if who.get("country"):
        _cbc(_cac(address, "Country"), "IdentificationCode", who["country"])
    if seller and who.get("tax_id"):
        scheme = _cac(party, "PartyTaxScheme")
        _cbc(scheme, "CompanyID", who["tax_id"])
        _cbc(_cac(scheme, "TaxScheme"), "ID", "VAT")
    legal = _cac(party, "PartyLegalEntity")
    _cbc(legal, "RegistrationName", who.get("legal_name") or who.get("company") or who.get("name") or "-")
    if not seller and who.get("email"):
        _cbc(_cac(party, "Contact"), "ElectronicMail", who["email"])


def _category(parent: etree._Element, name: str, rate: str) -> None:
    cat = _cac(parent, name)
    _cbc(cat, "ID", "S" if Decimal(rate) > 0 else "Z")
    _cbc(cat, "Percent", rate)
    _cbc(_cac(cat, "TaxScheme"), "ID", "VAT")


def _line(root: etree._Element, n: int, ln: dict[str, Any], credit: bool, money: _Amounts,
          shipping_name: str) -> None:
    line = _cac(root, "CreditNoteLine" if credit else "InvoiceLine")
    _cbc(line, "ID", n)
    _cbc(line, "CreditedQuantity" if credit else "InvoicedQuantity", ln["quantity"], unitCode="C62")
    money.add(line, "LineExtensionAmount", ln["net_cents"])
    item = _cac(line, "Item")
    _cbc(item, "Name", ln["name"] or shipping_name)
    if ln.get("product_id"):
        _cbc(_cac(item, "SellersItemIdentification"), "ID", ln["product_id"])
    _category(item, "ClassifiedTaxCategory", ln["rate"])
    unit = (Decimal(ln["net_cents"]).scaleb(-money.digits) / ln["quantity"]).quantize(Decimal("0.0001"),
                                                                                     ROUND_HALF_UP)
    _cbc(_cac(line, "Price"), "PriceAmount", f"{unit.normalize():f}" if unit else "0", currencyID=money.currency)


def render(doc: Document) -> bytes:
    d = doc.document
    credit = doc.is_credit
    money = _Amounts(doc.currency)
    root = etree.Element(f"{{{NS['cn' if credit else 'inv']}}}{'CreditNote' if credit else 'Invoice'}",
                         nsmap={None: NS["cn" if credit else "inv"], "cac": NS["cac"], "cbc": NS["cbc"]})
    _cbc(root, "CustomizationID", CUSTOMIZATION)
    _cbc(root, "ProfileID", PROFILE)
    _cbc(root, "ID", doc.number)
    _cbc(root, "IssueDate", _issue_date(doc.issued_at))
    _cbc(root, "CreditNoteTypeCode" if credit else "InvoiceTypeCode", "381" if credit else "380")
    if credit and doc.reason:
        _cbc(root, "Note", doc.reason)
    _cbc(root, "DocumentCurrencyCode", doc.currency)
    _cbc(root, "BuyerReference", doc.order_id)
    _cbc(_cac(root, "OrderReference"), "ID", doc.order_id)
    if credit:
        ref = _cac(_cac(root, "BillingReference"), "InvoiceDocumentReference")
        _cbc(ref, "ID", d["invoice"]["number"])
        _cbc(ref, "IssueDate", _issue_date(datetime.fromisoformat(d["invoice"]["issued_at"])))
    _party(root, "AccountingSupplierParty", d["seller"], True)
    _party(root, "AccountingCustomerParty", d["buyer"], False)
    if not credit:
        _cbc(_cac(root, "PaymentMeans"), "PaymentMeansCode", CARD)
    tax_total = _cac(root, "TaxTotal")
    money.add(tax_total, "TaxAmount", doc.tax_cents)
    for group in d["taxes"]:
        sub = _cac(tax_total, "TaxSubtotal")
        money.add(sub, "TaxableAmount", group["base_cents"])
        money.add(sub, "TaxAmount", group["tax_cents"])
        _category(sub, "TaxCategory", group["rate"])
    totals = _cac(root, "LegalMonetaryTotal")
    money.add(totals, "LineExtensionAmount", doc.net_cents)
    money.add(totals, "TaxExclusiveAmount", doc.net_cents)
    money.add(totals, "TaxInclusiveAmount", doc.total_cents)
    if not credit:
        money.add(totals, "PrepaidAmount", doc.total_cents)
    money.add(totals, "PayableAmount", 0 if not credit else doc.total_cents)
    for n, ln in enumerate(d["lines"], start=1):
        _line(root, n, ln, credit, money, "Shipping")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
