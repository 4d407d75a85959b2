"""Reading a stock CSV (header ``sku,region,quantity``) line by line. Pure: no database, no products.

A whole-file problem (not UTF-8, no header, too many lines) is a ValidationFailed; a bad line becomes a
RejectedLine with its line number (the header is line 1) and is never applied. Blank lines are skipped.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

from ecom.csvio import decode, file_error, unreadable  # noqa: F401 - decode: imports.py reads an upload through here
from ecom.i18n import N_, _

from .messages import stored
from .models import MAX_QUANTITY, RejectedLine

HEADER = ["sku", "region", "quantity"]
SKU_SHAPE = re.compile(r"[A-Za-z0-9._-]{1,64}")   # the products plugin's SKU rule
DIGITS = re.compile(r"[0-9]{1,12}")


@dataclass(frozen=True)
class Line:
    line_no: int
    sku: str
    region: str
    quantity: int


@dataclass(frozen=True)
class Parsed:
    lines: list[Line]
    rejected: list[RejectedLine]

    @property
    def total(self) -> int:
        return len(self.lines) + len(self.rejected)


def _clip(text: str, size: int = 64) -> str:
    return text if len(text) <= size else text[:size] + "…"


def _check(fields: list[str], regions: tuple[str, ...]) -> tuple[str, str, int] | str:
    """(sku, region, quantity), or what is wrong (a stored message: messages.py)."""
    if len(fields) != 3:
        return stored(N_("Expected 3 columns (sku,region,quantity), found {count}."), count=len(fields))
    sku, region, quantity = (f.strip() for f in fields)
    if not SKU_SHAPE.fullmatch(sku):
        return stored(N_("SKU {sku} is not valid (1 to 64 letters, digits, dots, dashes, underscores)."),
                      sku=repr(_clip(sku)))
    if region not in regions:
        return stored(N_("Unknown region {region}: use one of {regions}."), region=repr(_clip(region)),
                      regions=", ".join(regions))
    if quantity.startswith("-") and DIGITS.fullmatch(quantity[1:]):
        return stored(N_("Quantity {quantity} is negative."), quantity=quantity)
    if not DIGITS.fullmatch(quantity):
        return stored(N_("Quantity {quantity} is not a whole number."), quantity=repr(_clip(quantity)))
    if int(quantity) > MAX_QUANTITY:
        return stored(N_("Quantity {quantity} is more than {max}."), quantity=quantity, max=MAX_QUANTITY)
    return sku, region, int(quantity)


def parse(text: str, regions: tuple[str, ...], max_lines: int) -> Parsed:
    reader = csv.reader(io.StringIO(text, newline=""))
    lines: list[Line] = []
    rejected: list[RejectedLine] = []
    seen: dict[tuple[str, str], int] = {}
    header = None
    try:
        for fields in reader:
            if not any(f.strip() for f in fields):
                continue  # a blank line
            if header is None:
                header = [f.strip().lower() for f in fields]
                if header != HEADER:
                    raise file_error(_("Line {line} must be the header 'sku,region,quantity'.").format(
                        line=reader.line_num))
                continue
            if len(lines) + len(rejected) >= max_lines:
                raise file_error(_("The file has more than {count} lines; split it.").format(count=max_lines))
            checked = _check(fields, regions)
            if isinstance(checked, str):
                sku, region = (fields + ["", ""])[:2]
                rejected.append(RejectedLine.of(reader.line_num, checked, _clip(sku.strip()), _clip(region.strip())))
                continue
            sku, region, quantity = checked
            if (sku, region) in seen:
                rejected.append(RejectedLine.of(reader.line_num, stored(N_("Duplicate of line {line}."),
                                                                     line=seen[sku, region]), sku, region))
                continue
            seen[sku, region] = reader.line_num
            lines.append(Line(reader.line_num, sku, region, quantity))
    except csv.Error as err:
        raise unreadable(reader.line_num, err) from None
    if header is None:
        raise file_error(_("The file is empty: it needs the header 'sku,region,quantity' and one line per stock "
                            "level."))
    return Parsed(lines, rejected)
