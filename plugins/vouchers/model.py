"""What the vouchers plugin talks about: vouchers, cart lines, discounts, redemptions, and every
user-facing sentence of checkout and the API (English msgids, translated by ``message`` when raised)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from babel.numbers import format_currency

from ecom.i18n import N_, _, current_locale

KINDS = ("percent", "fixed")
CODE_SHAPE = re.compile(r"[A-Z0-9_-]{3,32}")
BUYER_SHAPE = re.compile(r"customer:[1-9][0-9]{0,18}|email:[^\s@]{1,200}@[^\s@]{1,120}")
ZERO_DECIMAL = {"JPY", "KRW", "ISK", "CLP"}  # currencies without minor units (amounts are whole units)

MESSAGES = {
    "unknown": N_("This voucher code does not exist."),
    "inactive": N_("This voucher is no longer active."),
    "not_yet": N_("This voucher is not valid yet."),
    "expired": N_("This voucher has expired."),
    "currency": N_("This voucher is for orders in {currency} only."),
    "min_spend": N_("This voucher needs a spend of at least {amount} on the items it applies to."),
    "no_eligible": N_("No item in this order qualifies for this voucher."),
    "per_customer": N_("You have already used this voucher as many times as it allows."),
    "used_up": N_("This voucher has been used up."),
    "other_voucher": N_("This order already carries another voucher."),
    "released": N_("This order's voucher was given back; place a new order to use it."),
    "duplicate": N_("A voucher with this code exists already."),
    "not_found": N_("No such voucher."),
    "shop_wide": N_("Only admins create shop-wide vouchers; a seller's voucher is their own."),
    "admin_seller": N_("Admins create shop-wide vouchers; sellers create their own."),
    "below_used": N_("Cannot be lower than the {used} uses already taken."),
}


def message(key: str, **values) -> str:
    """The sentence ``key`` in the reader's language, its placeholders filled."""
    return _(MESSAGES[key]).format(**values)


def format_amount(cents: int, currency: str) -> str:
    """'EUR 30.00' (en), 'EUR 30,00' (es): the ISO code first, digits in the reader's locale (exact:
    the minor units are scaled as a Decimal, never a float)."""
    if currency in ZERO_DECIMAL:
        return format_currency(Decimal(cents), currency, format="¤¤ #,##0", locale=current_locale(),
                               currency_digits=False)
    return format_currency(Decimal(cents).scaleb(-2), currency, format="¤¤ #,##0.00", locale=current_locale(),
                           currency_digits=False)


@dataclass(frozen=True)
class Voucher:
    id: int
    code: str
    kind: str                      # percent | fixed
    percent: int | None
    amount_cents: int | None
    currency: str | None           # None: a percent code valid in any currency
    min_spend_cents: int
    starts_at: datetime | None
    ends_at: datetime | None
    max_uses: int | None           # None: unlimited
    max_uses_per_customer: int | None
    used: int
    seller_id: int | None          # None: shop-wide
    category: str | None           # None: any product type
    active: bool
    created_by: int
    created_at: datetime

    @property
    def remaining(self) -> int | None:
        return None if self.max_uses is None else self.max_uses - self.used


@dataclass(frozen=True)
class VoucherLine:
    """One order line as the voucher sees it: ``amount_cents`` is the line's price (unit price × quantity)."""
    ref: str
    seller_id: int
    category: str                  # the product's type
    amount_cents: int


@dataclass(frozen=True)
class Discount:
    """``per_line`` has every line's ref (0 for lines the voucher does not apply to); its values sum to
    ``total_cents`` and none is above its line's amount."""
    code: str
    total_cents: int
    per_line: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Redemption:
    id: int
    voucher_id: int
    order_ref: str
    buyer: str
    currency: str
    total_cents: int
    status: str                    # redeemed | released
    created_at: datetime
    released_at: datetime | None


@dataclass(frozen=True)
class Usage:
    voucher: Voucher
    redeemed: int                  # live redemptions (= voucher.used)
    released: int                  # uses given back by failed, expired or cancelled orders
    recent: list[Redemption]       # newest first
