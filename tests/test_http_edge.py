"""The HTTP edge without nginx: whose X-Forwarded-For is believed, who may read /metrics, and (with the real
`run.py` in a subprocess) half-open connections that must not take a single-process shop down."""
from __future__ import annotations

import asyncio
import resource
import socket
import time
from pathlib import Path

import pytest

from ecom.app import create_app
from ecom.config import load_config
from ecom.fdlimit import raise_fd_limit
from tests.conftest import free_port

GW = {"enabled": ["gwtest"], "paths": ["tests/loaderplugins"]}


async def test_forwarded_for_from_an_untrusted_peer_is_ignored_by_the_rate_limit(aiohttp_client, make_config):
    """No proxy configured (the default): a loopback client that invents a new X-Forwarded-For per request
    is still one client."""
    config = make_config(plugins=GW, security={"rate_limit_per_minute": 10})
    assert config.server.trusted_proxies == ()
    gw = await aiohttp_client(create_app(config))
    statuses = [(await gw.get("/healthz", headers={"X-Forwarded-For": f"198.51.100.{i}"})).status
                for i in range(30)]
    assert statuses.count(429) >= 15 and statuses[0] == 200, statuses
    resp = await gw.get("/healthz", headers={"X-Request-Id": "abcdef123456"})
    assert resp.headers["X-Request-Id"] != "abcdef123456"  # nor is its request id


async def test_a_configured_proxy_is_believed(aiohttp_client, make_config):
    config = make_config(plugins=GW, security={"rate_limit_per_minute": 10},
                         server={"trusted_proxies": ["127.0.0.1", "::1"]})
    gw = await aiohttp_client(create_app(config))
    statuses = [(await gw.get("/healthz", headers={"X-Forwarded-For": f"198.51.100.{i}"})).status
                for i in range(30)]
    assert set(statuses) == {200}


def test_the_supervisor_trusts_loopback_for_its_workers(tmp_path):
    """Its workers sit behind its own nginx on 127.0.0.1, so only they believe loopback."""
    from ecom.plugin import load_plugins
    from ecom.supervisor import Supervisor
    config = load_config(None, environ={}, overrides={"server": {"data_dir": str(tmp_path), "instances": 2}},
                         root=Path(__file__).resolve().parent.parent)
    supervisor = Supervisor(config, load_plugins(config.replace(plugins={"enabled": ()})), None)
    env = supervisor._worker_env(supervisor.workers[0])
    worker = load_config(None, environ={k: v for k, v in env.items() if k.startswith("ECOM__")})
    assert set(worker.server.trusted_proxies) == {"127.0.0.1", "::1"}


async def test_metrics_only_for_a_direct_loopback_peer(aiohttp_client, make_config):
    """Through a proxy (even a trusted one on this host) /metrics is not there; straight from loopback it is."""
    config = make_config(plugins=GW, server={"trusted_proxies": ["127.0.0.1", "::1"]})
    gw = await aiohttp_client(create_app(config))
    resp = await gw.get("/metrics")
    assert resp.status == 200 and "ecom_http_requests_total" in await resp.text()
    for header in ({"X-Forwarded-For": "203.0.113.9"}, {"Forwarded": "for=203.0.113.9"},
                   {"X-Real-IP": "203.0.113.9"}):
        resp = await gw.get("/metrics", headers=header)
        assert resp.status == 404 and "ecom_http" not in await resp.text(), header


# --- half-open connections (slowloris) ---

async def half_open(port: int, host: str = "127.0.0.1", timeout: float = 5.0):
    """Connect and send part of a request line, then hold. None when the connect itself failed."""
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(b"GET /products?q=a HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Wait: ")
            await writer.drain()
            return reader, writer
    except (OSError, TimeoutError):
        return None


async def timed_healthz(port: int, limit: float = 5.0) -> float:
    """Seconds for GET /healthz over a fresh connection; AssertionError beyond ``limit`` (an outcome with
    room for a busy machine: a blocked server never answers; the figures are printed, not bounded)."""
    began = time.monotonic()
    try:
        async with asyncio.timeout(limit):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            answer = await reader.read()
            writer.close()
    except TimeoutError:
        raise AssertionError(f"/healthz did not answer within {limit} s") from None
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    return time.monotonic() - began


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    try:
        async with asyncio.timeout(seconds):
            return await reader.read() == b""
    except (TimeoutError, ConnectionError):
        return False


@pytest.fixture
async def guarded():
    """A tiny aiohttp app served by ecom.http_guard (header timeout 1 s, 16 connections at most)."""
    from aiohttp import web
    from ecom.http_guard import GuardedAppRunner

    async def ok(request):
        await request.read()
        return web.Response(text="ok")
    app = web.Application()
    app.router.add_route("*", "/healthz", ok)
    runner = GuardedAppRunner(app, max_connections=16, header_timeout=1.0, handle_signals=False)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield port, runner
    await runner.cleanup()


async def test_a_request_head_that_never_completes_is_closed(guarded):
    port, runner = guarded
    held = await half_open(port)
    assert held is not None
    assert await closed_within(held[0], 5.0), "the half-sent request was kept open"
    assert runner.server.closed_slow >= 1
    reader, writer = await asyncio.open_connection("127.0.0.1", port)  # a slow body stalls too
    writer.write(b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
    assert await closed_within(reader, 5.0), "the stalled body was kept open"
    await timed_healthz(port)


async def test_at_the_cap_the_oldest_idle_connection_makes_room(guarded):
    port, runner = guarded
    held = [await half_open(port) for _ in range(16)]
    assert all(held)
    await timed_healthz(port)  # the 17th connection is admitted ...
    assert await closed_within(held[0][0], 5.0)  # ... by closing the oldest idle one
    assert runner.server.closed_idle >= 1  # (not by the 1 s head timeout: that counts as closed_slow)
    for _, writer in held:
        writer.close()


SHOP_FD_LIMIT = 2048  # a common default file limit; more half-open sockets than this is the attack


def _low_fd_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (SHOP_FD_LIMIT, SHOP_FD_LIMIT))


async def test_4000_half_open_connections_do_not_take_a_single_process_shop_down(tmp_path):
    """The real `run.py` (one process, no nginx) with a 2048-file limit, 4,000 half-sent requests held open:
    /healthz still answers from a fresh connection, every time (within timed_healthz's limit)."""
    import os
    import subprocess
    import sys
    from tests.test_cli import ROOT, port_of, write_config
    assert (raise_fd_limit() or 10**6) > 4000 + 500, "this test needs a file limit above 4,500"
    config = write_config(tmp_path)
    port = port_of(config)
    env = {**os.environ, "ECOM__SERVER__MAX_CONNECTIONS": "1000", "ECOM__SERVER__HEADER_TIMEOUT": "10"}
    proc = subprocess.Popen([sys.executable, str(ROOT / "run.py"), "--config", str(config)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_low_fd_limit)
    held: list = []
    try:
        line = await asyncio.to_thread(proc.stdout.readline)
        assert "ready at" in line, proc.stderr.read()[-3000:] if proc.poll() is not None else line
        await timed_healthz(port)
        began = time.monotonic()
        for _ in range(20):  # 4,000 in batches of 200: bounded, loopback only
            held += await asyncio.gather(*(half_open(port) for _ in range(200)))
        setup = time.monotonic() - began
        times = []
        for _ in range(5):
            times.append(await timed_healthz(port))
            await asyncio.sleep(0.2)
        print(f"\n4000 half-open connections ({sum(1 for h in held if h)} connected) in {setup:.1f} s; "
              f"/healthz {', '.join(f'{t * 1000:.0f}' for t in times)} ms")
        assert proc.poll() is None
    finally:
        for pair in held:
            if pair:
                pair[1].close()
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
