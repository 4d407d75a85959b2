"""Checking inventory input at the edge: every bad value is a ValidationFailed naming its field."""
from __future__ import annotations

from typing import Any, Iterable

from ecom.errors import ValidationFailed
from ecom.text import storable

from .models import MAX_ID, MAX_ORDER_REF, MAX_QUANTITY, MAX_REASON, MAX_RESERVE

MAX_TTL = 7 * 86400


def whole(value: Any, field: str, low: int, high: int) -> int:
    """An int (not a bool, not a float) in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed(f"{field} must be a whole number.", errors={field: "Must be a whole number."})
    if not low <= value <= high:
        raise ValidationFailed(f"{field} must be between {low} and {high}.",
                               errors={field: f"Must be between {low} and {high}."})
    return value


def quantity(value: Any, field: str = "quantity") -> int:
    return whole(value, field, 0, MAX_QUANTITY)


def region(value: Any, regions: Iterable[str]) -> str:
    regions = tuple(regions)
    if isinstance(value, str) and value in regions:
        return value
    shown = repr(value[:40]) if isinstance(value, str) and storable(value) else "this value"
    message = f"Unknown region {shown}: use one of {', '.join(regions)}."
    raise ValidationFailed(message, errors={"region": message})


def reason(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or not storable(value):
        raise ValidationFailed("reason must be text.", errors={"reason": "Must be text."})
    value = " ".join(value.split())
    if len(value) > MAX_REASON:
        raise ValidationFailed("reason is too long.", errors={"reason": f"Use at most {MAX_REASON} characters."})
    return value


def order_ref(value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_ORDER_REF or not value.isprintable() \
            or not storable(value) or value.strip() != value:
        raise ValidationFailed("order_ref must be 1 to 100 printable characters.",
                               errors={"order_ref": f"Use 1 to {MAX_ORDER_REF} printable characters, no outer spaces."})
    return value


def ttl(value: Any) -> int:
    return whole(value, "ttl_seconds", 1, MAX_TTL)


def items(value: Any) -> list[tuple[int, int]]:
    """(product_id, quantity) pairs with repeated ids summed, ascending by product id (the lock order)."""
    if not isinstance(value, (list, tuple)) or not value:
        raise ValidationFailed("items must be a non-empty list.", errors={"items": "Give at least one item."})
    if len(value) > 1000:
        raise ValidationFailed("Too many items.", errors={"items": "At most 1000 items."})
    summed: dict[int, int] = {}
    for item in value:
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            raise ValidationFailed("Each item is a (product_id, quantity) pair.", errors={"items": "Bad item."})
        product_id = whole(item[0], "product_id", 1, MAX_ID)
        summed[product_id] = summed.get(product_id, 0) + whole(item[1], "quantity", 1, MAX_RESERVE)
    for product_id, units in summed.items():
        if units > MAX_RESERVE:
            raise ValidationFailed(f"At most {MAX_RESERVE} units of product {product_id}.",
                                   errors={"quantity": f"Must be between 1 and {MAX_RESERVE}."})
    return sorted(summed.items())
