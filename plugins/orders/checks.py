"""Checking orders input at the edge: every bad value is a ValidationFailed naming its field.

Card fields are not checked here: the payments plugin's ``tokenize`` does that (and names them).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from ecom.errors import NotFound, ValidationFailed
from ecom.i18n import _

MAX_ID = 2**63 - 1
MAX_QUANTITY = 99
ORDER_ID = re.compile(r"ord_[a-z0-9]{20,40}")
IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # printable ASCII, no spaces
EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+")
METHOD = re.compile(r"[a-z][a-z0-9_-]{0,31}")
VOUCHER = re.compile(r"[A-Za-z0-9_-]{1,32}")


@dataclass(frozen=True)
class Destination:
    """Where to (and whom to bill): a new address (checked by the addresses plugin) or one from the book."""
    ship_to: Mapping[str, Any] | None = field(default=None, repr=False)  # personal data: not printed
    ship_to_address_id: int | None = None
    bill_to: Mapping[str, Any] | None = field(default=None, repr=False)
    bill_to_address_id: int | None = None
    shipping_method: str = "standard"
    voucher: str | None = None


@dataclass(frozen=True)
class CheckoutRequest:
    items: tuple[tuple[int, int], ...] | None   # (product_id, quantity), or None for the cart
    region: str                                  # deprecated: accepted and ignored (the shop decides regions)
    card: Mapping[str, Any] = field(repr=False)  # never printed: it holds the card number and CVC
    destination: Destination = field(default_factory=Destination)
    email: str | None = field(default=None, repr=False)   # a guest's (required then); lower case


def whole(value: Any, name: str, low: int, high: int) -> int:
    """An int (not a bool, not a float, not a numeric string) in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed(_("{name} must be a whole number.").format(name=name),
                               errors={name: _("Must be a whole number.")})
    if not low <= value <= high:
        raise ValidationFailed(_("{name} must be between {low} and {high}.").format(name=name, low=low, high=high),
                               errors={name: _("Must be between {low} and {high}.").format(low=low, high=high)})
    return value


def product_id(value: Any) -> int:
    return whole(value, "product_id", 1, MAX_ID)


def quantity(value: Any) -> int:
    return whole(value, "quantity", 1, MAX_QUANTITY)


def region(value: Any, regions: Iterable[str]) -> str:
    regions = tuple(regions)
    if isinstance(value, str) and value in regions:
        return value
    message = _("Choose a region: one of {regions}.").format(regions=", ".join(regions))
    raise ValidationFailed(message, errors={"region": message})


def order_id(value: Any) -> str:
    """A well-formed public order id, else NotFound (a malformed id names no order)."""
    if isinstance(value, str) and ORDER_ID.fullmatch(value):
        return value
    raise NotFound(_("No such order."))


def idempotency_key(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not IDEMPOTENCY_KEY.fullmatch(value):
        raise ValidationFailed(_("The Idempotency-Key header must be 1 to 255 printable ASCII characters."),
                               errors={"Idempotency-Key": _("Use 1 to 255 printable ASCII characters (no spaces).")})
    return value


def items(value: Any, max_lines: int) -> tuple[tuple[int, int], ...]:
    """``[{product_id, quantity}, ...]`` -> (product_id, quantity) pairs, repeated products summed."""
    if not isinstance(value, list) or not value:
        raise ValidationFailed(_("items must be a non-empty list."), errors={"items": _("Give at least one item.")})
    if len(value) > max_lines:
        raise ValidationFailed(_("An order has at most {n} lines.").format(n=max_lines),
                               errors={"items": _("At most {n} lines.").format(n=max_lines)})
    summed: dict[int, int] = {}
    for n, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise ValidationFailed(_("Each item is an object {product_id, quantity}."),
                                   errors={f"items[{n}]": _("Must be an object {product_id, quantity}.")})
        try:
            pid, qty = product_id(item.get("product_id")), quantity(item.get("quantity"))
        except ValidationFailed as err:
            raise ValidationFailed("items[{n}]: {detail}".format(n=n, detail=err.detail),
                                   errors={f"items[{n}].{k}": v for k, v in err.errors.items()}) from None
        summed[pid] = summed.get(pid, 0) + qty
        if summed[pid] > MAX_QUANTITY:
            raise ValidationFailed(_("At most {n} units of product {id}.").format(n=MAX_QUANTITY, id=pid),
                                   errors={f"items[{n}].quantity": _("At most {n} units a product.").format(
                                       n=MAX_QUANTITY)})
    return tuple(summed.items())


def checkout(body: Mapping[str, Any], regions: Iterable[str], max_lines: int) -> CheckoutRequest:
    """``{items | from_cart: true, ship_to | ship_to_address_id, bill_to? | bill_to_address_id?, email?,
    voucher?, shipping_method?, payment: {method: "card", ...}}``; every bad field named. ``region`` is
    accepted and ignored (the shop decides where stock ships from)."""
    errors: dict[str, str] = {}
    lines: tuple[tuple[int, int], ...] | None = None
    from_cart = body.get("from_cart", False)
    if from_cart not in (True, False):
        errors["from_cart"] = _("Must be true or false.")
    elif from_cart and body.get("items") is not None:
        errors["items"] = _("Send either items or from_cart: true, not both.")
    elif not from_cart:
        try:
            lines = items(body.get("items"), max_lines)
        except ValidationFailed as err:
            errors.update(err.errors)
    chosen = body.get("region") if isinstance(body.get("region"), str) else ""  # deprecated: ignored
    destination = _destination(body, errors)
    mail = None
    if body.get("email") not in (None, ""):
        try:
            mail = email(body.get("email"))
        except ValidationFailed as err:
            errors.update(err.errors)
    payment = body.get("payment")
    if not isinstance(payment, Mapping):
        errors["payment"] = _("Send the card: {method: \"card\", card_number, exp_month, exp_year, cvc}.")
    elif payment.get("method", "card") != "card":
        errors["payment.method"] = _("Only \"card\" is accepted.")
    if errors:
        raise ValidationFailed(_("Check the order: {problems}").format(
            problems="; ".join(f"{k}: {v}" for k, v in errors.items())), errors=errors)
    return CheckoutRequest(lines, chosen, payment, destination, mail)


def email(value: Any) -> str:
    """A guest's email, lower case (the addresses and users plugins check nothing more offline either)."""
    if isinstance(value, str) and len(value) <= 254 and EMAIL.fullmatch(value.strip()):
        return value.strip().lower()
    raise ValidationFailed(_("email must be an email address."), errors={"email": _("Enter your email address.")})


def _address_choice(body: Mapping[str, Any], name: str, errors: dict[str, str]) -> tuple[Mapping | None, int | None]:
    """(a new address object, or a book id) for ``name`` ("ship_to" / "bill_to"); errors named."""
    raw, book = body.get(name), body.get(f"{name}_address_id")
    if raw is not None and book is not None:
        errors[name] = _("Send either {name} or {name}_address_id, not both.").format(name=name)
    elif book is not None:
        try:
            return None, whole(book, f"{name}_address_id", 1, MAX_ID)
        except ValidationFailed as err:
            errors.update(err.errors)
    elif raw is not None:
        if isinstance(raw, Mapping):
            return raw, None
        errors[name] = _("Must be an address object {name, line1, city, postal_code, country, ...}.")
    return None, None


def _destination(body: Mapping[str, Any], errors: dict[str, str]) -> Destination:
    ship_to, ship_id = _address_choice(body, "ship_to", errors)
    bill_to, bill_id = _address_choice(body, "bill_to", errors)
    if ship_to is None and ship_id is None and "ship_to" not in errors:
        errors["ship_to"] = _("Give the address to ship to (ship_to, or ship_to_address_id from your address "
                              "book).")
    method = body.get("shipping_method", "standard")
    if not isinstance(method, str) or not METHOD.fullmatch(method):
        errors["shipping_method"] = _("Choose a shipping method, such as \"standard\" or \"express\".")
        method = "standard"
    code = body.get("voucher")
    if code in (None, ""):
        code = None
    elif not isinstance(code, str) or not VOUCHER.fullmatch(code.strip()):
        errors["voucher"] = _("A voucher code has up to 32 letters, digits, - and _.")
        code = None
    else:
        code = code.strip().upper()
    return Destination(ship_to, ship_id, bill_to, bill_id, method, code)


def quote(body: Mapping[str, Any]) -> Destination:
    """``POST /api/v1/cart/quote {ship_to | ship_to_address_id, shipping_method?, voucher?}``."""
    errors: dict[str, str] = {}
    destination = _destination(body, errors)
    if errors:
        raise ValidationFailed(_("Check the quote: {problems}").format(
            problems="; ".join(f"{k}: {v}" for k, v in errors.items())), errors=errors)
    return destination
