"""Background work every worker runs: release expired reservations (and purge old import lines), apply
queued CSV imports.

Both loops are safe with any number of workers (the rows are claimed with SKIP LOCKED) and never die
of an error: it is logged and the loop carries on at the next tick.
"""
from __future__ import annotations

import asyncio
import logging

from ecom.aio import wait_event
from ecom.logs import LoopLog
from ecom.stopping import stop_if_cancelled

from .imports import ImportService
from .service import InventoryService

log = logging.getLogger("ecom.plugins.inventory")


async def _pause(wake: asyncio.Event | None, seconds: float) -> None:
    if wake is None:
        await asyncio.sleep(seconds)
        return
    await wait_event(wake, seconds)


async def sweep_reservations(service: InventoryService, interval: float, imports: ImportService | None = None) -> None:
    """Release expired holds and forget the lines of old finished imports (a cheap query when none are due)."""
    quiet = LoopLog(log, "releasing expired reservations")
    while True:
        try:
            while await service.release_expired() > 0:
                pass
            if imports is not None:
                await imports.purge_old_lines()
            quiet.ok()
        except asyncio.CancelledError:
            raise
        except Exception as err:  # noqa: BLE001 - a dead sweeper would leave stock held forever
            quiet.failed(err)
            stop_if_cancelled()  # a shutdown's cancellation turned into another error ends the sweeper too
        await _pause(None, interval)


async def process_imports(imports: ImportService, interval: float) -> None:
    """Woken by a queued job (this process's or the event's), else every ``interval`` (a lost message)."""
    quiet = LoopLog(log, "applying an import batch")
    while True:
        imports.wake.clear()
        try:
            while await imports.process_batch():
                await asyncio.sleep(0)  # let requests in between batches
            quiet.ok()
        except asyncio.CancelledError:
            raise
        except Exception as err:  # noqa: BLE001 - the job stays pending; the next tick resumes it
            quiet.failed(err)
            stop_if_cancelled()  # the job stays pending for the next start
        await _pause(imports.wake, interval)


def start(service: InventoryService, imports: ImportService, interval: float) -> list[asyncio.Task]:
    loop = asyncio.get_running_loop()
    return [loop.create_task(sweep_reservations(service, interval, imports), name="inventory-sweeper"),
            loop.create_task(process_imports(imports, interval), name="inventory-imports")]


async def stop(tasks: list[asyncio.Task]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
