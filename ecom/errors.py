"""Domain errors a service raises (no aiohttp here); the gateway turns them into problem+json or a page."""
from __future__ import annotations

from typing import Mapping

from .i18n import N_


class DomainError(Exception):
    status = 400
    title = N_("Bad request")

    def __init__(self, detail: str = "", *, errors: Mapping[str, str] | None = None):
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = dict(errors or {})


class ValidationFailed(DomainError):
    """Input is wrong; ``errors`` maps a field name to what is wrong with it."""
    status = 422
    title = N_("Invalid input")


class NotFound(DomainError):
    status = 404
    title = N_("Not found")


class Forbidden(DomainError):
    status = 403
    title = N_("Forbidden")


class Unauthorized(DomainError):
    status = 401
    title = N_("Authentication required")


class Conflict(DomainError):
    """The request is fine but the current state forbids it (illegal transition, out of stock, duplicate)."""
    status = 409
    title = N_("Conflict")


class TooManyRequests(DomainError):
    status = 429
    title = N_("Too many requests")
