"""Events the users plugin publishes (a public API: change a payload only with a version bump).

Each is emitted through the users outbox in the transaction that makes the change. Mail-worthy events
carry what a message needs (address, name, language, time zone) so that the notifications plugin never
reads the users database; links carry single-use secrets whose hash alone is stored by users.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from ecom.events import event


@event("ecom/users/verification_requested")
@dataclass(frozen=True)
class VerificationRequested:
    """Confirm an email address: sent on sign-up and when a user changes their email.

    Data: ``{"user_id": 7, "email": "ana@example.com", "name": "Ana", "locale": "es",
    "time_zone": "Europe/Madrid", "url": "/account/verify?token=...", "expires_at": "<ISO-8601>",
    "purpose": "signup"}``. ``url`` is a path on the shop (the mailer makes it absolute); ``purpose`` is
    ``signup`` or ``email_change`` (then ``email`` is the new address, not yet the account's)."""
    user_id: Annotated[int, "The account's user id."]
    email: Annotated[str, "The address to write to."]
    name: Annotated[str, "The account holder's name."]
    locale: Annotated[str, "The account's language (en, es, ...) for the message."]
    time_zone: Annotated[str, "The account's IANA time zone, for times in the message."]
    url: Annotated[str, "Path of the single-use link on the shop (``/account/verify?token=...``); the mailer "
                        "makes it absolute. A secret: never delivered by webhook."]
    expires_at: Annotated[str, "ISO-8601 time the link dies."]
    purpose: Annotated[str, "``signup``, or ``email_change`` (then ``email`` is the new address)."] = "signup"


@event("ecom/users/password_reset_requested")
@dataclass(frozen=True)
class PasswordResetRequested:
    """Someone asked to reset this account's password (only for an existing account; the request page
    answers the same either way). Data as VerificationRequested without ``purpose``: ``url`` is the
    single-use reset link (``/password/reset?token=...``), ``expires_at`` when it dies."""
    user_id: Annotated[int, "The account's user id."]
    email: Annotated[str, "The address to write to."]
    name: Annotated[str, "The account holder's name."]
    locale: Annotated[str, "The account's language (en, es, ...) for the message."]
    time_zone: Annotated[str, "The account's IANA time zone, for times in the message."]
    url: Annotated[str, "Path of the single-use reset link (``/password/reset?token=...``). A secret."]
    expires_at: Annotated[str, "ISO-8601 time the link dies."]


@event("ecom/users/password_changed")
@dataclass(frozen=True)
class PasswordChanged:
    """The password was changed (from the account page or a reset link): a security notice to the owner.
    Data: ``{"user_id", "email", "name", "locale", "time_zone", "at", "how": "change" | "reset"}``."""
    user_id: Annotated[int, "The account's user id."]
    email: Annotated[str, "The address to write to."]
    name: Annotated[str, "The account holder's name."]
    locale: Annotated[str, "The account's language (en, es, ...) for the message."]
    time_zone: Annotated[str, "The account's IANA time zone, for times in the message."]
    at: Annotated[str, "ISO-8601 time of the change."]
    how: Annotated[str, "``change`` (from the account page) or ``reset`` (a reset link)."] = "change"


@event("ecom/users/deleted")
@dataclass(frozen=True)
class UserDeleted:
    """An account was deleted by its owner (or an admin). Every plugin that keeps personal data about
    ``user_id`` erases or anonymises it on this event (orders: names, addresses, email of its orders are
    replaced, amounts kept; addresses: the address book goes). Data: ``{"user_id": 7, "at": "<ISO-8601>"}``."""
    user_id: Annotated[int, "The deleted account's user id."]
    at: Annotated[str, "ISO-8601 time of the deletion."]
