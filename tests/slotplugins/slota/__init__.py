"""Test-only plugin: fills product.details (in order, escaped, one raising and one slow slot), product.card
(one context call per page, counted in CALLS) and the navbar (a personal slot)."""
from __future__ import annotations

import asyncio

from ecom.plugin import Plugin
from ecom.slots import Slot

CALLS: list[list[int]] = []  # the item ids of each product.card context call, in order


async def details(request, product):
    return {"name": product["name"], "note": "<script>alert(1)</script>"}


async def boom(request, product):
    raise RuntimeError("slot boom")


async def slow(request, product):
    await asyncio.sleep(3)
    return {}


async def cards(request, items):
    CALLS.append([item["id"] for item in items])
    return {item["id"]: {"id": item["id"]} for item in items}


PLUGIN = Plugin(name="slota", migrations=None, database=False, static=None, slots=[
    Slot("product.details", "slota/details.html", details, order=50),
    Slot("product.details", "slota/slow.html", slow, order=70),
    Slot("product.details", "slota/boom.html", boom, order=60),
    Slot("product.details", "slota/first.html", order=10),
    Slot("product.card", "slota/card.html", cards),
    Slot("navbar", "slota/nav.html"),
])
