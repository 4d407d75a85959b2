"""Tax per line in integer minor units, for a destination country (and region).

Rounding rule (binding; docs/architecture.md says the same):

- Tax is computed **per line** (each product line after its discount, and each shipping line), never
  on the order total, in integer arithmetic (no floats), rounding **half up** to the cent.
- Prices include tax (``prices_include_tax = true``, EU style): the line amount is gross;
  ``tax = round_half_up(gross * r / (10000 + r))`` and ``net = gross - tax`` (r in basis points).
- Prices exclude tax (US style): the line amount is net; ``tax = round_half_up(net * r / 10000)`` and
  ``gross = net + tax``.
- Every total (per rate and for the order) is the **sum of its lines' values**, so lines, rates and
  totals always add up to the cent (an invoice never shows a total that its lines do not sum to).
- A destination without rates in the data file pays no tax: rate 0, an empty rate name.

Lines carry amounts in the shop's convention after discounts, so a voucher lowers the taxed base.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from ecom.errors import ValidationFailed
from ecom.i18n import N_, _

from .table import CLASSES, TaxTable

COUNTRY = re.compile(r"[A-Z]{2}")
MAX_AMOUNT = 10**13  # a line of a hundred billion in major units is a mistake, not a sale
MESSAGES = {  # what people read, marked here and translated where raised (in the request's language)
    "country": N_("must be a two-letter country code (ISO 3166-1 alpha-2)"),
    "class": N_("must be one of: {classes}"),
    "amount": N_("must be a whole number of cents between 0 and {top}"),
    "ref": N_("is given twice: every line needs its own ref"),
}


@dataclass(frozen=True)
class TaxableLine:
    ref: str            # the caller's name for the line ("p:12", "shipping:1")
    amount_cents: int   # after discounts, gross when prices include tax, else net
    tax_class: str      # standard | reduced | zero


@dataclass(frozen=True)
class LineTax:
    net_cents: int
    tax_cents: int
    gross_cents: int
    rate_bp: int
    rate_name: str      # "IVA 21%"; "" where the destination has no rates


@dataclass(frozen=True)
class RateTotal:
    name: str
    rate_bp: int
    base_cents: int     # sum of the net amounts of the lines at this rate
    tax_cents: int      # sum of their taxes


@dataclass(frozen=True)
class TaxResult:
    lines: dict[str, LineTax]
    by_rate: list[RateTotal]  # highest rate first; lines without a rate name (no tax there) are not listed
    net_cents: int
    tax_cents: int
    gross_cents: int
    prices_include_tax: bool


def round_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half up, for numerator >= 0 and denominator > 0."""
    return (2 * numerator + denominator) // (2 * denominator)


def percent(rate_bp: int) -> str:
    """2100 -> '21%', 725 -> '7.25%', 550 -> '5.5%'."""
    whole, frac = divmod(rate_bp, 100)
    return f"{whole}%" if frac == 0 else f"{whole}.{frac:02d}".rstrip("0") + "%"


def line_tax(amount: int, rate_bp: int, inclusive: bool) -> tuple[int, int, int]:
    """(net, tax, gross) of one line by the rounding rule above."""
    if inclusive:
        tax = round_half_up(amount * rate_bp, 10_000 + rate_bp)
        return amount - tax, tax, amount
    tax = round_half_up(amount * rate_bp, 10_000)
    return amount, tax, amount + tax


class TaxesService:
    """Pure computation over the rates file loaded at start-up (no database, no I/O per call)."""

    def __init__(self, table: TaxTable, prices_include_tax: bool):
        self.table = table
        self.prices_include_tax = prices_include_tax

    def classes(self) -> tuple[str, ...]:
        return CLASSES

    def shipping_class(self, country: str) -> str:
        """The class shipping is taxed by at ``country`` (standard where the file says nothing)."""
        entry = self.table.countries.get(country.upper())
        return entry.shipping_class if entry else "standard"

    def compute(self, lines: Sequence[TaxableLine], country: str, region: str = "") -> TaxResult:
        country, region = _country(country), region.strip().upper()
        _check_lines(lines)
        rates = self.table.rates_for(country, region)
        out: dict[str, LineTax] = {}
        groups: dict[tuple[str, int], list[int]] = {}
        for line in lines:
            bp = rates.bp[line.tax_class] if rates else 0
            name = f"{rates.label} {percent(bp)}" if rates else ""
            net, tax, gross = line_tax(line.amount_cents, bp, self.prices_include_tax)
            out[line.ref] = LineTax(net, tax, gross, bp, name)
            if name:
                group = groups.setdefault((name, bp), [0, 0])
                group[0] += net
                group[1] += tax
        by_rate = [RateTotal(name, bp, base, tax) for (name, bp), (base, tax)
                   in sorted(groups.items(), key=lambda item: (-item[0][1], item[0][0]))]
        return TaxResult(out, by_rate, sum(t.net_cents for t in out.values()),
                         sum(t.tax_cents for t in out.values()), sum(t.gross_cents for t in out.values()),
                         self.prices_include_tax)


def _country(country: str) -> str:
    code = (country or "").strip().upper()
    if not COUNTRY.fullmatch(code):
        raise ValidationFailed(_("The country code is not valid."), errors={"country": _(MESSAGES["country"])})
    return code


def _check_lines(lines: Sequence[TaxableLine]) -> None:
    seen: set[str] = set()
    for i, line in enumerate(lines):
        field = f"lines[{i}]"
        if line.ref in seen:
            raise ValidationFailed(_("Two lines share a ref."), errors={f"{field}.ref": _(MESSAGES["ref"])})
        seen.add(line.ref)
        if line.tax_class not in CLASSES:
            raise ValidationFailed(_("Unknown tax class."), errors={
                f"{field}.tax_class": _(MESSAGES["class"]).format(classes=", ".join(CLASSES))})
        amount = line.amount_cents
        if not isinstance(amount, int) or isinstance(amount, bool) or not 0 <= amount <= MAX_AMOUNT:
            raise ValidationFailed(_("A line amount is not valid."), errors={
                f"{field}.amount_cents": _(MESSAGES["amount"]).format(top=MAX_AMOUNT)})
