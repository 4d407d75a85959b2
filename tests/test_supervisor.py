"""`run.py --instances 3`: the real supervisor, workers and nginx, driven through the public port."""
from __future__ import annotations

import asyncio
import collections
import os
import signal
import subprocess
import sys
import time
import uuid

import aiohttp
import psutil
import pytest

from tests.test_cli import ROOT, wait_until, write_config

INSTANCES = 3
PLUGINS = ("users", "products", "inventory", "payments", "addresses", "shipping", "taxes", "vouchers", "orders")
SHIP_TO = {"name": "Ana García", "line1": "Calle Mayor 1", "city": "Madrid", "postal_code": "28013", "country": "ES",
           "phone": "+34 911 234 567"}
PASSWORD = "a-good-password"


def started_processes(root_pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(root_pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("supervised")
    # one test client sends the whole load: lift the general limits, keep the strict log-in one
    config = write_config(tmp, enabled=PLUGINS,
                          extra='[nginx]\nauth_rate = "10r/m"\nauth_burst = 5\ngeneral_rate = "5000r/s"\n'
                                'general_burst = 5000\n[plugins.payments]\ndelay_seconds = 0.0\n')
    config.write_text(config.read_text().replace(
        "[security]\n", "[security]\nrate_limit_per_minute = 0\nauth_rate_limit_per_minute = 0\n"))
    port = int(next(l.split("=")[1] for l in config.read_text().splitlines() if l.startswith("port")))
    log = open(tmp / "supervisor.log", "w")
    proc = subprocess.Popen([sys.executable, str(ROOT / "run.py"), "--instances", str(INSTANCES), "--config",
                             str(config)], cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True)
    line = proc.stdout.readline()
    assert "ready at" in line, (line, (tmp / "supervisor.log").read_text()[-3000:])
    yield {"proc": proc, "url": f"http://127.0.0.1:{port}", "worker_url": f"http://127.0.0.1:{port + 1}",
           "config": config, "data": tmp / "data"}
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def worker_pids(shop) -> dict[str, int]:
    pids = {}
    for child in started_processes(shop["proc"].pid):
        try:  # a child may exit while we look (a worker being replaced)
            env, cmdline = child.environ(), child.cmdline()
        except (psutil.AccessDenied, psutil.NoSuchProcess):
            continue
        if "run.py" in " ".join(cmdline) and "worker" in cmdline:
            pids[env.get("ECOM__SERVER__NAME", "?")] = child.pid
    return pids


async def steady_load(url: str, seconds: float, concurrency: int = 8, *, until: asyncio.Event | None = None,
                      limit: float = 90.0) -> collections.Counter:
    """GETs for ``seconds`` and, with ``until``, on until that is set (``limit`` seconds at most: a busy
    machine restarts workers slowly); counts answers by status ("error" for a failed connection)."""
    results: collections.Counter = collections.Counter()
    started = time.monotonic()

    def going() -> bool:
        elapsed = time.monotonic() - started
        return elapsed < seconds or (until is not None and not until.is_set() and elapsed < limit)

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        async def loop():
            while going():
                try:
                    async with session.get(url) as resp:
                        await resp.read()
                        results[resp.status] += 1
                except aiohttp.ClientError:
                    results["error"] += 1
        await asyncio.gather(*(loop() for _ in range(concurrency)))
    return results


async def test_requests_reach_every_worker(shop):
    """The outcome, not a share: each worker serves requests through nginx. (A worker still warming up
    on a busy machine answers slowly and got fewer than a fixed share of 300; so send until each has
    served 10, within a generous deadline.)"""
    served = collections.Counter()
    workers = {f"worker-{i}" for i in range(1, INSTANCES + 1)}
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline and not (set(served) == workers and min(served.values()) >= 10):
            async with session.get(shop["url"] + "/healthz") as resp:
                assert resp.status == 200
                served[resp.headers["X-Served-By"]] += 1
    assert set(served) == workers and min(served.values()) >= 10, served


def readyz_count(metrics_text: str) -> float:
    """/readyz, not /healthz: the supervisor probes each worker's /healthz every second (liveness)."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in metrics_text.splitlines()
               if line.startswith('ecom_http_requests_total{') and 'route="/readyz"' in line)


async def test_metrics_add_up_every_worker(shop):
    async with aiohttp.ClientSession() as session:
        async with session.get(shop["worker_url"] + "/metrics") as resp:  # a worker, not nginx
            before = readyz_count(await resp.text())
        served = collections.Counter()
        for _ in range(60):
            async with session.get(shop["url"] + "/readyz") as resp:
                served[resp.headers["X-Served-By"]] += 1
        async with session.get(shop["worker_url"] + "/metrics") as resp:
            after = readyz_count(await resp.text())
    assert len(served) == INSTANCES and after - before == 60  # worker-1 reports what all three served


async def test_nginx_serves_static_files_and_hides_metrics(shop):
    async with aiohttp.ClientSession() as session:
        async with session.get(shop["url"] + "/static/vendor/bootstrap/css/bootstrap.min.css") as resp:
            assert resp.status == 200 and "X-Served-By" not in resp.headers  # nginx answered itself
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
        async with session.get(shop["url"] + "/metrics") as resp:
            assert resp.status == 404


async def test_killed_worker_is_restarted_without_failed_requests(shop):
    before = worker_pids(shop)
    victim = before["worker-2"]
    load = asyncio.ensure_future(steady_load(shop["url"] + "/healthz", seconds=6))
    await asyncio.sleep(1)
    os.kill(victim, signal.SIGKILL)
    results = await load
    assert results[200] > 20 and set(results) == {200}, results
    assert await asyncio.to_thread(wait_until, lambda: worker_pids(shop).get("worker-2") not in (None, victim), 60)
    served = collections.Counter()
    deadline = time.monotonic() + 60  # back in the pool once it is ready (a busy machine starts it slowly)
    async with aiohttp.ClientSession() as session:
        while not served["worker-2"] and time.monotonic() < deadline:
            async with session.get(shop["url"] + "/healthz") as resp:
                served[resp.headers.get("X-Served-By")] += 1
    assert served["worker-2"] > 0, served


@pytest.mark.timeout(300)
async def test_rolling_restart_under_load_fails_no_request(shop):
    before = worker_pids(shop)
    replaced = asyncio.Event()
    load = asyncio.ensure_future(steady_load(shop["url"] + "/", seconds=3, until=replaced, limit=180))
    await asyncio.sleep(0.5)
    reload = await asyncio.to_thread(subprocess.run, [sys.executable, str(ROOT / "run.py"), "reload", "--config",
                                                      str(shop["config"])], capture_output=True, text=True)
    assert reload.returncode == 0, reload.stderr

    def all_replaced() -> bool:
        now = worker_pids(shop)
        return len(now) == len(before) and set(now.values()).isdisjoint(before.values())
    # wait for the outcome (each worker has a new pid), however slow the machine: 3 x (drain + start-up)
    done = await asyncio.to_thread(wait_until, all_replaced, 150)
    await asyncio.sleep(1)  # the last new worker serves a moment under load too
    replaced.set()
    results = await load
    after = worker_pids(shop)
    log = (shop["data"].parent / "supervisor.log").read_text()[-3000:]
    assert done and set(after.values()).isdisjoint(before.values()), (before, after, log)  # every worker replaced
    assert results[200] > 50 and set(results) == {200}, results


async def test_nginx_rate_limits_rapid_bad_logins(shop):
    statuses = collections.Counter()
    reached_app = 0
    async with aiohttp.ClientSession() as session:
        for _ in range(100):
            async with session.post(shop["url"] + "/api/v1/auth/token",
                                    json={"email": "nobody@example.com", "password": "wrong-password"}) as resp:
                statuses[resp.status] += 1
                reached_app += "X-Served-By" in resp.headers
    assert statuses[429] >= 90, statuses
    assert reached_app <= 5 + 2, (reached_app, statuses)  # the burst (+ what the rate refills meanwhile)


async def register(session: aiohttp.ClientSession, url: str, *, seller: bool = False) -> str:
    """A new user's bearer token (asked of a worker directly: nginx rate-limits registration per client)."""
    email = f"u{uuid.uuid4().hex[:12]}@example.com"
    async with session.post(url + "/api/v1/users", json={"email": email, "name": "Load", "password": PASSWORD,
                                                         "is_seller": seller}) as resp:
        assert resp.status == 202, await resp.text()
    async with session.post(url + "/api/v1/auth/token", json={"email": email, "password": PASSWORD}) as resp:
        return (await resp.json())["token"]


async def every_worker_ready(session: aiohttp.ClientSession, shop, timeout: float = 60.0) -> None:
    """Each worker answers /readyz directly (an earlier test may have just restarted one)."""
    port = int(shop["worker_url"].rsplit(":", 1)[1])
    deadline = time.monotonic() + timeout
    for worker_port in range(port, port + INSTANCES):
        while True:
            try:
                async with session.get(f"http://127.0.0.1:{worker_port}/readyz") as resp:
                    if resp.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            assert time.monotonic() < deadline, f"worker on port {worker_port} not ready in {timeout} s"
            await asyncio.sleep(0.2)


async def test_forty_checkouts_for_five_units_across_workers_through_nginx(shop):
    async with aiohttp.ClientSession() as session:
        await every_worker_ready(session, shop)
        seller = await register(session, shop["worker_url"], seller=True)
        customers = await asyncio.gather(*(register(session, shop["worker_url"]) for _ in range(40)))
        auth = {"Authorization": f"Bearer {seller}"}
        async with session.post(shop["url"] + "/api/v1/products", headers=auth, json={
                "name": "Last lamp", "description": "Only five left.", "price_cents": 4999, "currency": "EUR",
                "type": "Home", "sku": f"LAMP-{uuid.uuid4().hex[:8]}"}) as resp:
            assert resp.status == 201, await resp.text()
            lamp = (await resp.json())["id"]
        async with session.put(f"{shop['url']}/api/v1/inventory/{lamp}/eu-west", headers=auth,
                               json={"quantity": 5}) as resp:
            assert resp.status == 200

        async def checkout(token: str) -> tuple[int, str]:
            card = {"method": "card", "card_number": "4242 4242 4242 4242", "exp_month": 12, "exp_year": time.gmtime().tm_year + 3,
                    "cvc": "123"}
            async with session.post(shop["url"] + "/api/v1/orders", headers={"Authorization": f"Bearer {token}"},
                                    json={"items": [{"product_id": lamp, "quantity": 1}], "ship_to": SHIP_TO,
                                          "payment": card}) as resp:
                return resp.status, resp.headers.get("X-Served-By", "")
        results = await asyncio.gather(*(checkout(t) for t in customers))
        statuses = collections.Counter(status for status, _ in results)
        assert statuses == {201: 5, 409: 35}, statuses  # (that every worker serves: test_requests_reach_every_worker)
        async with session.get(f"{shop['url']}/api/v1/inventory/{lamp}", headers={"Cookie": "no-cache=1"}) as resp:
            regions = {r["region"]: r for r in await resp.json()}
        assert regions["eu-west"]["available"] == 0


def test_sigkilled_supervisor_leaves_nothing_running(shop):
    proc = shop["proc"]
    children = started_processes(proc.pid)
    assert len(children) >= INSTANCES + 2  # workers, nginx master (+ its workers), postgres
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)

    def all_gone() -> bool:
        return not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children)
    assert wait_until(all_gone, 5), [c.cmdline() for c in children if c.is_running()]
