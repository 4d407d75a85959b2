"""The topic registry: which dataclass travels on a topic, in which version, and which plugin owns it.

Each topic has exactly ONE owner plugin, the only producer whose signature a consumer accepts for it
(DESIGN §5). The owner defaults to the topic's middle segment (``ecom/<owner>/<name>``); an event that
one plugin announces in another's namespace says so (``owner="orders"``). ``ecom/system/*`` topics
(heartbeats and liveness probes) are owned by the core, which signs them with the ``system`` key.
"""
from __future__ import annotations

import dataclasses

REGISTRY: dict[str, type] = {}
SYSTEM = "system"  # the core's own signing identity


class EventError(ValueError):
    pass


def event(topic: str, version: int = 1, owner: str | None = None, deprecated: str | None = None):
    """Class decorator registering a dataclass as the payload of ``topic``, produced by ``owner``.

    ``version`` counts breaking revisions of the payload (docs/events.md, "Versioning"): adding an
    optional field keeps it. ``deprecated``: a sentence naming the replacement and when this topic stops
    (shown in the catalog) while a breaking change is published alongside its old version.
    Field meanings are declared with ``Annotated[type, "meaning"]`` (ecom.events.catalog)."""
    parts = topic.split("/")
    if len(parts) != 3 or parts[0] != "ecom" or not all(parts) or any(c in topic for c in "#+$ "):
        raise EventError(f"event topic {topic!r} must look like ecom/<plugin>/<event>")
    owner = owner or parts[1]

    def register(cls):
        if not dataclasses.is_dataclass(cls):
            raise EventError(f"{cls.__name__}: an event must be a dataclass")
        if topic in REGISTRY and REGISTRY[topic].__qualname__ != cls.__qualname__:
            raise EventError(f"topic {topic} is already declared by {REGISTRY[topic].__qualname__}")
        cls.TOPIC, cls.VERSION, cls.OWNER, cls.DEPRECATED = topic, version, owner, deprecated
        REGISTRY[topic] = cls
        return cls
    return register


def owner_of(topic: str) -> str:
    """The plugin allowed to produce ``topic`` (its registered owner, else the middle segment)."""
    cls = REGISTRY.get(topic)
    if cls is not None:
        return cls.OWNER
    parts = topic.split("/")
    return parts[1] if len(parts) == 3 else ""
