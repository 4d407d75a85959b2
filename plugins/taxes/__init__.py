"""Taxes: rates per destination country (and region) from a TOML data file, and tax per line.

Provides ``TAXES`` (keys.py): orders asks it for the tax of each line and shipping line of an order.
No database and no routes: the rates live in the data file the operator edits (rates.toml), checked
at start-up. The rounding rule is in service.py's docstring.
"""
from __future__ import annotations

from ecom.plugin import Plugin, PluginContext

from .config import TaxesConfig
from .keys import TAXES
from .service import TaxesService


async def lifespan(ctx: PluginContext):
    ctx.provide(TAXES, TaxesService(ctx.config.table(), ctx.config.prices_include_tax))
    yield


PLUGIN = Plugin(name="taxes", requires_core=">=0.2,<0.3",
                lifespan=lifespan, config=TaxesConfig, database=False, migrations=None,
                templates=None, static=None)
