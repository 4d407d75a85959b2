"""The account lifecycle: verify the email, reset or change the password, edit the profile, delete.

Every change that someone must hear about is announced by an event in the transaction that makes it
(the notifications plugin mails them; users never sends mail itself). Links are single-use (tokens.py).
Resetting a password ends every session and API token of the account; changing it ends all but the
caller's own. No aiohttp here: the routes translate HTTP to these calls.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from zoneinfo import available_timezones

import asyncpg

from ecom.errors import Conflict, NotFound, ValidationFailed
from ecom.i18n import N_, _, available_locales

from . import db, tokens
from .events import PasswordChanged, PasswordResetRequested, UserDeleted
from .service import User, UsersService, _text, check_email, check_name, normalize_email, password_rules

BAD_LINK = N_("This link is invalid, has expired or was already used.")
WRONG_PASSWORD = N_("This is not your current password.")
EMAIL_TAKEN = N_("Another account uses this address now.")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _bad_link() -> ValidationFailed:
    return ValidationFailed(_(BAD_LINK), errors={"token": _(BAD_LINK)})


class AccountService:
    def __init__(self, users: UsersService):
        self.users, self.pool = users, users.pool

    @property
    def events(self):
        return self.users.events

    async def _emit(self, conn, event: Any) -> None:
        if self.events is not None:
            await self.events.emit(conn, event)

    # --- email verification ---

    async def resend_verification(self, user_id: int) -> None:
        """Another link for the account's own address (nothing when it is already verified)."""
        user = await self.users.get(user_id)
        if not user.email_verified:
            async with self.pool.acquire() as conn, conn.transaction():
                await self.users.send_verification(conn, user, user.email, "signup")

    async def verify_email(self, secret: Any) -> User:
        """Use a verification link up: its address becomes the account's verified email."""
        async with self.pool.acquire() as conn, conn.transaction():
            link = await tokens.consume(conn, secret, tokens.VERIFY)
            if link is None:
                raise _bad_link()
            try:
                row = await db.confirm_email(conn, link["user_id"], link["email"])
            except asyncpg.UniqueViolationError:
                row = None
            if row is None:  # raising rolls the link's use back too: it is not spent on a failure
                raise Conflict(_(EMAIL_TAKEN))
        return User.from_row(row)

    # --- password reset ---

    async def request_password_reset(self, email: Any) -> None:
        """Mail a 1 h reset link if an account has this address; nothing otherwise. The caller answers
        both cases alike, so the answer does not tell who has an account."""
        errors: dict[str, str] = {}
        email = _text(email, "email", errors)
        if errors:
            raise ValidationFailed(_("Enter your email address."), errors=errors)
        row = await db.user_with_hash(self.pool, normalize_email(email))
        if row is None or self.events is None:
            return
        user = User.from_row(row)
        locale, time_zone = self.users.language_of(user)
        async with self.pool.acquire() as conn, conn.transaction():
            secret, expires_at = await tokens.issue(conn, tokens.RESET, user.id, user.email, tokens.RESET_TTL)
            await self._emit(conn, PasswordResetRequested(user.id, user.email, user.name, locale, time_zone,
                                                          f"/password/reset?token={secret}", expires_at.isoformat()))

    async def reset_link_valid(self, secret: Any) -> bool:
        return await tokens.peek(self.pool, secret, tokens.RESET) is not None

    async def reset_password(self, secret: Any, password: Any) -> User:
        """Set a new password with a reset link (used up), and end every session, token and reset link."""
        link = await tokens.peek(self.pool, secret, tokens.RESET)
        if link is None:
            raise _bad_link()
        user = await self.users.get(link["user_id"])
        password_hash = await self._new_hash(password, user, "password")
        async with self.pool.acquire() as conn, conn.transaction():
            if await tokens.consume(conn, secret, tokens.RESET) is None:  # used by a racing request meanwhile
                raise _bad_link()
            await self._set_password(conn, user, password_hash, "reset", keep=None)
        return user

    # --- signed-in changes ---

    async def change_password(self, user_id: int, current: Any, new: Any, keep: bytes | None) -> None:
        """Needs the current password; ends every other session and token (``keep``: the caller's hash)."""
        user = await self._confirm_password(user_id, current, "current_password")
        password_hash = await self._new_hash(new, user, "new_password")
        async with self.pool.acquire() as conn, conn.transaction():
            await self._set_password(conn, user, password_hash, "change", keep=keep)

    async def update_profile(self, user_id: int, changes: dict[str, Any]) -> tuple[User, str | None]:
        """Apply ``changes`` (any of name, email, locale, time_zone; absent keys stay). A new email is not
        applied yet: a link goes to it and the change happens when it is followed. Returns the user and the
        address waiting for verification (None if none)."""
        user = await self.users.get(user_id)
        errors: dict[str, str] = {}
        name = check_name(_text(changes["name"], "name", errors), errors) if "name" in changes else user.name
        email = user.email
        if "email" in changes:
            email = check_email(_text(changes["email"], "email", errors), errors)
        locale = self._choice(changes, "locale", user.locale, set(available_locales()), errors)
        time_zone = self._choice(changes, "time_zone", user.time_zone, available_timezones(), errors)
        if errors:
            raise ValidationFailed(_("Some fields need attention."), errors=errors)
        async with self.pool.acquire() as conn, conn.transaction():
            row = await db.update_profile(conn, user_id, name, locale, time_zone)
            if row is None:
                raise NotFound(_("No user {id}.").format(id=user_id))
            user = User.from_row(row)
            pending = email if email != user.email else None
            if pending:
                await self.users.send_verification(conn, user, pending, "email_change")
        return user, pending

    @staticmethod
    def _choice(changes: dict, field: str, old: str | None, allowed: set[str], errors: dict) -> str | None:
        """A locale or zone from ``allowed``; "" or null clears it (the browser's / the shop's applies)."""
        if field not in changes:
            return old
        value = changes[field]
        if value in (None, ""):
            return None
        if not isinstance(value, str) or value not in allowed:
            errors[field] = _("Choose one of the offered values.")
            return old
        return value

    async def save_locale(self, user_id: int, locale: str) -> None:
        await db.set_locale(self.pool, user_id, locale)

    async def delete(self, user_id: int, password: Any) -> None:
        """Delete the account (password confirmed): sessions, tokens and links go with the row, and
        UserDeleted tells every other plugin to erase or anonymise what it keeps, in the same transaction."""
        await self._confirm_password(user_id, password, "password")
        async with self.pool.acquire() as conn, conn.transaction():
            if not await db.delete_user(conn, user_id):
                raise NotFound(_("No user {id}.").format(id=user_id))
            await self._emit(conn, UserDeleted(user_id, _now()))

    # --- helpers ---

    async def _confirm_password(self, user_id: int, password: Any, field: str) -> User:
        row = await db.user_with_hash_by_id(self.pool, user_id)
        if row is None:
            raise NotFound(_("No user {id}.").format(id=user_id))
        errors: dict[str, str] = {}
        password = _text(password, field, errors)
        if not errors and not await self.users.passwords.verify(row["password_hash"], password):
            errors[field] = _(WRONG_PASSWORD)
        if errors:
            raise ValidationFailed(_("Some fields need attention."), errors=errors)
        return User.from_row(row)

    async def _new_hash(self, password: Any, user: User, field: str) -> str:
        errors: dict[str, str] = {}
        password = _text(password, field, errors)
        if password and (problem := password_rules(password, user.email, user.name, self.users.min_password_length)):
            errors[field] = problem
        if errors:
            raise ValidationFailed(_("Some fields need attention."), errors=errors)
        return await self.users.passwords.hash(password)

    async def _set_password(self, conn, user: User, password_hash: str, how: str, keep: bytes | None) -> None:
        await db.set_password_hash(conn, user.id, password_hash)
        await db.revoke_all_secrets(conn, user.id, keep)
        await tokens.kill_all(conn, user.id, tokens.RESET)
        locale, time_zone = self.users.language_of(user)
        await self._emit(conn, PasswordChanged(user.id, user.email, user.name, locale, time_zone, _now(), how))
