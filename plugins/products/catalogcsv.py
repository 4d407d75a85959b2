"""The catalog as CSV: writing a seller's products and reading a file back into checked rows. Pure: no
database, no aiohttp (catalogimport.py applies the rows, csvroutes.py speaks HTTP).

One line per product after a header naming the columns (any order; ``sku`` is required, ``id`` and
``seller_id`` are written by the export and ignored on import, so an exported file imports unchanged).
Values are plain text: ``price_cents`` in minor units (1299 = 12.99 EUR), ``active`` true/false,
``weight_grams`` whole grams. A line that cannot be read or checked is reported with its line number (the
header is line 1) and the file is not applied at all (catalogimport.py says why: all or nothing).
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any, Iterable

from ecom import csvio
from ecom.errors import ValidationFailed
from ecom.i18n import _, number

from .validation import FIELDS, REQUIRED, check_fields

EXPORT_COLUMNS = ("id", "seller_id", "sku", "name", "description", "price_cents", "currency", "type", "active",
                  "weight_grams", "tax_class")
IGNORED = ("id", "seller_id")
MAX_BYTES = 4 * 1024 * 1024
MAX_LINES = 5000
TRUE, FALSE = ("true", "1", "yes"), ("false", "0", "no")


@dataclass(frozen=True)
class Row:
    line_no: int
    sku: str
    fields: dict[str, Any]  # checked (validation.check_fields, partial): the columns the file has


@dataclass
class Parsed:
    rows: list[Row] = field(default_factory=list)
    errors: dict[int, str] = field(default_factory=dict)  # line number -> what is wrong (in the reader's language)


def export(products: Iterable[Any]) -> str:
    """The CSV text of ``products`` (service.Product), header first."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    for p in products:
        writer.writerow([p.id, p.seller_id, p.sku, p.name, p.description, p.price_cents, p.currency, p.type,
                         "true" if p.active else "false", p.weight_grams, p.tax_class])
    return out.getvalue()


def decode(data: bytes) -> str:
    return csvio.decode(data, MAX_BYTES)


def _typed(name: str, raw: str) -> Any:
    """Text as the JSON API would carry it (check_fields then says what is wrong, if anything)."""
    text = raw.strip()
    if name in ("price_cents", "weight_grams"):
        return int(text) if text.isascii() and text.isdecimal() and len(text) <= 12 else text
    if name == "active":
        return True if text.lower() in TRUE else False if text.lower() in FALSE else text
    return raw if name == "description" else text


def _header(fields: list[str]) -> list[str]:
    header = [f.strip().lower() for f in fields]
    unknown = [h for h in header if h not in FIELDS and h not in IGNORED]
    if unknown or "sku" not in header or len(set(header)) != len(header):
        raise csvio.file_error(_("Line 1 must be a header naming the columns, with sku, among: {columns}.").format(
            columns=", ".join(EXPORT_COLUMNS)))
    return header


def parse(text: str) -> Parsed:
    """Every line checked; a file that cannot be read at all is a ValidationFailed naming ``file``."""
    reader = csv.reader(io.StringIO(text, newline=""))
    parsed, header, seen, start = Parsed(), None, {}, 1
    try:
        for fields in reader:
            # a quoted value may span lines (a description): a line is numbered where its record starts
            line, start = start, reader.line_num + 1
            if not any(f.strip() for f in fields):
                continue
            if header is None:
                header = _header(fields)
                continue
            if len(parsed.rows) + len(parsed.errors) >= MAX_LINES:
                raise csvio.file_error(_("The file has more than {count} lines; split it.").format(
                    count=number(MAX_LINES)))
            if len(fields) != len(header):
                parsed.errors[line] = _("Expected {expected} columns, found {found}.").format(
                    expected=len(header), found=len(fields))
                continue
            values = {h: _typed(h, v) for h, v in zip(header, fields) if h not in IGNORED}
            try:
                checked = check_fields(values, partial=True)
            except ValidationFailed as err:
                parsed.errors[line] = "; ".join(f"{k}: {v}" for k, v in err.errors.items())
                continue
            sku = checked["sku"]
            if sku in seen:
                parsed.errors[line] = _("SKU {sku} is already on line {line}.").format(sku=sku, line=seen[sku])
                continue
            seen[sku] = line
            parsed.rows.append(Row(line, sku, checked))
    except csv.Error as err:
        raise csvio.unreadable(reader.line_num, err) from None
    if header is None:
        raise csvio.file_error(_("The file is empty: it needs a header line and one line per product."))
    if not parsed.rows and not parsed.errors:
        raise csvio.file_error(_("The file has a header but no lines."))
    return parsed


def missing_for_new(row: Row) -> list[str]:
    """The columns a NEW product needs that this row lacks (an existing SKU may change a few columns only)."""
    return [name for name in REQUIRED if name not in row.fields]
