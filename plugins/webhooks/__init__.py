"""Webhooks: the shop's events leave for ERPs and warehouses as signed HTTPS POSTs, and an ERP pushes
stock levels back in.

Outbound: admins (any event, any seller) and sellers (events about their own data) register endpoints
(/admin/webhooks, /seller/webhooks, /api/v1/webhooks). Every deliverable topic of the event registry is
subscribed generically (catalog.py), so a plugin's new event is deliverable without a change here. The
inbox handler writes one delivery row per matching endpoint in the inbox transaction (exactly once per
endpoint); a relay in every worker sends them (relay.py), signed per Standard Webhooks (signing.py),
retried with back-off for a day, logged per attempt; an endpoint failing for too long is disabled.
Inbound: ``POST /api/v1/inventory/stock-webhook`` (inbound.py) goes through inventory's CSV import path.
Provides ``WEBHOOKS`` (keys.py).
"""
from __future__ import annotations

import asyncio

from ecom.plugin import Plugin, PluginContext

from . import api, catalog, pages
from .config import WebhooksConfig
from .keys import RELAY, WEBHOOKS
from .relay import Relay
from .service import WebhooksService
from .signing import Vault


async def lifespan(ctx: PluginContext):
    vault = Vault(ctx.secret("endpoint-secrets"))
    relay = Relay(ctx.pool, ctx.config, vault)
    service = WebhooksService(ctx.pool, ctx.config, vault, relay.wake)
    ctx.provide(WEBHOOKS, service)
    ctx.provide(RELAY, relay)
    catalog.load_events(list(ctx.settings.plugins.enabled))
    for name, cls in catalog.deliverable().items():
        # one consumer per type: catch-up keeps a cursor per (consumer, producer), read per topic
        ctx.events.subscribe(cls, service.handler(name, cls), name=f"deliver:{name}")
    stopping = asyncio.Event()
    task = asyncio.get_running_loop().create_task(relay.loop(stopping), name="webhooks-relay")
    yield
    stopping.set()
    await asyncio.gather(task, return_exceptions=True)
    await relay.close()


PLUGIN = Plugin(name="webhooks", lifespan=lifespan, routes=[*api.routes, *pages.routes], config=WebhooksConfig,
                static=None)
