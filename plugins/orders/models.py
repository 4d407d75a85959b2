"""The orders plugin's values and its state machine (DESIGN §6, §10)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Iterable

from ecom.i18n import N_, _

PENDING, PAID, FAILED, EXPIRED = "pending_payment", "paid", "payment_failed", "expired"
CANCELLED, FULFILLED, SHIPPED, DELIVERED = "cancelled", "fulfilled", "shipped", "delivered"
# derived from the shipments (shipments.derived); fulfilled/shipped/delivered keep their meaning for every order
PARTIALLY_SHIPPED, PARTIALLY_DELIVERED = "partially_shipped", "partially_delivered"
PARTIALLY_REFUNDED, REFUNDED = "partially_refunded", "refunded"
STATUSES = (PENDING, PAID, FAILED, EXPIRED, CANCELLED, FULFILLED, PARTIALLY_SHIPPED, SHIPPED, PARTIALLY_DELIVERED,
            DELIVERED, PARTIALLY_REFUNDED, REFUNDED)

# The table of transitions people and payments make; anything else is a Conflict (409). Once paid, an
# order's status follows its shipments instead (shipments.derived), never this table.
TRANSITIONS: dict[str, frozenset[str]] = {
    PENDING: frozenset({PAID, FAILED, EXPIRED, CANCELLED}),
    PAID: frozenset({FULFILLED, CANCELLED}),
    FULFILLED: frozenset({SHIPPED}),
    SHIPPED: frozenset({DELIVERED}),
    FAILED: frozenset(), EXPIRED: frozenset(), CANCELLED: frozenset(), DELIVERED: frozenset(),
}
# where an order stops for good: its live stream ends there. partially_refunded is final only once no
# shipment of the order can move any more (settled below): the others may still ship and be delivered.
FINAL = frozenset({FAILED, EXPIRED, CANCELLED, DELIVERED, REFUNDED})
CANCELLABLE = frozenset({PENDING, PAID})
# a paid order whose shipments sellers and admins move (and refund one by one)
IN_FULFILMENT = frozenset({PAID, FULFILLED, PARTIALLY_SHIPPED, SHIPPED, PARTIALLY_DELIVERED, PARTIALLY_REFUNDED})
SELLER_STEPS = (FULFILLED, SHIPPED, DELIVERED)  # what sellers and admins move a shipment through
# English msgids (N_): shown translated, ``_(order.label)`` / ``{{ _(order.label) }}``
LABELS = {PENDING: N_("Awaiting payment"), PAID: N_("Paid"), FAILED: N_("Payment failed"), EXPIRED: N_("Expired"),
          CANCELLED: N_("Cancelled"), FULFILLED: N_("Fulfilled"), PARTIALLY_SHIPPED: N_("Partially shipped"),
          SHIPPED: N_("Shipped"), PARTIALLY_DELIVERED: N_("Partially delivered"), DELIVERED: N_("Delivered"),
          PARTIALLY_REFUNDED: N_("Partially refunded"), REFUNDED: N_("Refunded")}

# A shipment: pending -> fulfilled -> shipped (carrier + tracking number) -> delivered; or cancelled (the
# whole order was) or refunded (its lines, shipping and tax were given back and its stock put back).
S_PENDING, S_CANCELLED, S_REFUNDED = "pending", "cancelled", "refunded"
SHIPMENT_STATUSES = (S_PENDING, FULFILLED, SHIPPED, DELIVERED, S_CANCELLED, S_REFUNDED)
SHIPMENT_NEXT = {S_PENDING: FULFILLED, FULFILLED: SHIPPED, SHIPPED: DELIVERED}
SHIPMENT_LABELS = {S_PENDING: N_("To fulfil"), FULFILLED: N_("Fulfilled"), SHIPPED: N_("Shipped"),
                   DELIVERED: N_("Delivered"), S_CANCELLED: N_("Cancelled"), S_REFUNDED: N_("Refunded")}
INACTIVE = frozenset({S_CANCELLED, S_REFUNDED})


def settled(status: str, shipment_statuses: Iterable[str]) -> bool:
    """Whether an order in ``status`` whose shipments are in ``shipment_statuses`` changes no more: a
    final status, or partially refunded with every other shipment delivered (none can move on)."""
    if status == PARTIALLY_REFUNDED:
        return not any(s in SHIPMENT_NEXT for s in shipment_statuses)
    return status in FINAL


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
    shipment_no: int | None = None
    discount_cents: int = 0
    tax_cents: int = 0
    tax_rate: Decimal | None = None      # percent (Decimal("21")); None for orders placed before issue 11


@dataclass(frozen=True)
class Shipment:
    """One seller's parcel of an order, from one region, with its own status and tracking."""
    no: int
    seller_id: int
    region: str
    status: str
    method: str
    shipping_cents: int
    shipping_tax_cents: int
    carrier: str | None
    tracking_number: str | None
    refund_cents: int | None
    lines: tuple[OrderLine, ...] = ()
    history: tuple["HistoryEntry", ...] = ()
    shipping_tax_rate: Decimal | None = None   # percent; None for orders placed before issue 11

    @property
    def label(self) -> str:
        return SHIPMENT_LABELS.get(self.status, self.status)

    @property
    def next_step(self) -> str | None:
        return SHIPMENT_NEXT.get(self.status)

    @property
    def active(self) -> bool:
        return self.status not in INACTIVE


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
    shipments: tuple[Shipment, ...] = ()   # a seller's view: only theirs
    email: str | None = None               # a guest's (None in a seller's view)
    ship_to: dict | None = None            # the copy taken at checkout: name, lines, phone (sellers see theirs)
    bill_to: dict | None = None            # never in a seller's view
    subtotal_cents: int = 0
    discount_cents: int = 0
    shipping_cents: int = 0
    tax_cents: int = 0
    prices_include_tax: bool = True
    voucher_code: str | None = None
    locale: str | None = None              # the buyer's language at checkout (None: placed before issue 11)

    @property
    def label(self) -> str:
        return LABELS.get(self.status, self.status)

    @property
    def final(self) -> bool:
        """Nothing more will happen to it (see ``settled``; a seller's view knows only their shipments)."""
        return settled(self.status, (s.status for s in self.shipments))

    @property
    def cancellable(self) -> bool:
        return self.status in CANCELLABLE

    @property
    def next_step(self) -> str | None:
        return next_step(self.status)

    @property
    def in_fulfilment(self) -> bool:
        return self.status in IN_FULFILMENT


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
            return _("Your cart is empty.")
        if len(self.currencies) > 1:
            return _("Your cart mixes currencies ({currencies}): one order is paid in one currency, so check out "
                     "the items of each currency separately.").format(currencies=", ".join(self.currencies))
        for line in self.lines:
            if line.problem:
                return line.problem
        return None
