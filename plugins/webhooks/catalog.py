"""Which events can leave the shop by webhook: every topic in the event registry, generically, except
the core's own (``ecom/system/*``) and those that carry a secret (a card token, single-use links).

So a plugin that declares a new event (``@event("ecom/products/created")``) makes it deliverable without
a change here. An event type's public name is its topic without ``ecom/`` and with a dot:
``ecom/orders/status`` -> ``orders.status``. A seller may subscribe only to types whose payload names a
seller -- ``data.seller_id`` (orders.shipment, inventory.*), or ``data.product.seller_id`` (the products.*
snapshots) -- and gets only the events whose seller is them; every other type (orders.status, payments.*,
users.*) is for admins.
"""
from __future__ import annotations

import dataclasses
import importlib

from ecom.events import REGISTRY, SYSTEM

SECRET_TOPICS = frozenset({
    "ecom/payments/requested",              # card_token
    "ecom/users/verification_requested",    # a single-use link
    "ecom/users/password_reset_requested",  # a single-use link
})


def load_events(plugins: list[str]) -> None:
    """Import each enabled plugin's ``events`` module (if any), so that its topics are registered even if
    nothing else has imported it yet."""
    for name in plugins:
        try:
            importlib.import_module(f"plugins.{name}.events")
        except ModuleNotFoundError as err:
            if err.name not in (f"plugins.{name}", f"plugins.{name}.events", "plugins"):
                raise


def public_name(topic: str) -> str:
    return topic.removeprefix("ecom/").replace("/", ".")


def deliverable() -> dict[str, type]:
    """public name -> event class, for every topic that may leave the shop."""
    out = {}
    for topic, cls in sorted(REGISTRY.items()):
        if topic.split("/")[1] == SYSTEM or cls.OWNER == SYSTEM or topic in SECRET_TOPICS:
            continue
        out[public_name(topic)] = cls
    return out


SELLER_PATHS = (("seller_id",), ("product", "seller_id"))  # where a payload names its seller, in this order


def has_seller(cls: type) -> bool:
    names = {f.name for f in dataclasses.fields(cls)}
    return any(path[0] in names for path in SELLER_PATHS)


def seller_of(data: dict) -> int | None:
    """The seller an event is about (None: it names none)."""
    for path in SELLER_PATHS:
        value = data
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def for_sellers() -> list[str]:
    return [name for name, cls in deliverable().items() if has_seller(cls)]
