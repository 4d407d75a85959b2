"""Bulk stock updates from a CSV file: queued in one transaction, applied in the background in batches.

Queueing stores the job, every line (good ones 'pending', bad ones 'rejected' with their error) and an
``ImportQueued`` outbox event in ONE transaction. Any worker applies it: each batch is one transaction
that claims the job row (``FOR UPDATE SKIP LOCKED``), sets the stock, writes 'import' movements, marks
its lines applied and counts progress. A worker that dies mid-batch rolls its batch back; the next
claim resumes with the lines still pending. So every good line is applied exactly once.
"""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import asyncpg

from ecom.errors import NotFound, ValidationFailed
from ecom.i18n import N_, _

from . import csvfile, db, imports_db
from .config import InventoryConfig
from .db import Move
from .events import ImportQueued
from .lowstock import Level, LowStockAlerts
from .messages import shown, stored
from .models import ImportJob, RejectedLine
from .service import Products, actor_name
from .stockevents import StockEvents

if TYPE_CHECKING:
    from ecom.events import PluginEvents
    from ecom.gateway.auth import Identity

SHOWN_REJECTED = 1000  # rejected lines listed per job (the counts are always complete)


def _job(row: asyncpg.Record, rejected: list[asyncpg.Record] = ()) -> ImportJob:
    lines = tuple(RejectedLine(r["line_no"], shown(r["error"]), r["sku"], r["region"]) for r in rejected)
    return ImportJob(row["id"], row["seller_id"], row["status"], row["total"], row["applied"], row["rejected"],
                     row["filename"], row["created_at"], row["finished_at"], lines)


def _read(data: bytes, config: InventoryConfig) -> csvfile.Parsed:
    return csvfile.parse(csvfile.decode(data, config.max_import_bytes), config.regions, config.max_import_lines)


def _match(parsed: csvfile.Parsed, ids: dict[str, int]) -> tuple[list[tuple[Any, int]], list[RejectedLine]]:
    """(good lines with their product id, rejected lines in line order): a SKU not in the catalog is rejected."""
    rejected, good = list(parsed.rejected), []
    for line in parsed.lines:
        product_id = ids.get(line.sku)
        if product_id is None:
            rejected.append(RejectedLine.of(line.line_no, stored(N_("No product with SKU {sku} in this seller's catalog."),
                                                              sku=repr(line.sku)), line.sku, line.region))
        else:
            good.append((line, product_id))
    rejected.sort(key=lambda r: r.line_no)
    return good, rejected


def _records(import_id: int, good: list[tuple[Any, int]], rejected: list[RejectedLine]) -> list[tuple]:
    return [*((import_id, line.line_no, line.sku, line.region, line.quantity, product_id, "pending", None)
              for line, product_id in good),
            *((import_id, r.line_no, r.sku, r.region, None, None, "rejected", r.stored or r.error) for r in rejected)]


class ImportService:
    def __init__(self, pool: asyncpg.Pool, config: InventoryConfig, products: Products, events: "PluginEvents",
                 alerts: LowStockAlerts | None = None, stock: StockEvents | None = None):
        self.pool, self.config, self.products, self.events = pool, config, products, events
        self.alerts = alerts
        self.stock = stock  # StockChanged: one per product a batch changed, in the batch's transaction
        self.wake = asyncio.Event()  # set when a job is queued (by this process or, via the event, another)

    async def queue(self, actor: "Identity", data: bytes, filename: str = "",
                    seller_id: int | None = None) -> ImportJob:
        """Check ``data`` (a CSV file) line by line and queue its good lines for ``actor``'s products
        (an admin may name another ``seller_id``). ValidationFailed for a file that cannot be read at all."""
        seller_id = seller_id if seller_id is not None and actor.is_admin else actor.user_id
        # 100,000 lines take about a second of CPU to read and check: a worker thread does it, so the event
        # loop keeps answering every other request meanwhile (the CSV module and these checks are pure)
        parsed = await asyncio.to_thread(_read, data, self.config)
        if parsed.total == 0:
            raise ValidationFailed(_("The file has a header but no lines."),
                                   errors={"file": _("No lines after the header.")})
        skus = sorted({line.sku for line in parsed.lines})
        found = await self.products.find_by_skus(seller_id, skus) if skus else {}
        ids = {sku: product.id for sku, product in found.items()}
        good, rejected = await asyncio.to_thread(_match, parsed, ids)
        filename = "".join(c for c in filename if c.isprintable())[:200]
        async with self.pool.acquire() as conn, conn.transaction():
            import_id = await imports_db.insert_job(conn, seller_id, actor_name(actor), filename,
                                                    parsed.total, len(rejected))
            await imports_db.insert_lines(conn, await asyncio.to_thread(_records, import_id, good, rejected))
            if good:
                await self.events.emit(conn, ImportQueued(import_id))
        self.wake.set()
        return await self._load(import_id)

    async def job(self, actor: "Identity", import_id: int) -> ImportJob:
        """The job with its rejected lines; NotFound unless ``actor`` is its seller or an admin (a job is
        private: another seller does not even learn that it exists)."""
        job = await self._load(import_id)
        if not (actor.is_admin or job.seller_id == actor.user_id):
            raise NotFound(_("No import {id}.").format(id=import_id))
        return job

    async def jobs(self, actor: "Identity", limit: int = 20) -> list[ImportJob]:
        rows = await imports_db.jobs_of(self.pool, None if actor.is_admin else actor.user_id, limit)
        return [_job(r) for r in rows]

    async def _load(self, import_id: int) -> ImportJob:
        row = await imports_db.job(self.pool, import_id)
        if row is None:
            raise NotFound(_("No import {id}.").format(id=import_id))
        return _job(row, await imports_db.rejected_lines(self.pool, import_id, SHOWN_REJECTED))

    async def purge_old_lines(self, batch: int = 10_000) -> int:
        """Delete the lines of imports finished more than import_retention_days ago (in batches); the count."""
        purged = 0
        while (deleted := await imports_db.purge_lines(self.pool, self.config.import_retention_days, batch)) > 0:
            purged += deleted
        return purged

    async def on_import_queued(self, conn: asyncpg.Connection, event: ImportQueued) -> None:
        """Inbox handler: wake this process's processor (the work itself runs outside this transaction)."""
        self.wake.set()

    async def process_batch(self) -> bool:
        """Apply the next batch of some unfinished job; False when no job is waiting (or all are busy)."""
        async with self.pool.acquire() as conn, conn.transaction():
            job = await imports_db.claim_job(conn)
            if job is None:
                return False
            size = self.config.import_batch_size
            lines = await imports_db.pending_lines(conn, job["id"], size)
            applied, rejected = await self._apply(conn, job, lines) if lines else ([], [])
            finished = len(lines) < size or not await imports_db.has_pending(conn, job["id"])
            await imports_db.progress(conn, job["id"], len(applied), len(rejected), finished)
            return True

    async def _apply(self, conn, job: Any, lines: list[asyncpg.Record]) -> tuple[list[int], list[tuple[int, str]]]:
        current = await imports_db.lock_stock_rows(conn, sorted({(l["product_id"], l["region"]) for l in lines}))
        applied, rejected, values, moves = [], [], [], []
        for line in lines:
            key = (line["product_id"], line["region"])
            old = current[key]
            if line["quantity"] < old["reserved"]:
                rejected.append((line["line_no"], stored(N_("Not applied: {reserved} units were reserved by open "
                                                            "orders, more than this quantity."),
                                                         reserved=old["reserved"])))
                continue
            applied.append(line["line_no"])
            values.append((*key, line["quantity"]))
            moves.append(Move(*key, line["quantity"] - old["quantity"], 0, "import", job["actor"],
                              f"CSV import {job['id']}, line {line['line_no']}", None, job["id"]))
        rows = await imports_db.set_quantities(conn, values)
        await db.record(conn, moves)
        await imports_db.mark_lines(conn, job["id"], applied, rejected)
        if self.stock is not None:  # a line that sets the quantity it already had changes nothing
            self.stock.remember({p: job["seller_id"] for p, _, _ in values})
            moved = [r for r in rows if r["quantity"] != current[(r["product_id"], r["region"])]["quantity"]]
            await self.stock.announce(conn, moved, "import", job["actor"], f"import:{job['id']}")
        if self.alerts is not None:  # the last line of a (product, region) in this batch is its new quantity
            final = {(p, r): q for p, r, q in values}
            levels = [Level(p, r, current[(p, r)]["quantity"] - current[(p, r)]["reserved"],
                            q - current[(p, r)]["reserved"]) for (p, r), q in final.items()]
            await self.alerts.announce(conn, levels, {p: job["seller_id"] for p, _ in final})
        return applied, rejected
