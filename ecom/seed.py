"""`python run.py seed --products N`: a realistic demo shop, made by each plugin's own seed hook.

The core starts the app without serving it, then calls ``PLUGIN.seed(seeder)`` of every enabled
plugin in dependency order (users make sellers, products make the catalog, inventory stocks it).
Hooks use their own services and show progress with ``seeder.progress(total, label)``.
"""
from __future__ import annotations

import random
import sys
from dataclasses import dataclass

from aiohttp import web
from tqdm import tqdm

from .config import Config, ConfigError
from .plugin import LoadedPlugins


@dataclass(frozen=True)
class SeedOptions:
    products: int = 1000
    random_seed: int = 7
    again: bool = False  # seed a shop that already has products (another catalog next to the first)

    @property
    def sellers(self) -> int:
        return max(2, min(50, self.products // 200 + 1))


class SeedRefused(ConfigError):
    """The shop already has a catalog; one line, exit 2 (the CLI prints it)."""


async def _refuse_a_second_catalog(app: web.Application) -> None:
    """Before any hook runs: seeding twice duplicated the whole catalog and its stock (the other hooks
    keep what they made), so a shop with products is refused unless the operator passes --again. Asked of
    the products plugin's own service, after migrations (runner.setup), so a first seed finds its table."""
    try:
        from plugins.products.keys import PRODUCTS
    except ImportError:  # a shop built without the products plugin has no catalog to duplicate
        return
    products = app.get(PRODUCTS)
    if products is not None and await products.max_id() > 0:
        raise SeedRefused("seed: this shop already has products; run.py seed --again adds another demo "
                          "catalog next to them")


class Seeder:
    def __init__(self, app: web.Application, options: SeedOptions):
        self.app = app
        self.options = options
        self.rng = random.Random(options.random_seed)

    def progress(self, total: int, label: str) -> tqdm:
        return tqdm(total=total, desc=label.ljust(12), unit=" rows", file=sys.stderr, dynamic_ncols=True,
                    mininterval=0.2)


async def run_seed(config: Config, loaded: LoadedPlugins, options: SeedOptions) -> None:
    from .app import create_app

    # no broker client: a tool must not share (or take over) the shop's MQTT session; what the seed hooks
    # emit waits in the outboxes until the running shop's relays publish it
    app = create_app(config, loaded=loaded, events=False)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()  # runs migrations and every plugin's start-up
    try:
        if not options.again:
            await _refuse_a_second_catalog(app)
        seeder = Seeder(app, options)
        for plugin in loaded.plugins:
            if plugin.seed is not None:
                await plugin.seed(seeder)
    finally:
        await runner.cleanup()
