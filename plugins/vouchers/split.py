"""Pure arithmetic of a voucher: is it valid now for these lines, and how much comes off each line.

Rules (integer minor units, no floats):
- a seller's voucher applies to that seller's lines only; a category voucher to lines whose product
  type matches (case-insensitive); minimum spend is compared with the total of the lines it applies to.
- percent: total = eligible × percent / 100, rounded half up; fixed: the amount, at most the eligible total.
- the total is split over the eligible lines in proportion to their amounts by the largest remainder
  method: each line gets the floor of its exact share, and the cents left go one each to the lines with
  the largest fractional parts (ties: the larger line, then the earlier one). The shares sum to the
  total exactly and, because the total never exceeds the eligible sum, no line gets more than its amount.
"""
from __future__ import annotations

from datetime import datetime
from typing import Sequence

from ecom.errors import ValidationFailed

from .model import Discount, Voucher, VoucherLine, format_amount, message


def refused(key: str, **values) -> ValidationFailed:
    text = message(key, **values)
    return ValidationFailed(text, errors={"voucher": text})


def applies_to(voucher: Voucher, line: VoucherLine) -> bool:
    if voucher.seller_id is not None and line.seller_id != voucher.seller_id:
        return False
    return voucher.category is None or line.category.casefold() == voucher.category.casefold()


def check_window(voucher: Voucher, now: datetime, currency: str) -> None:
    if not voucher.active:
        raise refused("inactive")
    if voucher.starts_at is not None and now < voucher.starts_at:
        raise refused("not_yet")
    if voucher.ends_at is not None and now >= voucher.ends_at:
        raise refused("expired")
    if voucher.currency is not None and voucher.currency != currency:
        raise refused("currency", currency=voucher.currency)


def largest_remainder(total: int, amounts: Sequence[int]) -> list[int]:
    """``total`` split in proportion to ``amounts`` (all >= 0, sum > 0, total <= sum)."""
    base = sum(amounts)
    shares = [total * a // base for a in amounts]
    left = total - sum(shares)
    by_remainder = sorted(range(len(amounts)), key=lambda i: (-(total * amounts[i] % base), -amounts[i], i))
    for i in by_remainder[:left]:
        shares[i] += 1
    return shares


def discount_for(voucher: Voucher, now: datetime, lines: Sequence[VoucherLine], currency: str) -> Discount:
    """The discount ``voucher`` gives these lines now; ValidationFailed on "voucher" when it gives none."""
    check_window(voucher, now, currency)
    eligible = [line for line in lines if applies_to(voucher, line)]
    base = sum(line.amount_cents for line in eligible)
    if base <= 0:
        raise refused("no_eligible")
    if base < voucher.min_spend_cents:
        raise refused("min_spend", amount=format_amount(voucher.min_spend_cents, voucher.currency or currency))
    if voucher.kind == "percent":
        total = (base * voucher.percent + 50) // 100  # half up
    else:
        total = min(voucher.amount_cents, base)
    per_line = {line.ref: 0 for line in lines}
    for line, share in zip(eligible, largest_remainder(total, [line.amount_cents for line in eligible])):
        per_line[line.ref] = share
    return Discount(voucher.code, total, per_line)
