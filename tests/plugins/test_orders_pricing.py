"""orders/pricing.py alone: pure arithmetic over the services' answers. The taxes' answer here is a small
stand-in computed by the documented rule (per line, round half up); every HTTP test uses the real services."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from plugins.orders.pricing import Line, breakdown, plan, taxable, voucher_lines

RATES = {"standard": ("IVA 21%", 2100), "reduced": ("IVA 10%", 1000), "zero": ("IVA 0%", 0)}


def fake_tax(lines, inclusive: bool):
    """The taxes service's answer for ``taxable(...)`` by its documented rule (a stand-in, pure)."""
    out, by_rate = {}, {}
    for ref, amount, cls in lines:
        name, r = RATES[cls]
        if inclusive:
            t = (amount * r * 2 + (10000 + r)) // (2 * (10000 + r))
        else:
            t = (amount * r * 2 + 10000) // 20000
        out[ref] = SimpleNamespace(tax_cents=t, rate_bp=r, rate_name=name)
        base = amount - t if inclusive else amount
        acc = by_rate.setdefault(name, [r, 0, 0])
        acc[1] += base
        acc[2] += t
    rates = [SimpleNamespace(name=n, rate_bp=v[0], base_cents=v[1], tax_cents=v[2]) for n, v in by_rate.items()]
    return SimpleNamespace(lines=out, by_rate=rates, prices_include_tax=inclusive,
                           tax_cents=sum(v.tax_cents for v in out.values()))


def line(n: int, seller: int, region: str, price: int, qty: int, cls: str = "standard", weight: int = 500):
    return Line(f"L{n}", 100 + n, seller, f"P{n}", "Kitchen", price, qty, cls, weight, region)


LINES = [line(1, 7, "eu-west", 1299, 2), line(2, 8, "eu-west", 333, 3, "reduced", 1200),
         line(3, 7, "eu-west", 999, 1), line(4, 7, "us-east", 101, 1, "zero")]


def test_plan_groups_by_seller_and_region_in_order():
    shipments = plan(LINES)
    assert [(s.no, s.seller_id, s.region, [ln.ref for ln in s.lines]) for s in shipments] == [
        (1, 7, "eu-west", ["L1", "L3"]), (2, 8, "eu-west", ["L2"]), (3, 7, "us-east", ["L4"])]
    assert shipments[0].weight_grams == 1500 and shipments[1].weight_grams == 3600
    assert shipments[0].subtotal_cents({"L1": 100}) == 2598 + 999 - 100
    assert voucher_lines(shipments)[1] == ("L3", 7, "Kitchen", 999)


@pytest.mark.parametrize("inclusive", [True, False])
def test_totals_add_up_to_the_cent_with_discounts_and_shipping(inclusive):
    shipments = plan(LINES)
    discounts = {"L1": 259, "L2": 100, "L3": 100}          # a voucher split (largest remainder) over three lines
    shipping = {1: 495, 2: 0, 3: 1299}
    parts = taxable(shipments, discounts, shipping, "standard")
    assert ("L1", 2598 - 259, "standard") in parts and ("S2", 0, "standard") in parts and len(parts) == 7
    tax = fake_tax(parts, inclusive)
    b = breakdown(shipments, "EUR", methods={1: "standard", 2: "standard", 3: "standard"}, shipping=shipping,
                  discounts=discounts, voucher_code="SAVE10", tax=tax)
    assert b.subtotal_cents == 2598 + 999 + 999 + 101
    assert b.discount_cents == 459 and b.shipping_cents == 1794
    assert b.tax_cents == tax.tax_cents == sum(r.tax_cents for r in b.by_rate)
    expected = b.subtotal_cents - 459 + 1794 + (0 if inclusive else b.tax_cents)
    assert b.total_cents == expected
    # each line's price plus each shipment's shipping (and tax when exclusive) is the total, to the cent
    paid = sum(pl.total_cents for s in b.shipments for pl in s.lines)
    paid += sum(s.shipping_cents + (0 if inclusive else s.shipping_tax_cents) for s in b.shipments)
    assert paid == b.total_cents
    body = b.as_json()
    assert body["total_cents"] == b.total_cents and body["voucher"] == "SAVE10"
    assert [s["shipment_no"] for s in body["shipments"]] == [1, 2, 3]
    assert {r["name"]: r["base_cents"] for r in body["taxes"]}["IVA 0%"] == 101  # no tax, but a base to show
    assert sum(r["tax_cents"] for r in body["taxes"]) == b.tax_cents


def test_inclusive_tax_of_a_known_line():
    shipments = plan([line(1, 7, "eu-west", 1210, 1)])
    tax = fake_tax(taxable(shipments, {}, {1: 0}, "standard"), True)
    b = breakdown(shipments, "EUR", methods={1: "express"}, shipping={1: 0}, discounts={}, voucher_code=None, tax=tax)
    assert (b.tax_cents, b.total_cents, b.shipments[0].lines[0].rate_bp) == (210, 1210, 2100)
    tax = fake_tax(taxable(shipments, {}, {1: 0}, "standard"), False)
    b = breakdown(shipments, "EUR", methods={1: "express"}, shipping={1: 0}, discounts={}, voucher_code=None, tax=tax)
    assert (b.tax_cents, b.total_cents) == (254, 1464)   # 1210 × 0.21 = 254.1 -> 254


def test_a_discount_above_a_line_is_refused():
    shipments = plan([line(1, 7, "eu-west", 100, 1)])
    tax = fake_tax(taxable(shipments, {"L1": 0}, {1: 0}, "standard"), True)
    with pytest.raises(ValueError):
        breakdown(shipments, "EUR", methods={1: "standard"}, shipping={1: 0}, discounts={"L1": 101},
                  voucher_code="X", tax=tax)
