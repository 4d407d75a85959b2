"""Domain errors a service raises (no aiohttp here); the gateway turns them into problem+json or a page."""
from __future__ import annotations

from typing import Mapping


class DomainError(Exception):
    status = 400
    title = "Bad request"

    def __init__(self, detail: str = "", *, errors: Mapping[str, str] | None = None):
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = dict(errors or {})


class ValidationFailed(DomainError):
    """Input is wrong; ``errors`` maps a field name to what is wrong with it."""
    status = 422
    title = "Invalid input"


class NotFound(DomainError):
    status = 404
    title = "Not found"


class Forbidden(DomainError):
    status = 403
    title = "Forbidden"


class Unauthorized(DomainError):
    status = 401
    title = "Authentication required"


class Conflict(DomainError):
    """The request is fine but the current state forbids it (illegal transition, out of stock, duplicate)."""
    status = 409
    title = "Conflict"


class TooManyRequests(DomainError):
    status = 429
    title = "Too many requests"
