"""The supervisor heals what it runs (issue 13): `run.py --instances 2` as an operator runs it, faults
injected from outside (SIGKILL, SIGSTOP), outcomes checked through nginx's public port with generous
deadlines (a busy machine restarts things slowly; nothing here measures speed)."""
from __future__ import annotations

import asyncio
import collections
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import aiohttp
import psutil
import pytest

from tests.test_cli import ROOT, wait_until, write_config
from tests.test_supervisor import PLUGINS, SHIP_TO, register, worker_pids

INSTANCES = 2
CARD = {"method": "card", "card_number": "4242 4242 4242 4242", "exp_month": 12,
        "exp_year": time.gmtime().tm_year + 3, "cvc": "123"}


def _config(tmp: Path) -> Path:
    config = write_config(tmp, enabled=PLUGINS,
                          extra='[nginx]\ngeneral_rate = "5000r/s"\ngeneral_burst = 5000\nauth_rate = "5000r/s"\n'
                                'auth_burst = 5000\n[plugins.payments]\ndelay_seconds = 0.0\n')
    config.write_text(config.read_text().replace(
        "[security]\n", "[security]\nrate_limit_per_minute = 0\nauth_rate_limit_per_minute = 0\n"))
    return config


def _start(tmp: Path, *args: str, env: dict | None = None) -> tuple[subprocess.Popen, Path]:
    config = _config(tmp)
    log = open(tmp / "shop.log", "w")
    proc = subprocess.Popen([sys.executable, str(ROOT / "run.py"), *args, "--config", str(config)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=log, text=True, env={**os.environ, **(env or {})})
    line = proc.stdout.readline()
    assert "ready at" in line, (line, (tmp / "shop.log").read_text()[-3000:])
    return proc, config


@pytest.fixture(scope="module")
def healing(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("healing")
    proc, config = _start(tmp, "--instances", str(INSTANCES))
    port = int(next(l.split("=")[1] for l in config.read_text().splitlines() if l.startswith("port")))
    yield {"proc": proc, "url": f"http://127.0.0.1:{port}", "worker_url": f"http://127.0.0.1:{port + 1}",
           "config": config, "data": tmp / "data", "log": tmp / "shop.log"}
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


async def _catalog(session: aiohttp.ClientSession, shop: dict, stock: int) -> tuple[int, str]:
    """A product with ``stock`` units and a customer's token."""
    seller = await register(session, shop["worker_url"], seller=True)
    auth = {"Authorization": f"Bearer {seller}"}
    async with session.post(shop["url"] + "/api/v1/products", headers=auth, json={
            "name": "Healing mug", "description": "Survives faults.", "price_cents": 1299, "currency": "EUR",
            "type": "Home", "sku": f"MUG-{uuid.uuid4().hex[:8]}"}) as resp:
        assert resp.status == 201, await resp.text()
        product = (await resp.json())["id"]
    async with session.put(f"{shop['url']}/api/v1/inventory/{product}/eu-west", headers=auth,
                           json={"quantity": stock}) as resp:
        assert resp.status == 200, await resp.text()
    return product, await register(session, shop["worker_url"])


async def _checkout(session: aiohttp.ClientSession, url: str, token: str, product: int) -> tuple[int, str | None]:
    async with session.post(url + "/api/v1/orders", headers={"Authorization": f"Bearer {token}"},
                            json={"items": [{"product_id": product, "quantity": 1}], "ship_to": SHIP_TO,
                                  "payment": CARD}) as resp:
        body = await resp.json(content_type=None) if resp.status == 201 else None
        return resp.status, body["id"] if body else None


async def _all_paid(session: aiohttp.ClientSession, url: str, token: str, ids: list[str], timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    statuses: dict[str, str] = {}
    while time.monotonic() < deadline:
        for order_id in ids:
            try:
                async with session.get(f"{url}/api/v1/orders/{order_id}",
                                       headers={"Authorization": f"Bearer {token}"}) as resp:
                    if resp.status == 200:
                        statuses[order_id] = (await resp.json())["status"]
            except aiohttp.ClientError:
                pass
        if len(statuses) == len(ids) and all(s == "paid" for s in statuses.values()):
            break
        await asyncio.sleep(0.5)
    return statuses


@pytest.mark.timeout(300)
async def test_rolling_reload_answers_every_request_posts_included(healing):
    """1,000+ mixed requests (catalog, product page, API reads, add-to-cart and checkout POSTs) at 8 in
    flight during `run.py reload`: every one 2xx. Stopping workers drain (ecom/drain.py) instead of
    closing nginx's kept-alive connections under a POST."""
    url = healing["url"]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        product, token = await _catalog(session, healing, stock=100_000)
        auth = {"Authorization": f"Bearer {token}"}
        before = worker_pids(healing)
        statuses: collections.Counter = collections.Counter()
        orders: list[str] = []
        reloaded = asyncio.Event()

        async def one(i: int) -> None:
            kind = i % 5
            try:
                if kind == 0:
                    status, order = await _checkout(session, url, token, product)
                    orders.extend([order] if order else [])
                elif kind == 1 and i % 2:  # add to the cart and empty it in turn (a line holds at most 99)
                    async with session.post(url + "/api/v1/cart/items", headers=auth,
                                            json={"product_id": product, "quantity": 1}) as resp:
                        status = resp.status
                elif kind == 1:
                    async with session.delete(f"{url}/api/v1/cart/items/{product}", headers=auth) as resp:
                        status = resp.status
                else:
                    path = ("/products", f"/products/{product}", "/api/v1/products?limit=5")[kind - 2]
                    async with session.get(url + path) as resp:
                        await resp.read()
                        status = resp.status
            except aiohttp.ClientError as err:
                status = f"error: {type(err).__name__}"
            statuses[status] += 1

        async def client(n: int) -> None:
            i = n
            while sum(statuses.values()) < 1000 or not reloaded.is_set():
                await one(i)
                i += 8
                if sum(statuses.values()) > 20_000:
                    break

        load = asyncio.gather(*(client(n) for n in range(8)))
        await asyncio.sleep(1)
        reload = await asyncio.to_thread(subprocess.run, [sys.executable, str(ROOT / "run.py"), "reload", "--config",
                                                          str(healing["config"])], capture_output=True, text=True)
        assert reload.returncode == 0, reload.stderr

        def replaced() -> bool:
            now = worker_pids(healing)
            return len(now) == INSTANCES and set(now.values()).isdisjoint(before.values())
        done = await asyncio.to_thread(wait_until, replaced, 150)
        await asyncio.sleep(1)  # the last new worker serves under load a moment too
        reloaded.set()
        await load
    print(f"{sum(statuses.values())} requests during the reload: {dict(statuses)}")
    assert done, healing["log"].read_text()[-3000:]
    bad = {s: n for s, n in statuses.items() if not (isinstance(s, int) and 200 <= s < 300)}
    assert sum(statuses.values()) >= 1000 and not bad, statuses
    assert len(orders) >= 150


async def test_sigstopped_worker_is_replaced(healing):
    """A worker whose event loop is stuck (SIGSTOP: it still exists, its port still accepts) is found by
    the supervisor's /healthz probe and replaced (SIGKILL, spawn) within 15 s."""
    victim = worker_pids(healing)["worker-1"]
    os.kill(victim, signal.SIGSTOP)
    stopped = time.monotonic()
    try:
        replaced = await asyncio.to_thread(
            wait_until, lambda: worker_pids(healing).get("worker-1") not in (None, victim), 15)
    finally:
        if psutil.pid_exists(victim):
            os.kill(victim, signal.SIGCONT)
    print(f"stuck worker replaced after {time.monotonic() - stopped:.1f} s")
    assert replaced, healing["log"].read_text()[-3000:]
    assert not psutil.pid_exists(victim) or psutil.Process(victim).status() == psutil.STATUS_ZOMBIE
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        port = int(healing["worker_url"].rsplit(":", 1)[1])
        deadline = time.monotonic() + 60
        while True:  # the new worker-1 comes into service
            try:
                async with session.get(f"http://127.0.0.1:{port}/readyz") as resp:
                    if resp.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            assert time.monotonic() < deadline, "the new worker-1 did not become ready in 60 s"
            await asyncio.sleep(0.2)


def _nginx_master(shop_pid: int) -> psutil.Process:
    found = [p for p in psutil.Process(shop_pid).children() if "nginx" in p.name()]
    assert len(found) == 1, found
    return found[0]


async def test_killed_nginx_is_restarted(healing):
    first = _nginx_master(healing["proc"].pid)
    first.kill()

    def serving_again() -> bool:
        try:
            again = _nginx_master(healing["proc"].pid)
        except AssertionError:
            return False
        if again.pid == first.pid:
            return False
        return subprocess.run(["curl", "-sf", "-o", "/dev/null", healing["url"] + "/healthz"]).returncode == 0
    assert await asyncio.to_thread(wait_until, serving_again, 30), healing["log"].read_text()[-3000:]


def _postmaster(data: Path) -> int:
    return int((data / "postgres" / "postmaster.pid").read_text().splitlines()[0])


@pytest.mark.timeout(240)
async def test_killed_postgres_is_restarted_and_no_order_is_lost(healing):
    """kill -9 of the embedded PostgreSQL between two rounds of checkouts: the supervisor restarts it,
    the workers' pools reconnect, checkouts answer 201 again, and every order of both rounds is paid."""
    url = healing["url"]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
        product, token = await _catalog(session, healing, stock=1000)
        first = await asyncio.gather(*(_checkout(session, url, token, product) for _ in range(10)))
        assert [s for s, _ in first] == [201] * 10, first
        victim = _postmaster(healing["data"])
        os.kill(victim, signal.SIGKILL)
        killed = time.monotonic()
        while True:  # the shop serves again: a checkout succeeds
            try:
                status, order = await _checkout(session, url, token, product)
            except (aiohttp.ClientError, asyncio.TimeoutError):
                status, order = None, None
            if status == 201:
                break
            assert time.monotonic() - killed < 45, (status, healing["log"].read_text()[-3000:])
            await asyncio.sleep(0.5)
        print(f"checkouts succeed again {time.monotonic() - killed:.1f} s after kill -9 of PostgreSQL")
        assert _postmaster(healing["data"]) != victim
        second = await asyncio.gather(*(_checkout(session, url, token, product) for _ in range(10)))
        assert [s for s, _ in second] == [201] * 10, second
        ids = [o for _, o in first + second] + [order]
        statuses = await _all_paid(session, url, token, ids, 60)
        assert statuses == {i: "paid" for i in ids}, statuses


def test_something_that_keeps_dying_ends_the_supervisor_with_one_line(tmp_path):
    """nginx killed twice with a budget of one restart: the supervisor gives up, exit status 1, and its
    last line says what and why (systemd's Restart= takes over from there)."""
    proc, _ = _start(tmp_path, "--instances", "1", env={"ECOM_RESTART_LIMIT": "1"})
    try:
        first = _nginx_master(proc.pid)
        first.kill()
        assert wait_until(lambda: any("nginx" in p.name() and p.pid != first.pid
                                      for p in psutil.Process(proc.pid).children()), 30)
        _nginx_master(proc.pid).kill()
        assert proc.wait(60) == 1
        last = (tmp_path / "shop.log").read_text().strip().splitlines()[-1]
        assert last.startswith("ecom: nginx died 2 times") and "giving up" in last, last
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_one_process_shop_exits_non_zero_when_its_postgres_dies(tmp_path):
    """A single-process `run.py` does not restart PostgreSQL itself: it exits 1 with one line, so
    systemd (Restart=on-failure) restarts the whole shop cleanly."""
    proc, _ = _start(tmp_path)
    try:
        os.kill(_postmaster(tmp_path / "data"), signal.SIGKILL)
        assert proc.wait(60) == 1
        last = (tmp_path / "shop.log").read_text().strip().splitlines()[-1]
        assert last.startswith("ecom: PostgreSQL") and "exited" in last, last
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
