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
