"""WebhooksService: endpoints (register, list, remove, re-enable), the event handler that queues
deliveries, the delivery log and redelivery, and the secrets of the inbound stock webhook.

Who sees what: an admin registers endpoints for any deliverable event type and sees every endpoint; a
seller registers endpoints only for types whose payload names a seller (catalog.for_sellers) and sees
only their own. A seller's endpoint is queued an event only when the seller it names (catalog.seller_of)
is that seller: another seller's data never leaves for it.

Deliveries are written by :meth:`on_event` in the inbox transaction of the event (the bus's exactly-once
per consumer), one row per (endpoint, event) (UNIQUE): an event reaches each endpoint once.
"""
from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any, Awaitable, Callable

import asyncpg

from ecom.errors import Forbidden, NotFound, ValidationFailed
from ecom.events import current_envelope
from ecom.i18n import _

from . import catalog, db, signing
from .config import WebhooksConfig
from .guard import Refused, check_url

if TYPE_CHECKING:
    from ecom.gateway.auth import Identity

MAX_DESCRIPTION = 200


def body_of(env: Any, name: str) -> str:
    """The JSON body sent for an event (the same bytes on every attempt): id, type, timestamp, data."""
    return json.dumps({"id": str(env.id), "type": name, "timestamp": env.occurred_at.isoformat(),
                       "data": env.data}, separators=(",", ":"), default=str)


class WebhooksService:
    def __init__(self, pool: asyncpg.Pool, config: WebhooksConfig, vault: signing.Vault,
                 wake: asyncio.Event | None = None, changed: Callable[[], Awaitable[None]] | None = None):
        self.pool, self.config, self.vault, self.wake = pool, config, vault, wake
        self.changed = changed  # an endpoint was saved/enabled/removed: the wanted types (wanted.py) read anew

    # ------------------------------------------------------------------ endpoints
    def allowed_types(self, actor: "Identity") -> list[str]:
        if actor.is_admin:
            return list(catalog.deliverable())
        if actor.has_role("seller"):
            return catalog.for_sellers()
        raise Forbidden(_("Only sellers and admins can register webhooks."))

    async def register(self, actor: "Identity", url: str, event_types: list[str],
                       description: str = "") -> tuple[asyncpg.Record, str]:
        """The new endpoint and its signing secret (shown once: only its encrypted form is kept)."""
        allowed, errors = self.allowed_types(actor), {}
        try:
            check_url(url.strip(), self.config)
        except Refused as err:
            errors["url"] = str(err)
        chosen = list(dict.fromkeys(event_types))
        if not chosen:
            errors["event_types"] = _("Choose at least one event type.")
        elif unknown := [t for t in chosen if t not in allowed]:
            errors["event_types"] = _("Not an event type you can subscribe to: {types}.").format(types=", ".join(unknown))
        description = " ".join(description.split())
        if len(description) > MAX_DESCRIPTION or not description.isprintable():
            errors["description"] = _("At most {n} printable characters.").format(n=MAX_DESCRIPTION)
        if errors:
            raise ValidationFailed(_("The webhook was not registered."), errors=errors)
        secret = signing.new_secret()
        row = await db.add_endpoint(self.pool, actor.user_id, "admin" if actor.is_admin else "seller", url.strip(),
                                    description, chosen, self.vault.seal(secret))
        await self._changed()
        return row, secret

    async def endpoints(self, actor: "Identity") -> list[asyncpg.Record]:
        return await db.endpoints(self.pool, None if actor.is_admin else actor.user_id)

    async def endpoint(self, actor: "Identity", endpoint_id: int) -> asyncpg.Record:
        """NotFound unless ``actor`` registered it or is an admin (another seller does not learn it exists)."""
        row = await db.endpoint(self.pool, endpoint_id)
        if row is None or not (actor.is_admin or row["owner_id"] == actor.user_id):
            raise NotFound(_("No webhook {id}.").format(id=endpoint_id))
        return row

    async def remove(self, actor: "Identity", endpoint_id: int) -> None:
        await self.endpoint(actor, endpoint_id)
        await db.delete_endpoint(self.pool, endpoint_id)
        await self._changed()

    async def enable(self, actor: "Identity", endpoint_id: int) -> None:
        await self.endpoint(actor, endpoint_id)
        await db.enable(self.pool, endpoint_id)
        await self._changed()
        self._wake()

    async def deliveries(self, actor: "Identity", endpoint_id: int) -> list[dict[str, Any]]:
        """The newest deliveries of an endpoint, each with its attempts (the delivery log)."""
        await self.endpoint(actor, endpoint_id)
        rows = await db.deliveries(self.pool, endpoint_id)
        attempts: dict[int, list] = {}
        for a in await db.attempts_of(self.pool, [r["id"] for r in rows]):
            attempts.setdefault(a["delivery_id"], []).append(dict(a))
        return [{**dict(r), "log": attempts.get(r["id"], [])} for r in rows]

    async def redeliver(self, actor: "Identity", delivery_id: int) -> asyncpg.Record:
        row = await db.delivery(self.pool, delivery_id)
        if row is None:
            raise NotFound(_("No delivery {id}.").format(id=delivery_id))
        await self.endpoint(actor, row["endpoint_id"])
        await db.redeliver(self.pool, delivery_id, self.config.give_up_hours * 3600)
        self._wake()
        return row

    async def _changed(self) -> None:
        if self.changed is not None:
            await self.changed()

    def _wake(self) -> None:
        if self.wake is not None:
            self.wake.set()

    # ------------------------------------------------------------------ the event handler
    def handler(self, name: str, cls: type):
        """The inbox handler for one event type (a closure per type: each has its own consumer name)."""
        for_sellers = catalog.has_seller(cls)

        async def deliver(conn: asyncpg.Connection, _event: Any) -> None:
            env = current_envelope.get()
            if env is None:
                return
            seller_id = catalog.seller_of(env.data) if for_sellers else None
            targets = [r["id"] for r in await db.subscribers(conn, name)
                       if r["scope"] == "admin" or (seller_id is not None and r["owner_id"] == seller_id)]
            if targets and await db.enqueue(conn, targets, env.id, name, body_of(env, name),
                                            self.config.give_up_hours * 3600):
                self._wake()
        return deliver

    # ------------------------------------------------------------------ inbound stock webhook secrets
    async def add_inbound(self, actor: "Identity", seller_id: int, description: str = "") -> tuple[int, str]:
        if not actor.is_admin:
            raise Forbidden(_("Only admins can create inbound webhook secrets."))
        description = " ".join(description.split())[:MAX_DESCRIPTION]
        secret = signing.new_secret()
        return await db.add_inbound(self.pool, seller_id, description, self.vault.seal(secret), actor.user_id), secret

    async def inbound_secrets(self) -> list[asyncpg.Record]:
        return await db.inbound(self.pool)

    async def revoke_inbound(self, secret_id: int) -> None:
        await db.revoke_inbound(self.pool, secret_id)

    async def inbound_seller(self, msg_id: str, timestamp: str, signature: str, body: bytes) -> tuple[int, int] | None:
        """(secret id, seller id) of the live inbound secret that signed this request; None if none did."""
        for row in await db.inbound(self.pool):
            if row["revoked_at"] is None:
                secret = self.vault.open(row["secret"])
                if secret and signing.verify(secret, msg_id, timestamp, signature, body):
                    return row["id"], row["seller_id"]
        return None
