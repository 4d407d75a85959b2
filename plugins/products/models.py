"""The products plugin's values and the rules every reader and writer of the catalog applies: its
configuration, a Product as the service hands it to routes and other plugins, and who may change which
product (service.py and catalogimport.py both check changes by these).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import asyncpg

from ecom.config import ConfigError
from ecom.errors import Forbidden, NotFound
from ecom.i18n import _

from . import images
from .validation import CURRENCIES

if TYPE_CHECKING:
    from ecom.gateway.auth import Identity

MAX_ID = 2**63 - 1


@dataclass(frozen=True)
class ProductsConfig:
    """[plugins.products] in config.toml."""
    catalog_cache_seconds: int = 30   # Cache-Control max-age of catalog pages and API reads for guests
    max_image_bytes: int = 2 * 1024 * 1024
    page_size: int = 24               # catalog page size when the request names none (1..100)
    display_currency: str = "EUR"     # price filters and price sorts compare in this currency by default
    page_cache_seconds: int = 10      # logged-in catalog and product pages: shared parts kept per worker (pagecache.py)

    def validate(self) -> None:
        if not 0 <= self.catalog_cache_seconds <= 86400:
            raise ConfigError("config: plugins.products.catalog_cache_seconds must be between 0 and 86400")
        if not 1024 <= self.max_image_bytes <= 64 * 1024 * 1024:
            raise ConfigError("config: plugins.products.max_image_bytes must be between 1024 and 67108864")
        if not 0 <= self.page_cache_seconds <= 60:
            raise ConfigError("config: plugins.products.page_cache_seconds must be between 0 (off) and 60")
        if not 1 <= self.page_size <= 100:
            raise ConfigError("config: plugins.products.page_size must be between 1 and 100")
        if self.display_currency not in CURRENCIES:
            raise ConfigError("config: plugins.products.display_currency must be an upper-case ISO-4217 code "
                              "the shop takes, like EUR or USD")


@dataclass(frozen=True)
class Product:
    id: int
    seller_id: int
    name: str
    description: str
    price_cents: int
    currency: str
    type: str
    sku: str
    active: bool
    image_url: str | None
    created_at: datetime
    updated_at: datetime
    weight_grams: int = 500       # shipping quotes weigh a shipment by this
    tax_class: str = "standard"   # standard | reduced | zero: the taxes plugin's rate class

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> "Product":
        return cls(row["id"], row["seller_id"], row["name"], row["description"], row["price_cents"],
                   row["currency"].strip(), row["type"], row["sku"], row["active"], images.url(row["image"]),
                   row["created_at"], row["updated_at"], row["weight_grams"], row["tax_class"])


def owner_filter(actor: "Identity") -> int | None:
    """The seller id a change is limited to (None: an admin, any seller's product)."""
    if not actor.has_role("seller"):
        raise Forbidden(_("Only sellers can manage products."))
    return None if actor.is_admin else actor.user_id


def actor_name(actor: "Identity") -> str:
    """Who made a change, as the events name them."""
    return f"user:{actor.user_id}"


def no_such(product_id: int) -> NotFound:
    return NotFound(_("No product {id}.").format(id=product_id))


def valid_id(product_id: Any) -> int:
    if isinstance(product_id, bool) or not isinstance(product_id, int) or not 0 < product_id <= MAX_ID:
        raise NotFound(_("No product {id}.").format(id=repr(product_id)[:40]))
    return product_id
