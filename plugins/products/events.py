"""Events the products plugin publishes (a public API: change a payload only with a version bump).

``ecom/products/created`` (ProductCreated), ``ecom/products/updated`` (ProductUpdated, also for a product
archived because its seller's account was deleted) and ``ecom/products/deleted`` (ProductDeleted). Each is
written to products' outbox in the transaction that makes the change, so a change that rolls back
announces nothing and a committed one is announced exactly once, even if the process dies right after.

Every payload carries the product as it is after the change (``product``: the fields below), so a
consumer such as an ERP or a webhook endpoint needs no read-back::

    {"id": 12, "seller_id": 7, "sku": "MUG-1", "name": "Blue mug", "price_cents": 1299, "currency": "EUR",
     "type": "Kitchen", "active": true, "weight_grams": 500, "tax_class": "standard",
     "image": "12-ab12.png", "updated_at": "2026-01-31T12:00:00.123456+00:00"}

``price_cents`` is in the currency's minor units (no float). ``image`` is the media file name or null.
``seller_id`` lets a consumer keep each seller to their own products. Seeding (``run.py seed``) loads the
catalog by COPY and announces nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, TypedDict

from ecom.events import event

SNAPSHOT_FIELDS = ("id", "seller_id", "sku", "name", "price_cents", "currency", "type", "active",
                   "weight_grams", "tax_class", "image", "updated_at")
WATCHED = ("name", "description", "price_cents", "currency", "type", "sku", "active", "weight_grams",
           "tax_class", "image")  # the columns a ProductUpdated reports in ``changes``


def snapshot(row: Any) -> dict[str, Any]:
    """The ``product`` of a payload from a products row (asyncpg.Record or mapping)."""
    out = {name: row[name] for name in SNAPSHOT_FIELDS}
    out["currency"] = out["currency"].strip()
    out["updated_at"] = out["updated_at"].isoformat()
    return out


def changes(before: Any, after: Any) -> dict[str, dict[str, Any]]:
    """``{column: {"from": old, "to": new}}`` for every watched column whose value differs."""
    found = {}
    for name in WATCHED:
        old, new = before[name], after[name]
        if isinstance(old, str) and isinstance(new, str):
            old, new = old.strip(), new.strip()
        if old != new:
            found[name] = {"from": old, "to": new}
    return found


class ProductSnapshot(TypedDict):
    """The product as it is after the change (SNAPSHOT_FIELDS)."""
    id: Annotated[int, "The product's id."]
    seller_id: Annotated[int, "The seller who sells it."]
    sku: Annotated[str, "The seller's stock-keeping unit, unique among live products."]
    name: Annotated[str, "The product's name."]
    price_cents: Annotated[int, "Price in minor units of ``currency``."]
    currency: Annotated[str, "ISO 4217 code (EUR)."]
    type: Annotated[str, "The product type (a catalog category: Kitchen, ...)."]
    active: Annotated[bool, "False once archived (hidden from the catalog)."]
    weight_grams: Annotated[int, "Weight of one unit, for shipping."]
    tax_class: Annotated[str, "Tax class (standard, reduced, ...) the taxes plugin applies."]
    image: Annotated[str | None, "The media file name, or null."]
    updated_at: Annotated[str, "ISO-8601 time of this version."]


PRODUCT_ID = Annotated[int, "The product's id (as ``product.id``)."]
ACTOR = Annotated[str, "``user:<id>`` of whoever made the change, or ``system:users``."]


@event("ecom/products/created")
@dataclass(frozen=True)
class ProductCreated:
    """A seller (or an admin for them) added a product. Produced by **products**, through its outbox, in
    the transaction that inserts it (API, seller pages or a catalog CSV import line).

    Topic ``ecom/products/created``, version 1, data::

        {"product_id": 12, "product": {...see the module doc...}, "actor": "user:7"}

    ``actor`` is ``user:<id>`` of whoever made the change (a seller, or an admin acting for a seller).
    """
    product_id: PRODUCT_ID
    product: Annotated[ProductSnapshot, "The product as it is now."]
    actor: ACTOR = ""


@event("ecom/products/updated")
@dataclass(frozen=True)
class ProductUpdated:
    """A product's fields changed. Produced by **products**, through its outbox, in the transaction that
    changes them: an edit (API, pages, catalog CSV import), a new image, or the product archived
    (``active`` true -> false) because its seller's account was deleted (``actor`` ``system:users``).

    Topic ``ecom/products/updated``, version 1, data::

        {"product_id": 12, "product": {...after the change...},
         "changes": {"price_cents": {"from": 1299, "to": 999}, "active": {"from": true, "to": false}},
         "actor": "user:7"}

    ``changes`` names only the columns whose value differs (name, description, price_cents, currency,
    type, sku, active, weight_grams, tax_class, image; ``description`` is reported in ``changes`` but not
    carried in ``product``). An edit that changes nothing emits nothing.
    """
    product_id: PRODUCT_ID
    product: Annotated[ProductSnapshot, "The product after the change."]
    changes: Annotated[dict[str, Any], "``{column: {\"from\": old, \"to\": new}}`` for each watched column "
                                       "that changed (WATCHED)."]
    actor: ACTOR = ""


@event("ecom/products/deleted")
@dataclass(frozen=True)
class ProductDeleted:
    """A product was deleted (soft: orders and invoices still refer to it, it is gone from the catalog and
    its SKU is free again). Produced by **products**, through its outbox, in the deleting transaction.

    Topic ``ecom/products/deleted``, version 1, data::

        {"product_id": 12, "product": {...as it was, updated_at = the deletion...}, "actor": "user:7"}
    """
    product_id: PRODUCT_ID
    product: Annotated[ProductSnapshot, "The product as it was, ``updated_at`` the deletion."]
    actor: ACTOR = ""
