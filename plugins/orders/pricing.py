"""The price of an order, as pure functions of the services' answers (no I/O, no aiohttp).

Checkout and the cart quote run the same steps; the services (vouchers, shipping, taxes) are asked by
quote.py, and these functions only arrange their answers, so the arithmetic can be tested alone:

1. ``plan``: lines (each with the region the shop chose for it) -> shipments, one per (seller, region),
   numbered 1.. in the order their first line appears (the number is the reservation's ``<order>/<n>``).
2. ``voucher_lines``: what the voucher service splits a discount over (one entry per line).
3. ``taxable``: the lines after their discount share plus one shipping line per shipment, in the shop's
   price convention, for the taxes service (refs ``L<n>`` for lines, ``S<n>`` for shipping).
4. ``breakdown``: everything together, with totals that are sums of the per-line values, so
   ``subtotal - discount + shipping (+ tax when prices exclude it) == total`` to the cent.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence


@dataclass(frozen=True)
class Line:
    ref: str                 # "L1", "L2", ...: this line's key in the voucher's and the taxes' answers
    product_id: int
    seller_id: int
    name: str
    category: str            # the product's type (vouchers may be limited to one)
    unit_price_cents: int
    quantity: int
    tax_class: str
    weight_grams: int        # of one unit
    region: str              # where its stock ships from (chosen by the shop)

    @property
    def amount_cents(self) -> int:
        return self.unit_price_cents * self.quantity


@dataclass(frozen=True)
class Shipment:
    no: int
    seller_id: int
    region: str
    lines: tuple[Line, ...]

    @property
    def ref(self) -> str:
        return f"S{self.no}"

    @property
    def weight_grams(self) -> int:
        return sum(line.weight_grams * line.quantity for line in self.lines)

    def subtotal_cents(self, discounts: Mapping[str, int] | None = None) -> int:
        """The goods' amount of this shipment after their discount shares (what free_above compares)."""
        discounts = discounts or {}
        return sum(line.amount_cents - discounts.get(line.ref, 0) for line in self.lines)


@dataclass(frozen=True)
class PricedLine:
    line: Line
    discount_cents: int
    tax_cents: int
    rate_bp: int
    rate_name: str
    total_cents: int         # what the shopper pays for it: amount - discount (+ tax when prices exclude it)


@dataclass(frozen=True)
class PricedShipment:
    no: int
    seller_id: int
    region: str
    method: str
    lines: tuple[PricedLine, ...]
    shipping_cents: int
    shipping_tax_cents: int
    weight_grams: int
    shipping_rate_bp: int = 0    # the shipping line's tax rate in basis points (2100 = 21 %)

    @property
    def subtotal_cents(self) -> int:
        return sum(pl.line.amount_cents for pl in self.lines)

    @property
    def discount_cents(self) -> int:
        return sum(pl.discount_cents for pl in self.lines)

    @property
    def tax_cents(self) -> int:
        return sum(pl.tax_cents for pl in self.lines) + self.shipping_tax_cents


@dataclass(frozen=True)
class RateLine:
    name: str
    rate_bp: int
    base_cents: int
    tax_cents: int


@dataclass(frozen=True)
class Breakdown:
    currency: str
    shipments: tuple[PricedShipment, ...]
    by_rate: tuple[RateLine, ...]
    prices_include_tax: bool
    voucher_code: str | None = None

    @property
    def subtotal_cents(self) -> int:
        return sum(s.subtotal_cents for s in self.shipments)

    @property
    def discount_cents(self) -> int:
        return sum(s.discount_cents for s in self.shipments)

    @property
    def shipping_cents(self) -> int:
        return sum(s.shipping_cents for s in self.shipments)

    @property
    def tax_cents(self) -> int:
        return sum(s.tax_cents for s in self.shipments)

    @property
    def total_cents(self) -> int:
        extra = 0 if self.prices_include_tax else self.tax_cents
        return self.subtotal_cents - self.discount_cents + self.shipping_cents + extra

    def as_json(self) -> dict[str, Any]:
        return {
            "currency": self.currency, "prices_include_tax": self.prices_include_tax, "voucher": self.voucher_code,
            "subtotal_cents": self.subtotal_cents, "discount_cents": self.discount_cents,
            "shipping_cents": self.shipping_cents, "tax_cents": self.tax_cents, "total_cents": self.total_cents,
            "taxes": [{"name": r.name, "rate_bp": r.rate_bp, "base_cents": r.base_cents, "tax_cents": r.tax_cents}
                      for r in self.by_rate],
            "shipments": [{
                "shipment_no": s.no, "seller_id": s.seller_id, "region": s.region, "method": s.method,
                "weight_grams": s.weight_grams, "shipping_cents": s.shipping_cents,
                "shipping_tax_cents": s.shipping_tax_cents, "subtotal_cents": s.subtotal_cents,
                "discount_cents": s.discount_cents, "tax_cents": s.tax_cents,
                "lines": [{"product_id": pl.line.product_id, "name": pl.line.name, "quantity": pl.line.quantity,
                           "unit_price_cents": pl.line.unit_price_cents, "line_total_cents": pl.line.amount_cents,
                           "tax_class": pl.line.tax_class, "discount_cents": pl.discount_cents,
                           "tax_cents": pl.tax_cents, "rate_bp": pl.rate_bp, "total_cents": pl.total_cents}
                          for pl in s.lines]} for s in self.shipments]}


def plan(lines: Sequence[Line]) -> tuple[Shipment, ...]:
    """One shipment per (seller, region), numbered by the first line of each, lines kept in order."""
    groups: dict[tuple[int, str], list[Line]] = {}
    for line in lines:
        groups.setdefault((line.seller_id, line.region), []).append(line)
    return tuple(Shipment(n, seller, region, tuple(group))
                 for n, ((seller, region), group) in enumerate(groups.items(), start=1))


def voucher_lines(shipments: Sequence[Shipment]) -> list[tuple[str, int, str, int]]:
    """(ref, seller_id, category, amount_cents) per line: the fields of the vouchers' ``VoucherLine``."""
    return [(ln.ref, ln.seller_id, ln.category, ln.amount_cents) for s in shipments for ln in s.lines]


def taxable(shipments: Sequence[Shipment], discounts: Mapping[str, int], shipping: Mapping[int, int],
            shipping_class: str) -> list[tuple[str, int, str]]:
    """(ref, amount_cents, tax_class) per line after its discount and per shipping line: the fields of the
    taxes' ``TaxableLine``. A free shipment still gets its (zero) line so every shipment has a tax entry."""
    out = [(ln.ref, ln.amount_cents - discounts.get(ln.ref, 0), ln.tax_class) for s in shipments for ln in s.lines]
    out += [(s.ref, shipping[s.no], shipping_class) for s in shipments]
    return out


def breakdown(shipments: Sequence[Shipment], currency: str, *, methods: Mapping[int, str],
              shipping: Mapping[int, int], discounts: Mapping[str, int], voucher_code: str | None,
              tax: Any) -> Breakdown:
    """Everything priced. ``tax`` is the taxes' ``TaxResult`` for ``taxable(...)``: ``.lines[ref]`` with
    ``tax_cents, rate_bp, rate_name``, ``.by_rate`` with ``name, rate_bp, base_cents, tax_cents``, and
    ``.prices_include_tax``. Discounts never exceed a line (the vouchers' contract; checked here too)."""
    inclusive = bool(tax.prices_include_tax)
    priced = []
    for s in shipments:
        lines = []
        for ln in s.lines:
            off = discounts.get(ln.ref, 0)
            if not 0 <= off <= ln.amount_cents:
                raise ValueError(f"discount {off} on line {ln.ref} of {ln.amount_cents}")
            t = tax.lines[ln.ref]
            paid = ln.amount_cents - off + (0 if inclusive else t.tax_cents)
            lines.append(PricedLine(ln, off, t.tax_cents, t.rate_bp, t.rate_name, paid))
        ship_tax = tax.lines[s.ref]
        priced.append(PricedShipment(s.no, s.seller_id, s.region, methods[s.no], tuple(lines), shipping[s.no],
                                     ship_tax.tax_cents, s.weight_grams, ship_tax.rate_bp))
    rates = tuple(RateLine(r.name, r.rate_bp, r.base_cents, r.tax_cents) for r in tax.by_rate if r.tax_cents
                  or r.base_cents)
    return Breakdown(currency, tuple(priced), rates, inclusive, voucher_code or None)
