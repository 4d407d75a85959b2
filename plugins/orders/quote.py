"""Asking the services what an order costs: the addresses (checked, or from the book), where each line
ships from (the shop decides: the first region of ``SHIPPING.regions_for(country)`` that has the line's
quantity), the voucher's discount, a shipping quote per shipment and the taxes. pricing.py arranges the
answers; checkout.py and the cart quote both call ``Quoter``. No aiohttp here.

Stock that no region has is a Conflict (409, as stock always was: it changes by the second); a product
whose stock is only in regions that do not ship to the destination, or whose seller has no rate there,
is a ValidationFailed (422) naming it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from ecom.errors import Conflict, NotFound, ValidationFailed
from ecom.i18n import N_, _
from plugins.shipping.keys import CannotShip
from plugins.taxes.keys import TaxableLine
from plugins.vouchers.model import VoucherLine  # a value type (keys.py exports only the service)

from . import pricing
from .checks import Destination


@dataclass(frozen=True)
class Addresses:
    ship_to: Any           # the addresses plugin's Address
    bill_to: Any | None


CHECK_ORDER, CHECK_ADDRESS, CHECK_COUNTRY = N_("Check the order"), N_("Check the address"), N_("Check the country")


def _fail(errors: dict[str, str], intro: str = CHECK_ORDER) -> None:
    """ValidationFailed with ``intro`` (an N_-marked msgid) and every error, when there is any."""
    if errors:
        raise ValidationFailed(_("{intro}: {problems}").format(intro=_(intro), problems="; ".join(errors.values())),
                               errors=errors)


class Quoter:
    def __init__(self, products, inventory, *, addresses, shipping, taxes, vouchers, max_lines: int):
        self.products, self.inventory = products, inventory
        self.addresses, self.shipping, self.taxes, self.vouchers = addresses, shipping, taxes, vouchers
        self.max_lines = max_lines

    # ------------------------------------------------------------------ addresses
    async def destination(self, customer_id: int | None, dest: Destination, errors: dict[str, str]) -> Addresses | None:
        """The checked ship-to and bill-to (copies to keep on the order); problems go into ``errors``."""
        ship = await self._address(customer_id, dest.ship_to, dest.ship_to_address_id, "ship_to", errors)
        bill = None
        if dest.bill_to is not None or dest.bill_to_address_id is not None:
            bill = await self._address(customer_id, dest.bill_to, dest.bill_to_address_id, "bill_to", errors)
        return Addresses(ship, bill) if ship is not None else None

    async def _address(self, customer_id, raw, book_id, name: str, errors: dict[str, str]):
        if book_id is not None:
            if customer_id is None:
                errors[f"{name}_address_id"] = _("Log in to use your address book, or enter the address.")
                return None
            try:
                return (await self.addresses.get(customer_id, book_id)).address
            except NotFound:
                errors[f"{name}_address_id"] = _("There is no such address in your address book.")
                return None
        if raw is None:
            return None
        try:
            return self.addresses.validate(raw, prefix=f"{name}.")
        except ValidationFailed as err:
            errors.update(err.errors)
            return None

    # ------------------------------------------------------------------ lines and regions
    async def lines(self, items: Sequence[tuple[int, int]], country: str) -> tuple[list[pricing.Line], str]:
        """Today's prices, and the region each line ships from. ValidationFailed / Conflict name what is wrong."""
        if not items:
            _fail({"items": _("Your cart is empty: add something before checking out.")})
        if len(items) > self.max_lines:
            _fail({"items": _("An order has at most {n} lines.").format(n=self.max_lines)})
        found = await self.products.get_many([pid for pid, _ in items])
        unknown = [pid for pid, _ in items if pid not in found or not found[pid].active]
        if unknown:
            _fail({"items": _("Not for sale (unknown or withdrawn): product {ids}.").format(
                ids=", ".join(map(str, unknown)))})
        currencies = sorted({found[pid].currency for pid, _ in items})
        if len(currencies) > 1:
            _fail({"items": _("One order is paid in one currency; these items are priced in {currencies}. "
                              "Check them out separately.").format(currencies=", ".join(currencies))})
        if sum(found[pid].price_cents * qty for pid, qty in items) <= 0:
            _fail({"items": _("There is nothing to pay for: the order total is 0.")})
        chosen = await self._regions(items, found, country)
        lines = [pricing.Line(f"L{n}", pid, p.seller_id, p.name, p.type, p.price_cents, qty,
                              p.tax_class, p.weight_grams, chosen[pid])
                 for n, (pid, qty) in enumerate(items, start=1) for p in (found[pid],)]
        return lines, currencies[0]

    async def _regions(self, items, found, country: str) -> dict[int, str]:
        ids = [pid for pid, _ in items]
        serving = [r for r in self.shipping.regions_for(country) if r in self.inventory.regions]
        others = [r for r in self.inventory.regions if r not in serving]
        table = await self.inventory.stock_table(ids)  # every region in one query
        units = {r: {pid: s.available for pid, stocks in table.items() for s in stocks if s.region == r}
                 for r in (*serving, *others)}
        chosen, unshippable = {}, []
        for pid, qty in items:
            region = next((r for r in serving if units[r].get(pid, 0) >= qty), None)
            if region is not None:
                chosen[pid] = region
                continue
            name = found[pid].name
            if any(units[r].get(pid, 0) >= qty for r in others):
                unshippable.append(_("“{name}” (product {id})").format(name=name, id=pid))
                continue
            best = max((units[r].get(pid, 0) for r in serving), default=0)
            message = _("Not enough stock of “{name}” (product {id}): {available} available, {requested} "
                        "requested.").format(name=name, id=pid, available=best, requested=qty)
            raise Conflict(message, errors={"items": message})
        if unshippable:
            message = _("Cannot ship to {country}: {items}. Remove it or choose another address.").format(
                country=country, items=", ".join(unshippable))
            _fail({"items": message, "ship_to.country": message})
        return chosen

    # ------------------------------------------------------------------ the price
    async def discount(self, code: str | None, buyer: str, shipments, currency: str, *,
                       redeem_ref: str | None = None):
        """The voucher's Discount (preview, or redeemed for ``redeem_ref``), or None without a code."""
        if not code:
            return None
        lines = [VoucherLine(*t) for t in pricing.voucher_lines(shipments)]
        if redeem_ref is None:
            return await self.vouchers.preview(code, buyer, lines, currency)
        return await self.vouchers.redeem(code, redeem_ref, buyer, lines, currency)

    async def price(self, lines: list[pricing.Line], currency: str, ship_to, method: str, discount) -> pricing.Breakdown:
        """Shipping per shipment and taxes for ``lines`` with ``discount`` (a Discount or None)."""
        shipments = pricing.plan(lines)
        discounts = dict(discount.per_line) if discount is not None else {}
        shipping, methods, errors = {}, {}, {}
        for s in shipments:
            try:
                q = await self.shipping.quote(s.seller_id, ship_to.country, method, currency, s.weight_grams,
                                              s.subtotal_cents(discounts))
            except CannotShip as err:
                names = ", ".join(_("“{name}” (product {id})").format(name=ln.name, id=ln.product_id)
                                  for ln in s.lines)
                errors["items"] = _("Cannot ship {items} to {country} by {method}.").format(
                    items=names, country=ship_to.country, method=method)
                errors.update(err.errors)
                continue
            shipping[s.no], methods[s.no] = q.price_cents, q.method
        _fail(errors)
        parts = pricing.taxable(shipments, discounts, shipping, self.taxes.shipping_class(ship_to.country))
        tax = self.taxes.compute([TaxableLine(*p) for p in parts], ship_to.country, ship_to.region)
        return pricing.breakdown(shipments, currency, methods=methods, shipping=shipping, discounts=discounts,
                                 voucher_code=discount.code if discount is not None else None, tax=tax)

    async def quote(self, customer_id: int | None, buyer: str, items, dest: Destination) -> pricing.Breakdown:
        """The breakdown of ``items`` for ``dest`` (the cart quote): nothing is reserved or redeemed."""
        errors: dict[str, str] = {}
        where = await self.destination(customer_id, dest, errors)
        _fail(errors, CHECK_ADDRESS)
        lines, currency = await self.lines(items, where.ship_to.country)
        discount = await self.discount(dest.voucher, buyer, pricing.plan(lines), currency)
        return await self.price(lines, currency, where.ship_to, dest.shipping_method, discount)


@dataclass(frozen=True)
class Somewhere:
    """A destination known only by its country (the cart page's estimate): enough for shipping and tax."""
    country: str
    region: str = ""


async def estimate(quoter: Quoter, items, country: str, method: str = "standard") -> pricing.Breakdown:
    """The cart's breakdown to ``country`` (two letters) without an address: the cart page's estimate."""
    country = country.strip().upper()
    if len(country) != 2 or not country.isascii() or not country.isalpha():
        _fail({"country": _("Choose a country (two letters, such as ES).")}, CHECK_COUNTRY)
    lines, currency = await quoter.lines(items, country)
    return await quoter.price(lines, currency, Somewhere(country), method, None)
