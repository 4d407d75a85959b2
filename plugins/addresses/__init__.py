"""Addresses: each customer's address book (default shipping and billing address) and the one address
validator every plugin uses (required fields per country, postal code patterns, phone numbers in E.164).

Provides ``ADDRESSES`` (keys.py). Requires users only for identities: the book is keyed by user id.
Checkout (orders) takes an address from the book or checks a new one with ``validate_address``.
Personal data: a deleted account's book is erased on users' UserDeleted, and the owner's data export
includes their book (``register_exporter``, ecom.privacy).
"""
from __future__ import annotations

from ecom.plugin import Plugin, PluginContext
from ecom.slots import Slot
from ecom.privacy import register_exporter
from plugins.users.events import UserDeleted

from . import pages, routes
from .config import AddressesConfig
from .keys import ADDRESSES
from .seed import seed
from .service import AddressesService


async def lifespan(ctx: PluginContext):
    service = AddressesService(ctx.pool, ctx.config.max_per_user)
    ctx.provide(ADDRESSES, service)
    ctx.events.subscribe(UserDeleted, service.on_user_deleted)
    register_exporter(ctx.app, "addresses", service.export)
    yield


PLUGIN = Plugin(name="addresses", requires_core=">=0.2,<0.3",
                requires=("users",), lifespan=lifespan,
                routes=[*routes.routes, *pages.routes], config=AddressesConfig, static=None, seed=seed,
                slots=[Slot("account.menu", "addresses/account_menu.html", order=20),
                       Slot("footer", "addresses/footer.html", order=20)])
