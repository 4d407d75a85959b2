"""A part of the shop away or frozen (issue 13, ecom/resilience.py): the rest answers, what needs the part
answers 503 quickly (problem+json or a page, with Retry-After), nothing waits for the fault's length, and
the shop is whole again by itself once the part is back. Real PostgreSQL, real broker, real HTTP.
"""
from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from contextlib import asynccontextmanager

import asyncpg
import psutil
import pytest

from ecom import db
from ecom.app import POOLS
from ecom.resilience import WEB, RequestLimits
from tests.faults import database_unreachable
from tests.helpers import start, wait_until
from tests.plugins.test_orders import EU, checkout, orders_config, product, user

OUTAGE = 20.0     # the fault length
ANSWERED = 5.0    # every request answers (503 or success) within this, on a busy machine too
RECOVERED = 10.0  # and the shop is whole this long after the part is back


async def timed(results: list, kind: str, call) -> None:
    """One request: (kind, status, seconds, content type, Retry-After) into ``results``."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    resp = await call()
    await resp.read()
    results.append((kind, resp.status, loop.time() - began, resp.content_type, resp.headers.get("Retry-After")))


async def load_for(seconds: float, calls: dict) -> list:
    """Each call in its own loop, one request at a time, for ``seconds``: a small steady load."""
    results: list = []
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds

    async def run(kind, call):
        while loop.time() < end:
            await timed(results, kind, call)
            await asyncio.sleep(0.05)
    # a loop ends after its request in flight: bounded by ANSWERED, so this never waits for the fault
    async with asyncio.timeout(seconds + 3 * ANSWERED):
        await asyncio.gather(*(run(kind, call) for kind, call in calls.items()))
    return results


async def shop(aiohttp_client, make_config):
    config = orders_config(make_config)
    client = await start(aiohttp_client, config)
    _, seller = await user(client, seller=True)
    _, buyer = await user(client)
    pid = await product(client, seller, stock={EU: 10_000})
    resp = await checkout(client, buyer, [(pid, 1)])
    assert resp.status == 201, await resp.text()
    return client, buyer, pid, config


async def whole_again(client, buyer: str, pid: int, timeout: float) -> None:
    """Catalog, product page (with its stock) and a checkout all succeed within ``timeout``."""
    async def probe():
        catalog = (await client.get("/products")).status
        page = await client.get(f"/products/{pid}")
        placed = (await checkout(client, buyer, [(pid, 1)])).status
        return catalog, page.status, "eu-west" in (await page.text()).lower(), placed
    await wait_until(probe, lambda r: r == (200, 200, True, 201), "the shop to be whole again", timeout)


@pytest.mark.timeout(120)
async def test_inventory_database_away_checkout_503_catalog_serves(aiohttp_client, make_config, pg):
    """Inventory's database refuses connections for 20 s under a small load: the catalog and product pages
    answer 200 (from products; the product page without its stock), every checkout answers 503 with a
    problem+json and Retry-After, and no order is written without its stock. The breaker opens, so most
    checkouts are refused without trying the database (no waiting at all; the 1 s of the issue). Within
    10 s of the database's return a checkout succeeds again (the breaker half-opens and closes)."""
    client, buyer, pid, config = await shop(aiohttp_client, make_config)
    pools = client.app[POOLS]
    breaker = pools["inventory"].breaker
    orders_before = await pools["orders"].fetchval("SELECT count(*) FROM orders")
    database = f"{config.database.name_prefix}_inventory"
    async with database_unreachable(pg.url(), database):
        results = await load_for(OUTAGE, {
            "catalog": lambda: client.get("/products"),
            "product": lambda: client.get(f"/products/{pid}"),
            "checkout": lambda: checkout(client, buyer, [(pid, 1)]),
        })
        state_during = breaker.state  # opened, or half-opened while a background task tries
    by_kind = Counter((kind, status) for kind, status, *_ in results)
    slowest = {kind: max(s for k, _, s, *_ in results if k == kind) for kind in ("catalog", "product", "checkout")}
    print(f"during the outage: {dict(by_kind)}; slowest answers (s): {slowest}; "
          f"breaker: {breaker.failures} outages seen, {breaker.refused} calls refused without trying")
    assert all(seconds < ANSWERED for _, _, seconds, *_ in results), slowest
    assert {status for kind, status, *_ in results if kind in ("catalog", "product")} == {200}, by_kind
    checkouts = [r for r in results if r[0] == "checkout"]
    assert len(checkouts) >= 10 and all(status == 503 for _, status, *_ in checkouts), by_kind
    assert all(ctype == "application/problem+json" and retry and int(retry) >= 1
               for _, _, _, ctype, retry in checkouts), checkouts[:3]
    assert state_during != "closed"
    # fail fast: after the first outages a request does not even try the database, but for one round of
    # trials per breaker_reset_seconds (5 s); background work (the sweeper) is never refused: only requests
    assert breaker.refused >= len(checkouts) // 2, (breaker.refused, len(checkouts))
    assert await pools["orders"].fetchval("SELECT count(*) FROM orders") == orders_before  # none without stock

    await whole_again(client, buyer, pid, RECOVERED)
    assert breaker.state == "closed"


async def server_processes(superuser_url: str) -> list[psutil.Process]:
    """The PostgreSQL server's postmaster (first) and every process it runs."""
    conn = await asyncpg.connect(superuser_url)
    try:
        postmaster = psutil.Process(conn.get_server_pid()).parent()  # while our backend lives
    finally:
        await conn.close()
    return [postmaster, *postmaster.children(recursive=True)]


@asynccontextmanager
async def server_frozen(superuser_url: str):
    """Every process of the PostgreSQL server SIGSTOPped (a paused VM, a stalled disk): connections are
    accepted by the kernel and never answered. Always thawed at the end, whatever happens."""
    procs = await server_processes(superuser_url)
    for proc in procs:  # the postmaster first: it starts no new process while we stop the others
        os.kill(proc.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for proc in reversed(procs):
            try:
                os.kill(proc.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass


@pytest.mark.timeout(120)
async def test_postgres_frozen_every_request_answers_within_5s(aiohttp_client, make_config, pg):
    """The whole PostgreSQL server frozen for 20 s while shoppers browse, read the API and check out:
    every request answers (503 or success) within 5 s: a pooled connection is waited for at most
    acquire_timeout, a statement at most request_statement_timeout, and the breakers refuse the rest at
    once instead of letting requests queue. /healthz answers 200 all along. Afterwards the shop is whole
    again by itself. The load starts once the server is frozen: a COMMIT already in flight keeps the
    long timeout on purpose (see ecom/resilience.py)."""
    client, buyer, pid, _ = await shop(aiohttp_client, make_config)
    pools = client.app[POOLS]
    async with server_frozen(pg.url()):
        results = await load_for(OUTAGE, {
            "catalog": lambda: client.get("/products?q=mug"),
            "product": lambda: client.get(f"/products/{pid}"),
            "api": lambda: client.get(f"/api/v1/inventory/{pid}"),
            "checkout": lambda: checkout(client, buyer, [(pid, 1)]),
            "healthz": lambda: client.get("/healthz"),
        })
    statuses = Counter((kind, status) for kind, status, *_ in results)
    slowest = max(seconds for _, _, seconds, *_ in results)
    refused = {name: pool.breaker.refused for name, pool in pools.items()}
    print(f"while frozen: {dict(statuses)}; slowest answer {slowest:.2f} s; refused by breakers: {refused}")
    assert slowest < ANSWERED, sorted(results, key=lambda r: -r[2])[:5]
    assert {status for _, status, *_ in results} <= {200, 201, 503}, statuses
    assert {status for kind, status, *_ in results if kind == "healthz"} == {200}
    assert statuses[("checkout", 503)] >= 5 and statuses[("api", 503)] >= 5, statuses
    assert sum(refused.values()) >= 5, refused  # requests were turned away, not queued behind the freeze

    await whole_again(client, buyer, pid, 3 * RECOVERED)


async def test_web_limits_apply_to_requests_only(make_config, pg):
    """Inside a web request a statement is abandoned after request_statement_timeout (its connection
    dropped and counted by the breaker), and enough of them open the breaker; background work keeps
    command_timeout."""
    from ecom.resilience import Breaker
    breaker = Breaker("probe", threshold=2, reset_after=60)
    pool = await db.create_pool(pg.url(), max_size=2, command_timeout=30, connect_timeout=5, breaker=breaker)
    try:
        assert await pool.fetchval("SELECT 1 FROM pg_sleep(0.6)") == 1  # background: no web limit
        token = WEB.set(RequestLimits(acquire_timeout=1.0, statement_timeout=0.3))
        try:
            with pytest.raises(TimeoutError):
                await pool.fetchval("SELECT pg_sleep(5)")
            assert breaker.failures == 1 and breaker.state == "closed"
            async with pool.acquire() as conn:
                assert conn._config.command_timeout == 0.3
                async with conn.transaction():
                    await conn.execute("SELECT 1")
            assert await pool.fetchval("SELECT 2") == 2 and breaker.state == "closed"  # a success resets the count
            for _ in range(2):  # two outages in a row: threshold reached
                with pytest.raises(TimeoutError):
                    await pool.fetchval("SELECT pg_sleep(5)")
            assert breaker.state == "opened" and breaker.failures == 3
            with pytest.raises(ConnectionError):  # DependencyUnavailable: refused without trying
                await pool.fetchval("SELECT 3")
            assert breaker.refused == 1
        finally:
            WEB.reset(token)
    finally:
        await pool.close()


def circuit_metrics(text: str, circuit: str) -> tuple[float | None, float]:
    """(ecom_circuit_state, ecom_circuit_refused_total) of ``circuit`` in a /metrics page."""
    state, refused = None, 0.0
    for line in text.splitlines():
        if line.startswith(f'ecom_circuit_state{{circuit="{circuit}"}} '):
            state = float(line.split()[-1])
        elif line.startswith(f'ecom_circuit_refused_total{{circuit="{circuit}"}} '):
            refused = float(line.split()[-1])
    return state, refused


@pytest.mark.timeout(120)
async def test_an_open_circuit_is_visible_in_metrics_and_health(aiohttp_client, make_config, pg):
    """Inventory's database away: once checkouts have opened its circuit, /metrics shows the circuit's state
    (2 = open) and the calls it refused, and /healthz says "degraded" with the open circuit while still
    answering 200 (this worker serves the rest: neither a load balancer nor the supervisor should take it
    away); /readyz lists the circuits. After the database is back, the gauge returns to 0 (closed) and
    /healthz to "ok"."""
    client, buyer, pid, config = await shop(aiohttp_client, make_config)

    async def seen():
        text = await (await client.get("/metrics")).text()
        health = await client.get("/healthz")
        return (*circuit_metrics(text, "inventory"), health.status, await health.json())

    before = await seen()
    assert before[0] == 0 and before[2:] == (200, {"status": "ok"}), before
    async with database_unreachable(pg.url(), f"{config.database.name_prefix}_inventory"):
        async def opened():
            await checkout(client, buyer, [(pid, 1)])  # a use of the database: an outage, then refusals
            return await seen()
        state, refused, status, body = await wait_until(opened, lambda r: r[0] == 2 and r[1] > before[1],
                                                        "the inventory circuit open in /metrics", 20)
        assert status == 200 and body == {"status": "degraded", "open_circuits": ["inventory"]}, body
        ready = await (await client.get("/readyz")).json()
        assert ready["circuits"]["inventory"] != "closed" and ready["circuits"]["products"] == "closed", ready
    await whole_again(client, buyer, pid, RECOVERED)
    after = await seen()
    assert after[0] == 0 and after[2:] == (200, {"status": "ok"}), after
