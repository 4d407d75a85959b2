"""Webhooks: the shop's events leave for ERPs and warehouses as signed HTTPS POSTs, and an ERP pushes
stock levels back in.

Outbound: admins (any event, any seller) and sellers (events about their own data) register endpoints
(/admin/webhooks, /seller/webhooks, /api/v1/webhooks). Every deliverable topic of the event registry is
subscribed generically (catalog.py), so a plugin's new event is deliverable without a change here. The
inbox handler writes one delivery row per matching endpoint in the inbox transaction (exactly once per
endpoint); a relay in every worker sends them (relay.py), signed per Standard Webhooks (signing.py),
retried with back-off for a day, logged per attempt; an endpoint failing for too long is disabled.
A type no enabled endpoint wants is skipped by the bus without a transaction (wanted.py).
Inbound: ``POST /api/v1/inventory/stock-webhook`` (inbound.py) goes through inventory's CSV import path.
Provides ``WEBHOOKS`` (keys.py).
"""
from __future__ import annotations

import asyncio
import functools

from ecom.plugin import Plugin, PluginContext
from ecom.slots import Slot

from . import api, catalog, pages
from .config import WebhooksConfig
from .keys import RELAY, WEBHOOKS
from .relay import Relay
from .service import WebhooksService
from .signing import Vault
from .wanted import WantedTypes


async def lifespan(ctx: PluginContext):
    vault = Vault(ctx.secret("endpoint-secrets"))
    relay = Relay(ctx.pool, ctx.config, vault)
    wanted = WantedTypes(ctx.pool)
    service = WebhooksService(ctx.pool, ctx.config, vault, relay.wake, changed=wanted.changed)
    ctx.provide(WEBHOOKS, service)
    ctx.provide(RELAY, relay)
    catalog.load_events(list(ctx.settings.plugins.enabled))
    for name, cls in catalog.deliverable().items():
        # one consumer per type: catch-up keeps a cursor per (consumer, producer), read per topic
        # a type no enabled endpoint wants costs no transaction (wanted.py says how fresh that is)
        ctx.events.subscribe(cls, service.handler(name, cls), name=f"deliver:{name}",
                             wants=functools.partial(wanted.wants, name))
    stopping = asyncio.Event()
    await wanted.changed()  # known before the first event is dispatched (until then: every type is wanted)
    loop = asyncio.get_running_loop()
    tasks = [loop.create_task(relay.loop(stopping), name="webhooks-relay"),
             loop.create_task(wanted.loop(stopping), name="webhooks-wanted")]
    yield
    stopping.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    await relay.close()


PLUGIN = Plugin(name="webhooks", requires_core=">=0.2,<0.3",
                lifespan=lifespan, routes=[*api.routes, *pages.routes], config=WebhooksConfig,
                static=None,
                slots=[Slot("seller.dashboard", "webhooks/dashboard_seller.html", order=30),
                       Slot("admin.dashboard", "webhooks/dashboard_admin.html", order=30)])
