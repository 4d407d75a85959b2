"""Fault injection for tests/test_faults.py: a broker in its own process (so it can be SIGKILLed and
SIGSTOPped like a real broker host), an orders database that refuses connections, and the read-outs
that tell a test *why* orders did not converge (which event went missing where).

The broker process is the shop's own :class:`ecom.broker.process.BrokerProcess` where it exists, else a
small ``python -c`` around :class:`ecom.broker.EmbeddedBroker` (for older checkouts); :func:`broker_process`
is the one place that chooses.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import signal
import subprocess
import sys
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg

from ecom.embedded import die_with_parent
from tests.conftest import ROOT, TEST_SECRET_KEY

SECRET = hashlib.sha256(TEST_SECRET_KEY.encode()).digest()  # what load_secret() derives from secret_key
SETTLED = ("paid", "payment_failed")

BROKER_MAIN = r"""
import asyncio, sys
sys.path.insert(0, sys.argv[1])
from ecom.broker import EmbeddedBroker

async def main():
    await EmbeddedBroker(sys.argv[2], int(sys.argv[3]), bytes.fromhex(sys.argv[4])).start()
    await asyncio.Event().wait()   # until SIGKILLed (or the test process dies: parent-death signal)

asyncio.run(main())
"""


class BrokerSubprocess:
    """The embedded broker alone in a child process that dies with the test process."""

    def __init__(self, host: str, port: int, secret: bytes, log_path: Path):
        self.host, self.port, self.secret, self.log_path = host, port, secret, log_path
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    async def start(self, timeout: float = 30.0) -> None:
        """Spawn the broker and wait (bounded) until its port accepts connections."""
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", BROKER_MAIN, str(ROOT), self.host, str(self.port), self.secret.hex()],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                preexec_fn=lambda: die_with_parent(signal.SIGKILL))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"broker process exited with {self.process.returncode}: {self.log_tail()}")
            try:
                _, writer = await asyncio.open_connection(self.host, self.port)
                writer.close()
                return
            except OSError:
                if loop.time() > deadline:
                    raise AssertionError(f"broker not listening after {timeout}s: {self.log_tail()}") from None
                await asyncio.sleep(0.05)

    def signal(self, sig: int) -> None:
        assert self.process is not None and self.process.poll() is None, "the broker process is not running"
        os.kill(self.process.pid, sig)

    def kill(self) -> None:
        """SIGKILL: everything the broker held in memory (sessions, queued messages) is gone."""
        self.signal(signal.SIGKILL)
        self.process.wait(10)

    def freeze(self) -> None:
        self.signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.signal(signal.SIGCONT)

    def stop(self) -> None:
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)  # works on a stopped process too
            proc.wait(10)

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no broker log)"


class ShopBrokerProcess:
    """The same interface over the shop's own :class:`ecom.broker.process.BrokerProcess` (the hardened
    broker as ``python -m ecom.broker``), so the faults hit the broker the shop really runs."""

    def __init__(self, host: str, port: int, secret: bytes):
        from ecom.broker.process import BrokerProcess
        self.inner = BrokerProcess(host, port, secret, log_level="warning")
        self.host, self.port = host, port

    @property
    def url(self) -> str:
        return self.inner.url

    async def start(self, timeout: float = 30.0) -> None:
        self.inner.ready_timeout = timeout
        await self.inner.astart()

    def kill(self) -> None:
        assert self.inner.running, "the broker process is not running"
        self.inner.kill(signal.SIGKILL)
        self.inner.proc.wait(10)

    def freeze(self) -> None:
        assert self.inner.running, "the broker process is not running"
        self.inner.kill(signal.SIGSTOP)

    def thaw(self) -> None:
        self.inner.kill(signal.SIGCONT)

    def stop(self) -> None:
        if self.inner.running:
            self.inner.kill(signal.SIGKILL)  # works on a stopped process too
            self.inner.proc.wait(10)

    def log_tail(self, chars: int = 2000) -> str:
        return "(the shop's broker process logs to the test's stderr)"


def _make_broker(host: str, port: int, log_path: Path):
    try:
        import ecom.broker.process  # noqa: F401
    except ImportError:  # a checkout from before the broker ran in its own process
        return BrokerSubprocess(host, port, SECRET, log_path)
    return ShopBrokerProcess(host, port, SECRET)


@asynccontextmanager
async def broker_process(host: str, port: int, log_path: Path):
    """A running out-of-process broker for the test secret, killed at the end whatever state it is in."""
    broker = _make_broker(host, port, log_path)
    await broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@asynccontextmanager
async def database_unreachable(superuser_url: str, database: str):
    """``database`` refuses every connection (superusers too) and loses the ones it had, until the block
    ends -- as when its server or the network to it is away. Yields the server time the outage began."""
    admin = await asyncpg.connect(superuser_url)
    try:
        await admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
        try:
            await admin.fetchval("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                 "WHERE datname = $1 AND pid <> pg_backend_pid()", database)
            yield await admin.fetchval("SELECT clock_timestamp()")
        finally:
            await admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
    finally:
        await admin.close()


class WarningLines(logging.Handler):
    """Every WARNING-or-worse record of this process, to bound how loudly a fault is reported."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.name}: {record.getMessage()[:200]}")

    def __enter__(self) -> "WarningLines":
        logging.getLogger().addHandler(self)
        return self

    def __exit__(self, *exc) -> None:
        logging.getLogger().removeHandler(self)


async def order_statuses(orders_pool: asyncpg.Pool, ids: list[str]) -> dict[str, str]:
    rows = await orders_pool.fetch("SELECT id, status FROM orders WHERE id = any($1::text[])", ids)
    return {r["id"]: r["status"] for r in rows}


async def diagnose(pools: dict[str, asyncpg.Pool], ids: list[str]) -> str:
    """Where each unsettled order's events stopped: its payment (payments db), the payment result in the
    payments outbox (sent or not), and whether orders' inbox ever recorded it."""
    stuck = [i for i, s in (await order_statuses(pools["orders"], ids)).items() if s not in SETTLED]
    if not stuck:
        return "every order settled"
    payments = {r["order_id"]: r for r in await pools["payments"].fetch(
        "SELECT order_id, status, processed_at FROM payments WHERE order_id = any($1::text[])", stuck)}
    results = {r["order_id"]: r for r in await pools["payments"].fetch(
        "SELECT o.order_id, x.event_id, x.topic, x.sent_at FROM unnest($1::text[]) AS o (order_id) "
        "JOIN outbox x ON x.topic IN ('ecom/payments/completed', 'ecom/payments/failed') "
        "AND strpos(x.payload, o.order_id) > 0", stuck)}  # by text: the envelope's shape may change
    inbox = {r["event_id"] for r in await pools["orders"].fetch(
        "SELECT event_id FROM inbox WHERE event_id = any($1::uuid[])", [r["event_id"] for r in results.values()])}
    lines = [f"{len(stuck)} of {len(ids)} orders not settled:"]
    for order_id in stuck[:10]:
        pay, res = payments.get(order_id), results.get(order_id)
        if pay is None:
            where = "payments never got the request (payments/requested lost)"
        elif pay["status"] == "pending":
            where = "payment still pending in payments"
        elif res is None:
            where = f"payment {pay['status']} but no result event in the payments outbox"
        elif res["sent_at"] is None:
            where = f"payment {pay['status']}; its result is still unsent in the payments outbox"
        elif res["event_id"] not in inbox:
            where = (f"payment {pay['status']}; {res['topic']} marked sent but never applied by orders "
                     "(no inbox row): the event was lost")
        else:
            where = f"payment {pay['status']}; orders' inbox has the event but the order did not move"
        lines.append(f"  {order_id}: {where}")
    return "\n".join(lines)
