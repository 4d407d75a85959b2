"""A shop run the way an operator runs it (`run.py`, with `--instances N` a supervisor, workers and nginx),
for the tests that fault it and watch it heal (tests/test_supervisor.py, tests/test_healing.py).

One place says what "started", "ready" and "replaced" mean for such a shop, so that both test files wait
for the same outcomes (never for a fixed time: a busy machine starts and restarts things slowly)."""
from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Iterator

import aiohttp
import psutil

from ecom.testing import patiently
from tests.helpers import ROOT, write_config
from tests.test_cli import wait_until

PLUGINS = ("users", "products", "inventory", "payments", "addresses", "shipping", "taxes", "vouchers", "orders")
SHIP_TO = {"name": "Ana García", "line1": "Calle Mayor 1", "city": "Madrid", "postal_code": "28013", "country": "ES",
           "phone": "+34 911 234 567"}
CARD = {"method": "card", "card_number": "4242 4242 4242 4242", "exp_month": 12,
        "exp_year": time.gmtime().tm_year + 3, "cvc": "123"}
PASSWORD = "a-good-password"


@contextlib.contextmanager
def running(folder: Path, *args: str, nginx: str = "", env: dict | None = None) -> Iterator[dict]:
    """`run.py *args` with PLUGINS, payments at once and no app rate limits (one test client sends the
    whole load; ``nginx`` is the [nginx] section's lines), once it prints its ready line. Yields the shop:
    proc, url (public), worker_url (worker-1), config, data, log. Stopped on the way out (SIGTERM, then
    SIGKILL if it does not end in 60 s) unless a test has ended it already."""
    config = write_config(folder, PLUGINS, rate_limits=False, ports=4,
                          extra=f"[nginx]\n{nginx}\n[plugins.payments]\ndelay_seconds = 0.0\n")
    port = int(next(line.split("=")[1] for line in config.read_text().splitlines() if line.startswith("port")))
    log = folder / "shop.log"
    with log.open("w") as err:  # a file, not a pipe: a full pipe would stall the shop
        proc = subprocess.Popen([sys.executable, str(ROOT / "run.py"), *args, "--config", str(config)], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=err, text=True, env={**os.environ, **(env or {})})
    try:
        line = proc.stdout.readline()  # the ready line, or EOF when it dies
        assert "ready at" in line, (line, log.read_text()[-3000:])
        yield {"proc": proc, "url": f"http://127.0.0.1:{port}", "worker_url": f"http://127.0.0.1:{port + 1}",
               "config": config, "data": folder / "data", "log": log}
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def started_processes(root_pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(root_pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def worker_pids(shop: dict) -> dict[str, int]:
    """{worker name: pid} of the supervisor's workers right now."""
    pids = {}
    for child in started_processes(shop["proc"].pid):
        try:  # a child may exit while we look (a worker being replaced)
            env, cmdline = child.environ(), child.cmdline()
        except (psutil.AccessDenied, psutil.NoSuchProcess):
            continue
        if "run.py" in " ".join(cmdline) and "worker" in cmdline:
            pids[env.get("ECOM__SERVER__NAME", "?")] = child.pid
    return pids


def all_replaced(shop: dict, before: dict[str, int]) -> bool:
    """As many workers as ``before`` and none of them still running (a reload's outcome)."""
    now = worker_pids(shop)
    return len(now) == len(before) and set(now.values()).isdisjoint(before.values())


async def rolling_reload(shop: dict, timeout: float = 150.0) -> bool:
    """`run.py reload` (the operator's rolling restart; it must exit 0), then wait for its outcome: every
    worker replaced (a new pid each), however slow the machine (N x (drain + start-up)). False when that
    has not happened within ``timeout`` seconds; load the test runs meanwhile keeps running."""
    before = worker_pids(shop)
    result = await asyncio.to_thread(subprocess.run, [sys.executable, str(ROOT / "run.py"), "reload", "--config",
                                                      str(shop["config"])], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return await asyncio.to_thread(wait_until, lambda: all_replaced(shop, before), timeout)


async def worker_ready(session: aiohttp.ClientSession, port: int, deadline: float) -> None:
    """The worker on ``port`` answers /readyz directly, before ``deadline`` (time.monotonic())."""
    while True:
        try:
            async with session.get(f"http://127.0.0.1:{port}/readyz") as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        assert time.monotonic() < deadline, f"the worker on port {port} was not ready in time"
        await asyncio.sleep(0.2)


async def register(session: aiohttp.ClientSession, url: str, *, seller: bool = False) -> str:
    """A new user's bearer token (asked of a worker directly: nginx rate-limits registration per client)."""
    email = f"u{uuid.uuid4().hex[:12]}@example.com"
    async with await patiently(session.post, url + "/api/v1/users", json={
            "email": email, "name": "Load", "password": PASSWORD, "is_seller": seller}) as resp:
        assert resp.status == 202, await resp.text()
    async with await patiently(session.post, url + "/api/v1/auth/token",
                               json={"email": email, "password": PASSWORD}) as resp:
        assert resp.status == 200, await resp.text()
        return (await resp.json())["token"]


async def product_in_stock(session: aiohttp.ClientSession, shop: dict, name: str, stock: int) -> int:
    """A new seller's product named ``name`` with ``stock`` units in eu-west; its id."""
    auth = {"Authorization": f"Bearer {await register(session, shop['worker_url'], seller=True)}"}
    async with session.post(shop["url"] + "/api/v1/products", headers=auth, json={
            "name": name, "description": "For a supervised shop's tests.", "price_cents": 1299, "currency": "EUR",
            "type": "Home", "sku": f"SUP-{uuid.uuid4().hex[:8]}"}) as resp:
        assert resp.status == 201, await resp.text()
        product = (await resp.json())["id"]
    async with session.put(f"{shop['url']}/api/v1/inventory/{product}/eu-west", headers=auth,
                           json={"quantity": stock}) as resp:
        assert resp.status == 200, await resp.text()
    return product


async def checkout(session: aiohttp.ClientSession, url: str, token: str, product: int) -> tuple[int, str | None]:
    """One unit of ``product`` bought with the approved test card: (status, order id when 201)."""
    async with session.post(url + "/api/v1/orders", headers={"Authorization": f"Bearer {token}"},
                            json={"items": [{"product_id": product, "quantity": 1}], "ship_to": SHIP_TO,
                                  "payment": CARD}) as resp:
        body = await resp.json(content_type=None) if resp.status == 201 else None
        return resp.status, body["id"] if body else None
