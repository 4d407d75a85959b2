"""A plugin's background loop ends when it is cancelled, even when the cancellation comes back to it as an
ordinary error (ecom/stopping.py ``stop_if_cancelled``, called by each plugin loop that catches errors to
retry: orders' and inventory's sweeps, inventory's imports, payments' scheduler, webhooks' relay and
wanted-types refresh).

The representative case, with real parts: the payments scheduler on a pool of its own (real asyncpg, the
shop's real payments database, the plugin's real Scheduler and PaymentsService). Its claim of due payments
waits on a table lock another connection holds; that backend is then SIGSTOPped and the scheduler stopped.
asyncpg asks the server to cancel the claim, and the transaction's ROLLBACK waits for that cancellation,
which a stopped backend never answers: after command_timeout the ROLLBACK raises TimeoutError in place of
the CancelledError. The loop caught it as one more failed round and went on claiming (on fresh
connections, since the frozen one is terminated), so ``Scheduler.stop()`` never returned. Now it ends
within a generous deadline; no speed is asserted.
"""
from __future__ import annotations

import asyncio
import os
import signal

import asyncpg

from ecom.app import plugin_database_url
from plugins.payments.keys import PAYMENTS
from plugins.payments.scheduler import Scheduler
from plugins.payments.service import PaymentsService
from tests.helpers import start, wait_until

DEADLINE = 40.0  # seconds for stop() to return; the wait under test is COMMAND_TIMEOUT (the ROLLBACK's)
COMMAND_TIMEOUT = 5.0
NAME = "plugin-loop-stop-test"  # application_name of the scheduler's own pool: only its backend is frozen
CLAIMING = """SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND state = 'active'
              AND wait_event_type = 'Lock' AND query LIKE '%FOR UPDATE SKIP LOCKED%'"""


async def test_payment_scheduler_stops_when_its_cancelled_claim_cannot_roll_back(aiohttp_client, make_config):
    config = make_config(plugins=["users", "payments"], fresh=True)
    client = await start(aiohttp_client, config)
    url = plugin_database_url(config, "payments")
    shop = client.app[PAYMENTS]
    pool = await asyncpg.create_pool(url, min_size=2, max_size=2, command_timeout=COMMAND_TIMEOUT,
                                     server_settings={"application_name": NAME})
    locker = await asyncpg.connect(url)
    watcher = await asyncpg.connect(url)  # its own transactions: pg_stat_activity is a snapshot per transaction
    scheduler = Scheduler(pool, PaymentsService(pool, shop.config, shop.vault, shop.events))
    frozen: list[int] = []
    task: asyncio.Task | None = None
    try:
        await locker.execute("BEGIN")
        await locker.execute("LOCK TABLE payments IN ACCESS EXCLUSIVE MODE")  # held until the end
        scheduler.start()
        task = scheduler._task
        rows = await wait_until(lambda: watcher.fetch(CLAIMING, NAME), bool, "the scheduler's claim waiting on the lock")
        frozen.extend(r["pid"] for r in rows)
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)

        stopping = asyncio.ensure_future(scheduler.stop())
        done, _ = await asyncio.wait({stopping}, timeout=DEADLINE)
        assert done, (f"Scheduler.stop() did not return within {DEADLINE} s: the cancellation, turned into "
                      f"the ROLLBACK's TimeoutError, was caught as a failed round and the loop went on")
        stopping.result()
        assert task.done() and task.cancelled(), task
    finally:
        for pid in frozen:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        await locker.close()  # ends the lock's transaction
        await watcher.close()
        if task is not None and not task.done():  # the previous code: the loop runs on; a cancel now reaches it as itself
            task.cancel()
            await asyncio.wait({task}, timeout=DEADLINE)
        pool.terminate()
