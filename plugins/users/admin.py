"""For ``python run.py create-admin EMAIL``: create an admin, or promote an existing user."""
from __future__ import annotations

import asyncpg

from ecom.errors import ValidationFailed

from .service import Passwords, UsersService


async def create_admin(pool: asyncpg.Pool, email: str, password: str, *, time_cost: int, memory_kib: int) -> int:
    """The admin's user id. Idempotent: an existing user is promoted and keeps their password and name.

    Bad input raises ValueError with a one-line message naming the fields."""
    try:
        return await UsersService(pool, Passwords(time_cost, memory_kib)).create_admin(email, password)
    except ValidationFailed as err:
        raise ValueError("; ".join(f"{field}: {message}" for field, message in err.errors.items())) from None
