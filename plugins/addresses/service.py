"""The address book: each customer's saved addresses and their default shipping and billing address.

Every write runs in one transaction holding the user's book row lock (db.lock_book), so two requests at
once cannot pass the size limit together or leave two defaults. A book with no default of a kind gets
the next address added as that default, so a customer's first address is ready for checkout at once.
Another user's address is NotFound, never Forbidden: ids must not reveal what exists.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Mapping

import asyncpg

from ecom.errors import Conflict, NotFound, ValidationFailed
from ecom.i18n import N_, _

from plugins.users.events import UserDeleted

from . import db
from .model import FIELDS, Address, validate_address

log = logging.getLogger("ecom.plugins.addresses")

NOT_FOUND = N_("No such address in your address book.")  # English msgids, translated when raised
FULL = N_("Your address book is full ({max} addresses): delete one first.")
FLAG = N_("Must be true or false.")


@dataclass(frozen=True)
class SavedAddress:
    id: int
    address: Address
    is_default_shipping: bool
    is_default_billing: bool


def _saved(row: asyncpg.Record) -> SavedAddress:
    return SavedAddress(row["id"], Address.from_dict(row), row["is_default_shipping"], row["is_default_billing"])


def _flag(value: Any, name: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise ValidationFailed(_("{name} must be true or false.").format(name=name), errors={name: _(FLAG)})


class AddressesService:
    def __init__(self, pool: asyncpg.Pool, max_per_user: int = 20):
        self.pool = pool
        self.max_per_user = max_per_user

    @staticmethod
    def validate(data: Mapping[str, Any], prefix: str = "") -> Address:
        """validate_address, for plugins that reach this one through its service (checkout's ship-to)."""
        return validate_address(data, prefix)

    async def list(self, user_id: int) -> list[SavedAddress]:
        return [_saved(row) for row in await db.list_for(self.pool, user_id)]

    async def get(self, user_id: int, address_id: int) -> SavedAddress:
        row = await db.fetch(self.pool, user_id, address_id)
        if row is None:
            raise NotFound(_(NOT_FOUND))
        return _saved(row)

    async def defaults(self, user_id: int) -> tuple[SavedAddress | None, SavedAddress | None]:
        """(default shipping, default billing), each None when the customer has none."""
        saved = await self.list(user_id)
        shipping = next((s for s in saved if s.is_default_shipping), None)
        billing = next((s for s in saved if s.is_default_billing), None)
        return shipping, billing

    async def add(self, user_id: int, data: Mapping[str, Any], *, default_shipping: bool = False,
                  default_billing: bool = False) -> SavedAddress:
        address = validate_address(data)
        flags = {"shipping": _flag(default_shipping, "default_shipping"),
                 "billing": _flag(default_billing, "default_billing")}
        async with self.pool.acquire() as conn, conn.transaction():
            if await db.lock_book(conn, user_id) >= self.max_per_user:
                raise Conflict(_(FULL).format(max=self.max_per_user))
            address_id = await db.insert(conn, user_id, address)
            for kind, wanted in flags.items():
                if wanted or not await db.has_default(conn, user_id, kind):
                    await db.set_default(conn, user_id, address_id, kind, True)
            return _saved(await db.fetch(conn, user_id, address_id))

    async def update(self, user_id: int, address_id: int, data: Mapping[str, Any], *,
                     default_shipping: bool | None = None, default_billing: bool | None = None) -> SavedAddress:
        """Change some fields (the others are kept; the whole result is validated again) and/or the
        default flags (None leaves a flag as it is, False stops the address being that default)."""
        flags = {"shipping": _flag(default_shipping, "default_shipping"),
                 "billing": _flag(default_billing, "default_billing")}
        async with self.pool.acquire() as conn, conn.transaction():
            await db.lock_book(conn, user_id)
            row = await db.fetch(conn, user_id, address_id)
            if row is None:
                raise NotFound(_(NOT_FOUND))
            changes = {name: data[name] for name in FIELDS if name in data}
            if changes:
                merged = {**Address.from_dict(row).as_dict(), **changes}
                await db.update(conn, user_id, address_id, validate_address(merged))
            for kind, wanted in flags.items():
                if wanted is not None:
                    await db.set_default(conn, user_id, address_id, kind, wanted)
            return _saved(await db.fetch(conn, user_id, address_id))

    # --- personal data (ecom.privacy) ---

    async def on_user_deleted(self, conn: asyncpg.Connection, event: UserDeleted) -> None:
        """The account is gone: its address book goes too, in the inbox transaction of the event (a repeat,
        or a book that was never there, deletes nothing)."""
        deleted = await db.delete_book(conn, event.user_id)
        log.info("user %s deleted: %d saved address(es) erased", event.user_id, deleted)

    async def export(self, user_id: int) -> list[dict[str, Any]]:
        """What the book keeps about ``user_id``, for the owner's data export (oldest first)."""
        return [{"id": s.id, **s.address.as_dict(), "is_default_shipping": s.is_default_shipping,
                 "is_default_billing": s.is_default_billing} for s in await self.list(user_id)]

    async def delete(self, user_id: int, address_id: int) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await db.lock_book(conn, user_id)
            if not await db.delete(conn, user_id, address_id):
                raise NotFound(_(NOT_FOUND))
