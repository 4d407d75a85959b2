"""Catalog page and search latency on a seeded shop, as ratios to GET /healthz measured in the same run.

    .venv/bin/python bench/catalog.py --products 10000 --repeat 200

Prints one JSON report. Every request goes over real HTTP on loopback to an in-process app backed by
a throwaway embedded PostgreSQL.
"""
from __future__ import annotations

import argparse
import asyncio
import json

import aiohttp

from common import shop, summary, timed

from ecom.plugin import load_plugins  # noqa: E402
from ecom.seed import SeedOptions, Seeder  # noqa: E402


async def main(products: int, repeat: int) -> dict:
    plugins = ["users", "products", "inventory"]
    async with shop(plugins) as (url, config, app):
        seeder = Seeder(app, SeedOptions(products=products))
        for plugin in load_plugins(config).plugins:
            if plugin.seed:
                await plugin.seed(seeder)
        cases = {
            "baseline /healthz": "/healthz",
            "catalog page /products": "/products",
            "catalog page, category filter": "/products?type=Electronics",
            "catalog page, search": "/products?q=wireless",
            "API search (full text)": "/api/v1/products?q=lamp",
            "API search (misspelled)": "/api/v1/products?q=hedphones",
            "API search (SKU prefix, ~10 match)": "/api/v1/products?q=R1-ELE-00001",
            "API search (SKU prefix, all 10k match)": "/api/v1/products?q=R1-",
            "API price sort": "/api/v1/products?sort=price_asc&min_price=1000&max_price=5000",
            "product page": "/products/1",
        }
        report: dict = {"products": products, "repeat": repeat, "results": {}}
        async with aiohttp.ClientSession() as session:
            async def get(path: str) -> None:
                async with session.get(url + path) as resp:
                    assert resp.status == 200, (path, resp.status)
                    await resp.read()
            for name, path in cases.items():
                report["results"][name] = summary(await timed(lambda p=path: get(p), repeat))
        base = report["results"]["baseline /healthz"]["median_ms"]
        for result in report["results"].values():
            result["ratio_to_baseline"] = round(result["median_ms"] / base, 2)
        return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.products, args.repeat)), indent=2))
