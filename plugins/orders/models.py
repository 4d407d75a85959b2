"""The orders plugin's values and its state machine (DESIGN §6, §10)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

PENDING, PAID, FAILED, EXPIRED = "pending_payment", "paid", "payment_failed", "expired"
CANCELLED, FULFILLED, SHIPPED, DELIVERED = "cancelled", "fulfilled", "shipped", "delivered"
STATUSES = (PENDING, PAID, FAILED, EXPIRED, CANCELLED, FULFILLED, SHIPPED, DELIVERED)

# The one table of allowed transitions; anything else is a Conflict (409).
TRANSITIONS: dict[str, frozenset[str]] = {
    PENDING: frozenset({PAID, FAILED, EXPIRED, CANCELLED}),
    PAID: frozenset({FULFILLED, CANCELLED}),
    FULFILLED: frozenset({SHIPPED}),
    SHIPPED: frozenset({DELIVERED}),
    FAILED: frozenset(), EXPIRED: frozenset(), CANCELLED: frozenset(), DELIVERED: frozenset(),
}
FINAL = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)
CANCELLABLE = frozenset({PENDING, PAID})
SELLER_STEPS = (FULFILLED, SHIPPED, DELIVERED)  # what sellers and admins move a paid order through
LABELS = {PENDING: "Awaiting payment", PAID: "Paid", FAILED: "Payment failed", EXPIRED: "Expired",
          CANCELLED: "Cancelled", FULFILLED: "Fulfilled", SHIPPED: "Shipped", DELIVERED: "Delivered"}


def allowed(current: str, new: str) -> bool:
    return new in TRANSITIONS.get(current, frozenset())


def next_step(status: str) -> str | None:
    """The seller's next step from ``status`` (paid -> fulfilled -> shipped -> delivered), if any."""
    return {PAID: FULFILLED, FULFILLED: SHIPPED, SHIPPED: DELIVERED}.get(status)


@dataclass(frozen=True)
class OrderLine:
    product_id: int
    seller_id: int
    name: str
    unit_price_cents: int
    quantity: int
    line_total_cents: int


@dataclass(frozen=True)
class HistoryEntry:
    status: str
    previous: str | None
    actor: str
    reason: str
    at: datetime


@dataclass(frozen=True)
class Order:
    id: str
    customer_id: int
    status: str
    region: str
    total_cents: int
    currency: str
    card_brand: str | None
    card_last4: str | None
    failure_reason: str | None
    expires_at: datetime
    created_at: datetime
    updated_at: datetime
    lines: tuple[OrderLine, ...] = ()
    history: tuple[HistoryEntry, ...] = ()
    seller_view: bool = False        # only the viewing seller's lines (and their total) are in it

    @property
    def label(self) -> str:
        return LABELS.get(self.status, self.status)

    @property
    def final(self) -> bool:
        return self.status in FINAL

    @property
    def cancellable(self) -> bool:
        return self.status in CANCELLABLE

    @property
    def next_step(self) -> str | None:
        return next_step(self.status)


@dataclass(frozen=True)
class CartLine:
    product_id: int
    quantity: int
    name: str
    unit_price_cents: int
    currency: str
    available: int                 # units in the best-stocked region
    problem: str | None = None     # why this line cannot be bought as it is
    image_url: str | None = None   # the product's picture, for the cart page

    @property
    def line_total_cents(self) -> int:
        return self.unit_price_cents * self.quantity


@dataclass(frozen=True)
class Cart:
    lines: tuple[CartLine, ...]
    missing: tuple[int, ...] = ()  # products that are gone (dropped from the cart)

    @property
    def currencies(self) -> tuple[str, ...]:
        return tuple(sorted({line.currency for line in self.lines}))

    @property
    def currency(self) -> str | None:
        return self.currencies[0] if len(self.currencies) == 1 else None

    @property
    def totals(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for line in self.lines:
            out[line.currency] = out.get(line.currency, 0) + line.line_total_cents
        return out

    @property
    def item_count(self) -> int:
        return sum(line.quantity for line in self.lines)

    @property
    def problem(self) -> str | None:
        """Why this cart cannot be checked out (None: it can)."""
        if not self.lines:
            return "Your cart is empty."
        if len(self.currencies) > 1:
            return (f"Your cart mixes currencies ({', '.join(self.currencies)}): one order is paid in one "
                    "currency, so check out the items of each currency separately.")
        for line in self.lines:
            if line.problem:
                return line.problem
        return None
