"""`run.py --instances 3`: the real supervisor, workers and nginx, driven through the public port."""
from __future__ import annotations

import asyncio
import collections
import os
import signal
import socket
import subprocess
import sys
import time

import aiohttp
import psutil
import pytest

from tests.supervised import (ROOT, checkout, product_in_stock, register, rolling_reload, running,
                              started_processes, worker_pids, worker_ready)
from tests.test_cli import wait_until

INSTANCES = 3


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    # one test client sends the whole load: lift the general limits, keep the strict log-in one
    with running(tmp_path_factory.mktemp("supervised"), "--instances", str(INSTANCES),
                 nginx='auth_rate = "10r/m"\nauth_burst = 5\ngeneral_rate = "5000r/s"\ngeneral_burst = 5000') as shop:
        yield shop


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
    done = await rolling_reload(shop)
    await asyncio.sleep(1)  # the last new worker serves a moment under load too
    replaced.set()
    results = await load
    after = worker_pids(shop)
    log = shop["log"].read_text()[-3000:]
    assert done and set(after.values()).isdisjoint(before.values()), (before, after, log)  # every worker replaced
    assert results[200] > 50 and set(results) == {200}, results


@pytest.mark.timeout(300)
async def test_a_reload_whose_new_worker_fails_to_start_still_replaces_every_worker(shop):
    """Another program takes worker-1's port in the moment between the old worker's exit and its
    replacement's start (two shops' tests on one machine did this): the replacement exits 2, the supervisor
    starts it again with back-off once the port is free, and the rolling restart carries on to the other
    workers instead of stopping half-way with them on the old code."""
    before = worker_pids(shop)
    port = int(shop["worker_url"].rsplit(":", 1)[1])
    log_start = len(shop["log"].read_text())
    reload = asyncio.ensure_future(rolling_reload(shop))

    def take_port_until_a_start_fails() -> bool:
        holder = socket.socket()
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:  # the old worker still listens while it drains
                try:
                    holder.bind(("127.0.0.1", port))
                    holder.listen()
                    break
                except OSError:
                    time.sleep(0.005)
            else:
                return False
            return wait_until(lambda: "worker-1 exited with status 2" in shop["log"].read_text()[log_start:], 60)
        finally:
            holder.close()
    assert await asyncio.to_thread(take_port_until_a_start_fails), shop["log"].read_text()[log_start:][-3000:]
    assert await reload, (before, worker_pids(shop), shop["log"].read_text()[log_start:][-3000:])
    assert set(worker_pids(shop).values()).isdisjoint(before.values())
    async with aiohttp.ClientSession() as session:
        await worker_ready(session, port, time.monotonic() + 60)


@pytest.mark.timeout(300)
async def test_a_reload_asked_for_during_one_gets_a_round_of_its_own(shop):
    """Two deploys in quick succession: the second `run.py reload` comes while the first round is under way
    (worker-1 already restarted, on the first deploy's code). It used to be dropped ("already under way");
    now another whole round follows, so every worker is restarted twice: three pids seen for each."""
    seen = {name: {pid} for name, pid in worker_pids(shop).items()}
    assert len(seen) == INSTANCES, seen

    def reload() -> None:
        result = subprocess.run([sys.executable, str(ROOT / "run.py"), "reload", "--config", str(shop["config"])],
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stderr

    def look() -> dict[str, set[int]]:
        for name, pid in worker_pids(shop).items():
            seen.setdefault(name, set()).add(pid)
        return seen
    await asyncio.to_thread(reload)
    first_of_worker_1 = next(iter(seen["worker-1"]))
    assert await asyncio.to_thread(wait_until, lambda: len(look()["worker-1"]) >= 2, 120), seen
    assert next(iter(seen["worker-3"])) in worker_pids(shop).values(), "the first round ended too soon to test"
    await asyncio.to_thread(reload)  # the second deploy, mid-round
    assert await asyncio.to_thread(wait_until, lambda: all(len(p) >= 3 for p in look().values()), 240), \
        (seen, shop["log"].read_text()[-3000:])
    assert first_of_worker_1 not in worker_pids(shop).values()
    async with aiohttp.ClientSession() as session:
        await every_worker_ready(session, shop)


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


async def every_worker_ready(session: aiohttp.ClientSession, shop, timeout: float = 60.0) -> None:
    """Each worker answers /readyz directly (an earlier test may have just restarted one)."""
    port, deadline = int(shop["worker_url"].rsplit(":", 1)[1]), time.monotonic() + timeout
    for worker_port in range(port, port + INSTANCES):
        await worker_ready(session, worker_port, deadline)


async def test_forty_checkouts_for_five_units_across_workers_through_nginx(shop):
    async with aiohttp.ClientSession() as session:
        await every_worker_ready(session, shop)
        customers = await asyncio.gather(*(register(session, shop["worker_url"]) for _ in range(40)))
        lamp = await product_in_stock(session, shop, "Last lamp", stock=5)
        results = await asyncio.gather(*(checkout(session, shop["url"], t, lamp) for t in customers))
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
    assert wait_until(all_gone, 30), [c.cmdline() for c in children if c.is_running()]
