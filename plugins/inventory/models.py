"""The inventory plugin's values: what its service returns to routes and to other plugins."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ecom.errors import Conflict
from ecom.i18n import _

from .messages import shown

MAX_ID = 2**63 - 1                    # ids are bigints
MAX_QUANTITY = 1_000_000_000          # units of one product in one region
MAX_RESERVE = 10_000                  # units of one product in one reservation
MAX_ORDER_REF = 100
MAX_REASON = 500


@dataclass(frozen=True)
class Stock:
    product_id: int
    region: str
    quantity: int
    reserved: int
    updated_at: datetime | None = None

    @property
    def available(self) -> int:
        return self.quantity - self.reserved


@dataclass(frozen=True)
class Reservation:
    order_ref: str
    product_id: int
    region: str
    quantity: int
    status: str                       # held | committed | released
    expires_at: datetime
    created_at: datetime
    restocked: bool = False


@dataclass(frozen=True)
class Movement:
    id: int
    product_id: int
    region: str
    quantity_delta: int
    reserved_delta: int
    kind: str                         # adjustment | reservation | release | sale | import
    actor: str
    reason: str
    order_ref: str | None
    import_id: int | None
    created_at: datetime


@dataclass(frozen=True)
class RejectedLine:
    line_no: int
    error: str                        # in the reader's language
    sku: str = ""
    region: str = ""
    stored: str = ""                  # what the database keeps: msgid and values (messages.py)

    @classmethod
    def of(cls, line_no: int, stored: str, sku: str = "", region: str = "") -> "RejectedLine":
        return cls(line_no, shown(stored), sku, region, stored)


@dataclass(frozen=True)
class ImportJob:
    id: int
    seller_id: int
    status: str                       # queued | running | done
    total: int
    applied: int
    rejected: int
    filename: str
    created_at: datetime
    finished_at: datetime | None
    rejected_lines: tuple[RejectedLine, ...] = ()

    @property
    def processed(self) -> int:
        return self.applied + self.rejected

    @property
    def percent(self) -> int:
        return 100 if self.total == 0 else self.processed * 100 // self.total


class OutOfStock(Conflict):
    """A reservation asked for more than a region has; nothing was reserved."""

    def __init__(self, product_id: int, region: str, requested: int, available: int):
        detail = _("Not enough stock of product {id} in {region}: {available} available, {requested} requested.").format(
            id=product_id, region=region, available=available, requested=requested)
        super().__init__(detail, errors={"items": detail})
        self.product_id, self.region, self.requested, self.available = product_id, region, requested, available
