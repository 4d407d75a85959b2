"""Dashboards: the seller's overview at ``/seller`` (sales chart, products, low stock, imports, orders to
fulfil, stock movements; an admin sees the whole marketplace) and the admin's at ``/admin`` (users and
roles, orders and payments per status, charts of both per day, system health with every plugin database's
circuit breaker over all the workers: circuits.py).

Owns no data and no database: it reads the other plugins' services (read-only query methods) and the
core's health snapshot and circuit metrics. Charts are server-side SVG (ecom.charts), so the pages need no script.
Provides ``DASHBOARDS`` (keys.py).
"""
from __future__ import annotations

from ecom.plugin import Plugin, PluginContext
from ecom.slots import Slot
from plugins.inventory.keys import INVENTORY
from plugins.orders.keys import ORDERS
from plugins.payments.keys import PAYMENTS
from plugins.products.keys import PRODUCTS
from plugins.users.keys import USERS

from . import routes
from .keys import DASHBOARDS
from .service import DashboardsService


async def lifespan(ctx: PluginContext):
    ctx.provide(DASHBOARDS, DashboardsService(users=ctx.require(USERS), products=ctx.require(PRODUCTS),
                                              inventory=ctx.require(INVENTORY), orders=ctx.require(ORDERS),
                                              payments=ctx.require(PAYMENTS)))
    yield


PLUGIN = Plugin(name="dashboards", requires_core=">=0.2,<0.3",
                requires=("users", "products", "inventory", "orders", "payments"),
                lifespan=lifespan, routes=routes.routes, migrations=None, database=False,
                slots=[Slot("navbar", "dashboards/nav.html", order=20),
                       Slot("account.menu", "dashboards/account_menu.html", order=90)])
