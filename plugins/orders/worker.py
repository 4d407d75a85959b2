"""The sweep every worker runs: expire unpaid orders past their time (releasing their stock), retry
inventory calls that failed, and forget Idempotency-Keys older than a week. Safe with any number of workers (orders are claimed FOR UPDATE SKIP
LOCKED); never dies of an error: it is logged and the loop carries on at the next tick.
"""
from __future__ import annotations

import asyncio
import logging

from ecom.logs import LoopLog
from ecom.stopping import stop_if_cancelled

from .service import OrdersService

log = logging.getLogger("ecom.plugins.orders")
BATCH = 100
KEYS_KEPT_DAYS = 7  # a client retrying a checkout after a week gets a new order


async def sweep(service: OrdersService, interval: float) -> None:
    quiet = LoopLog(log, "the orders sweep")
    while True:
        try:
            while await service.expire_due(BATCH) >= BATCH:
                await asyncio.sleep(0)
            while await service.retry_stock(BATCH) >= BATCH:
                await asyncio.sleep(0)
            await service.forget_idempotency_keys(KEYS_KEPT_DAYS)
            quiet.ok()
        except asyncio.CancelledError:
            raise
        except Exception as err:  # noqa: BLE001 - a dead sweep would leave unpaid orders holding stock forever
            quiet.failed(err)
            stop_if_cancelled()  # a shutdown's cancellation turned into another error ends the sweep too
        await asyncio.sleep(interval)


def start(service: OrdersService, interval: float) -> asyncio.Task:
    return asyncio.get_running_loop().create_task(sweep(service, interval), name="orders-sweep")


async def stop(task: asyncio.Task) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
