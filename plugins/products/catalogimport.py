"""Catalog CSV export and import (catalogcsv.py reads and writes the text; this applies it).

Import is ONE transaction per file, all or nothing: a seller fixing a price list wants the whole list or
none of it, and a half-applied file (which lines went in?) is worse to repair than a clear refusal. Every
line is checked first; any bad line refuses the file with every problem listed by line number, and
nothing is written. Lines are matched by SKU among the seller's live products (idempotent: the same file
twice changes nothing the second time): a known SKU is updated with the columns the file has, an unknown
one is created (it then needs name, price_cents, currency and type). Each change writes its
ProductCreated / ProductUpdated in that transaction, so the events exist exactly when the file committed.
A preview (``dry_run``) runs the very same transaction and rolls it back: what it reports is what an
import would do at that moment, constraints included.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ecom.errors import ValidationFailed
from ecom.i18n import _, ngettext

from . import catalogcsv, db
from .models import Product, owner_filter
from .service import ProductsService
from .validation import check_fields

if TYPE_CHECKING:
    from ecom.gateway.auth import Identity

EXPORT_PAGE = 1000


@dataclass(frozen=True)
class Outcome:
    line_no: int
    sku: str
    action: str          # created | updated | unchanged
    product_id: int
    changed: tuple[str, ...] = ()


@dataclass(frozen=True)
class Report:
    seller_id: int
    dry_run: bool
    lines: tuple[Outcome, ...]

    def count(self, action: str) -> int:
        return sum(o.action == action for o in self.lines)


class _Rollback(Exception):
    """Leave the transaction without committing (a preview, or a line that failed while applying)."""


def refusal(errors: dict[int, str]) -> ValidationFailed:
    """The file refused: every bad line by number (``errors`` keys are ``line N``)."""
    count = len(errors)
    return ValidationFailed(ngettext("{n} line needs attention; nothing was imported.",
                                     "{n} lines need attention; nothing was imported.", count).format(n=count),
                            errors={f"line {n}": message for n, message in sorted(errors.items())})


class CatalogCsv:
    def __init__(self, products: ProductsService):
        self.products = products

    def _seller(self, actor: "Identity", seller_id: int | None) -> int | None:
        """Whose products: the actor's own; an admin's named seller, or everyone's (None) for an export."""
        owner = owner_filter(actor)
        return owner if owner is not None else seller_id

    async def export(self, actor: "Identity", seller_id: int | None = None) -> str:
        """The CSV of the actor's live products (an admin: everyone's, or ``seller_id``'s), newest first."""
        seller, found, before = self._seller(actor, seller_id), [], None
        while True:
            rows = await db.seller_products(self.products.pool, seller, before, EXPORT_PAGE)
            found.extend(Product.from_row(r) for r in rows)
            if len(rows) < EXPORT_PAGE:
                break
            before = rows[-1]["id"]
        return await asyncio.to_thread(catalogcsv.export, found)

    async def run(self, actor: "Identity", data: bytes, *, seller_id: int | None = None,
                  dry_run: bool = False) -> Report:
        """Apply (or with ``dry_run`` preview) a catalog CSV for the actor's products (an admin: for
        ``seller_id``, by default their own). ValidationFailed when the file or any line is bad."""
        seller = self._seller(actor, seller_id) or actor.user_id
        parsed = await asyncio.to_thread(lambda: catalogcsv.parse(catalogcsv.decode(data)))
        if parsed.errors:
            raise refusal(parsed.errors)
        outcomes: list[Outcome] = []
        errors: dict[int, str] = {}
        try:
            async with self.products.pool.acquire() as conn, conn.transaction():
                known = {r["sku"]: r["id"] for r in await db.by_skus(conn, seller, [r.sku for r in parsed.rows])}
                for row in parsed.rows:
                    if row.sku in known:
                        found, diff = await self.products.update_in(conn, actor, known[row.sku], seller, row.fields)
                        if found is None:  # deleted meanwhile (the row lock waited for that transaction)
                            errors[row.line_no] = _("SKU {sku} was deleted meanwhile.").format(sku=row.sku)
                            continue
                        outcomes.append(Outcome(row.line_no, row.sku, "updated" if diff else "unchanged",
                                                found["id"], tuple(diff)))
                        continue
                    missing = catalogcsv.missing_for_new(row)
                    if missing:
                        errors[row.line_no] = _("SKU {sku} is new: it needs {columns}.").format(
                            sku=row.sku, columns=", ".join(missing))
                        continue
                    made = await self.products.insert_in(conn, actor, seller, check_fields(row.fields, partial=False))
                    if made is None:  # created by someone else meanwhile
                        errors[row.line_no] = _("SKU {sku} was created meanwhile; import the file again.").format(
                            sku=row.sku)
                        continue
                    outcomes.append(Outcome(row.line_no, row.sku, "created", made["id"]))
                if errors or dry_run:
                    raise _Rollback
        except _Rollback:
            if errors:
                raise refusal(errors) from None
        else:
            self.products._changed()
        return Report(seller, dry_run, tuple(outcomes))
