"""Checking inventory input at the edge: every bad value is a ValidationFailed naming its field."""
from __future__ import annotations

from typing import Any, Iterable

from ecom.errors import ValidationFailed
from ecom.i18n import _
from ecom.text import storable

from .models import MAX_ID, MAX_ORDER_REF, MAX_QUANTITY, MAX_REASON, MAX_RESERVE

MAX_TTL = 7 * 86400


def whole(value: Any, field: str, low: int, high: int) -> int:
    """An int (not a bool, not a float) in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed(_("{field} must be a whole number.").format(field=field),
                               errors={field: _("Must be a whole number.")})
    if not low <= value <= high:
        raise ValidationFailed(_("{field} must be between {low} and {high}.").format(field=field, low=low, high=high),
                               errors={field: _("Must be between {low} and {high}.").format(low=low, high=high)})
    return value


def quantity(value: Any, field: str = "quantity") -> int:
    return whole(value, field, 0, MAX_QUANTITY)


def region(value: Any, regions: Iterable[str]) -> str:
    regions = tuple(regions)
    if isinstance(value, str) and value in regions:
        return value
    shown = repr(value[:40]) if isinstance(value, str) and storable(value) else _("this value")
    message = _("Unknown region {region}: use one of {regions}.").format(region=shown, regions=", ".join(regions))
    raise ValidationFailed(message, errors={"region": message})


def reason(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or not storable(value):
        raise ValidationFailed(_("reason must be text."), errors={"reason": _("Must be text.")})
    value = " ".join(value.split())
    if len(value) > MAX_REASON:
        raise ValidationFailed(_("reason is too long."),
                               errors={"reason": _("Use at most {max} characters.").format(max=MAX_REASON)})
    return value


def order_ref(value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_ORDER_REF or not value.isprintable() \
            or not storable(value) or value.strip() != value:
        raise ValidationFailed(_("order_ref must be 1 to 100 printable characters."),
                               errors={"order_ref": _("Use 1 to {max} printable characters, no outer spaces.").format(
                                   max=MAX_ORDER_REF)})
    return value


def ttl(value: Any) -> int:
    return whole(value, "ttl_seconds", 1, MAX_TTL)


def items(value: Any) -> list[tuple[int, int]]:
    """(product_id, quantity) pairs with repeated ids summed, ascending by product id (the lock order)."""
    if not isinstance(value, (list, tuple)) or not value:
        raise ValidationFailed(_("items must be a non-empty list."), errors={"items": _("Give at least one item.")})
    if len(value) > 1000:
        raise ValidationFailed(_("Too many items."), errors={"items": _("At most 1000 items.")})
    summed: dict[int, int] = {}
    for item in value:
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            raise ValidationFailed(_("Each item is a (product_id, quantity) pair."), errors={"items": _("Bad item.")})
        product_id = whole(item[0], "product_id", 1, MAX_ID)
        summed[product_id] = summed.get(product_id, 0) + whole(item[1], "quantity", 1, MAX_RESERVE)
    for product_id, units in summed.items():
        if units > MAX_RESERVE:
            raise ValidationFailed(_("At most {max} units of product {id}.").format(max=MAX_RESERVE, id=product_id),
                                   errors={"quantity": _("Must be between 1 and {max}.").format(max=MAX_RESERVE)})
    return sorted(summed.items())
