"""Accounts, passwords, sessions and API tokens. No aiohttp here: routes.py translates HTTP to these calls."""
from __future__ import annotations

import asyncio
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ecom.config import ConfigError, SecurityConfig
from ecom.errors import NotFound, Unauthorized, ValidationFailed
from ecom.i18n import N_, _, default_language
from ecom.text import storable as _storable

from . import db, tokens
from .denylist import password_problem
from .events import VerificationRequested

MAX_NAME, MAX_EMAIL, MAX_PASSWORD = 100, 254, 256
EMAIL_SHAPE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
WRONG_LOGIN = N_("Wrong email or password.")  # the same for an unknown email: no user enumeration
ROLE_NAMES = (N_("customer"), N_("seller"), N_("admin"))  # shown translated: {{ _(role) }}


@dataclass(frozen=True)
class UsersConfig:
    """[plugins.users] in config.toml."""
    token_ttl_hours: int = 720
    min_password_length: int = 8

    def validate(self) -> None:
        if self.token_ttl_hours < 1:
            raise ConfigError("config: plugins.users.token_ttl_hours must be at least 1")
        if not 1 <= self.min_password_length <= MAX_PASSWORD:
            raise ConfigError(f"config: plugins.users.min_password_length must be between 1 and {MAX_PASSWORD}")


@dataclass(frozen=True)
class User:
    id: int
    email: str
    name: str
    roles: frozenset[str]  # "customer" always, plus "seller" and/or "admin"
    created_at: datetime
    locale: str | None = None      # the saved language; None = the browser's
    time_zone: str | None = None   # the saved IANA zone; None = the shop's
    email_verified: bool = False   # the owner followed a verification link sent to ``email``

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> "User":
        return cls(row["id"], row["email"], row["name"], roles_of(row), row["created_at"], row["locale"],
                   row["time_zone"], row["email_verified_at"] is not None)


@dataclass(frozen=True)
class Caller:
    """Who is behind a live session or API token: exactly what the gateway's Identity needs."""
    id: int
    email: str
    name: str
    roles: frozenset[str]
    locale: str | None
    time_zone: str | None


# (is_seller, is_admin) -> roles: four sets made once, not one per signed-in request
_ROLES = {(seller, admin): frozenset(role for role, held in (("customer", True), ("seller", seller),
                                                             ("admin", admin)) if held)
          for seller in (False, True) for admin in (False, True)}


def roles_of(row: asyncpg.Record) -> frozenset[str]:
    return _ROLES[row["is_seller"], row["is_admin"]]


class Passwords:
    """argon2id hashing in a worker thread, so the event loop keeps serving while a hash is computed."""

    def __init__(self, time_cost: int, memory_kib: int):
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)
        self._decoy: str | None = None

    async def _run(self, func, *args):
        return await asyncio.get_running_loop().run_in_executor(None, func, *args)

    async def hash(self, password: str) -> str:
        return await self._run(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """An unknown user (``password_hash`` None) costs a hash too, so timing does not reveal who exists."""
        if password_hash is None:
            self._decoy = self._decoy or await self.hash(secrets.token_hex(16))
        return await self._run(self._check, password_hash or self._decoy, password) and password_hash is not None

    def _check(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)


def _text(value: Any, field: str, errors: dict[str, str]) -> str:
    """``value`` when it is a non-blank string PostgreSQL can store, else "" with an entry in ``errors``."""
    if not isinstance(value, str) or not value.strip():
        errors[field] = _("This field is required.") if value is None or isinstance(value, str) else _("Must be a string.")
    elif not _storable(value):
        errors[field] = _("Contains characters that are not allowed.")
    else:
        return value
    return ""


def normalize_email(email: str) -> str:
    return email.strip().lower()


def check_new_user(email: Any, name: Any, password: Any, is_seller: Any = False, *,
                   min_password_length: int = UsersConfig.min_password_length) -> tuple[str, str]:
    """Raise ValidationFailed naming every bad field; return the normalized (email, name)."""
    errors: dict[str, str] = {}
    email, name, password = (_text(email, "email", errors), _text(name, "name", errors),
                             _text(password, "password", errors))
    email, name = check_email(email, errors), check_name(name, errors)
    if password and (problem := password_rules(password, email, name, min_password_length)):
        errors["password"] = problem
    if not isinstance(is_seller, bool):
        errors["is_seller"] = _("Must be true or false.")
    if errors:
        raise ValidationFailed(_("Some fields need attention."), errors=errors)
    return email, name


def check_email(email: str, errors: dict[str, str], field: str = "email") -> str:
    """The normalized address (a checked string from _text); a bad shape adds to ``errors``."""
    email = normalize_email(email)
    if email and (len(email) > MAX_EMAIL or not EMAIL_SHAPE.fullmatch(email)):
        errors[field] = _("Enter a valid email address, like ana@example.com.")
    return email


def check_name(name: str, errors: dict[str, str]) -> str:
    name = name.strip()
    if len(name) > MAX_NAME:
        errors["name"] = _("Use at most {n} characters.").format(n=MAX_NAME)
    elif name and not name.isprintable():
        errors["name"] = _("Use letters, digits, spaces and punctuation only.")
    return name


def password_rules(password: str, email: str, name: str, min_password_length: int) -> str | None:
    """Why a new password is refused (length, too common, too close to the email or name), or None."""
    if not min_password_length <= len(password) <= MAX_PASSWORD:
        return _("Use {low} to {high} characters.").format(low=min_password_length, high=MAX_PASSWORD)
    problem = password_problem(password, email, name)
    return _(problem) if problem else None


_digest = tokens.digest


class UsersService:
    def __init__(self, pool: asyncpg.Pool, passwords: Passwords, *,
                 token_ttl: timedelta = timedelta(hours=UsersConfig.token_ttl_hours),
                 session_ttl: timedelta = timedelta(seconds=SecurityConfig.session_max_age),
                 min_password_length: int = UsersConfig.min_password_length, events: Any = None):
        self.pool = pool
        self.events = events  # PluginEvents; None for CLI tools (create-admin), which mail nobody
        self.passwords = passwords
        self.token_ttl = token_ttl
        self.session_ttl = session_ttl
        self.min_password_length = min_password_length

    async def register(self, email: Any, name: Any, password: Any, is_seller: Any = False,
                       locale: str | None = None) -> User | None:
        """A new customer (and seller when ``is_seller``); None when the email is taken. A new account is
        asked to verify its address (VerificationRequested in the same transaction).

        Callers answer both cases alike (no account enumeration), so both cost the same: the password is
        hashed before the insert learns whether the email exists."""
        email, name = check_new_user(email, name, password, is_seller, min_password_length=self.min_password_length)
        password_hash = await self.passwords.hash(password)
        async with self.pool.acquire() as conn, conn.transaction():
            row = await db.insert_user(conn, email, name, password_hash, is_seller, locale)
            if row is None:
                return None
            user = User.from_row(row)
            await self.send_verification(conn, user, user.email, "signup")
        return user

    def language_of(self, user: User) -> tuple[str, str]:
        """(locale, time zone) to write to ``user`` in: their saved choice, else the shop's default."""
        default = default_language()
        return user.locale or default.locale, user.time_zone or default.time_zone

    async def send_verification(self, conn, user: User, email: str, purpose: str) -> None:
        """A 48 h single-use link to confirm ``email`` (the account's own, or the new one it asked for)."""
        if self.events is None:
            return
        secret, expires_at = await tokens.issue(conn, tokens.VERIFY, user.id, email, tokens.VERIFY_TTL)
        locale, time_zone = self.language_of(user)
        await self.events.emit(conn, VerificationRequested(
            user.id, email, user.name, locale, time_zone, f"/account/verify?token={secret}", expires_at.isoformat(),
            purpose))

    async def create_admin(self, email: str, password: str) -> int:
        """Create an admin, or promote the existing user with this email (keeping their password). Idempotent."""
        email, name = check_new_user(email, email.partition("@")[0][:MAX_NAME], password,
                                     min_password_length=self.min_password_length)
        return await db.upsert_admin(self.pool, email, name, await self.passwords.hash(password))

    async def check_password(self, email: Any, password: Any) -> User:
        """The user with this email and password; Unauthorized (one message for every miss) otherwise."""
        errors: dict[str, str] = {}
        email, password = _text(email, "email", errors), _text(password, "password", errors)
        if errors:
            raise ValidationFailed(_("Enter your email and password."), errors=errors)
        row = await db.user_with_hash(self.pool, normalize_email(email))
        if not await self.passwords.verify(row and row["password_hash"], password):
            raise Unauthorized(_(WRONG_LOGIN))
        if self.passwords.needs_rehash(row["password_hash"]):  # the cost settings changed since it was hashed
            await db.set_password_hash(self.pool, row["id"], await self.passwords.hash(password))
        return User.from_row(row)

    async def get(self, user_id: int) -> User:
        row = await db.user_by_id(self.pool, user_id)
        if row is None:
            raise NotFound(_("No user {id}.").format(id=user_id))
        return User.from_row(row)

    async def list_users(self, limit: int, offset: int = 0) -> list[User]:
        return [User.from_row(r) for r in await db.list_users(self.pool, limit, offset)]

    async def seller_ids(self) -> list[int]:
        return await db.seller_ids(self.pool)

    async def role_counts(self) -> dict[str, int]:
        """{role: users holding it}: customer (every account), seller, admin."""
        return dict(await db.role_counts(self.pool))

    async def set_seller(self, user_id: int, is_seller: bool) -> User:
        """Grant or revoke the seller role (an admin's action: the route checks); NotFound for no such user."""
        row = await db.set_seller(self.pool, user_id, is_seller)
        if row is None:
            raise NotFound(_("No user {id}.").format(id=user_id))
        return User.from_row(row)

    async def start_session(self, user_id: int) -> str:
        """A new session id for the cookie; only its SHA-256 is stored."""
        return (await self._issue("session", user_id, self.session_ttl))[0]

    async def issue_token(self, user_id: int) -> tuple[str, datetime]:
        """A new API bearer token and its expiry; only its SHA-256 is stored."""
        return await self._issue("token", user_id, self.token_ttl)

    async def _issue(self, kind: str, user_id: int, ttl: timedelta) -> tuple[str, datetime]:
        secret = secrets.token_urlsafe(32)
        expires_at = datetime.now(timezone.utc) + ttl
        await db.insert_secret(self.pool, _digest(secret), kind, user_id, expires_at)
        return secret, expires_at

    async def caller_for(self, kind: str, secret: str) -> Caller | None:
        """The owner of a live session id (kind "session") or API token (kind "token"): one round trip."""
        if not secret.isascii():  # we only issue ASCII secrets
            return None
        row = await db.caller_by_secret(self.pool, _digest(secret), kind)
        if row is None:
            return None
        return Caller(row["id"], row["email"], row["name"], roles_of(row), row["locale"], row["time_zone"])

    async def revoke(self, kind: str, secret: str) -> None:
        if secret.isascii():
            await db.revoke_secret(self.pool, _digest(secret), kind)

