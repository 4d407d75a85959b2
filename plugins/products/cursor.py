"""Keyset pagination cursors: opaque to clients, base64url of JSON [sort, last sort key, last id].

A cursor that does not decode to exactly that shape (tampered, truncated, from another sort, a date
whose offset moves it out of the years 1..9999) is a 422.
"""
from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime, timezone
from typing import Any

from ecom.errors import ValidationFailed
from ecom.i18n import _

MAX_CURSOR = 512
MAX_ID = 2**63 - 1


def _bad() -> ValidationFailed:
    return ValidationFailed(_("The cursor is not valid: start again from the first page."),
                            errors={"cursor": _("Not a cursor this server issued for this sort order.")})


def encode(sort: str, key: Any, last_id: int) -> str:
    if isinstance(key, datetime):
        key = key.isoformat()
    raw = json.dumps([sort, key, last_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str, sort: str) -> tuple[Any, int]:
    """(last sort key, last id) for ``sort``; ValidationFailed for anything else."""
    if not cursor.isascii() or len(cursor) > MAX_CURSOR:
        raise _bad()
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, RecursionError):
        raise _bad() from None
    if not (isinstance(data, list) and len(data) == 3 and data[0] == sort):
        raise _bad()
    _, key, last_id = data
    if isinstance(last_id, bool) or not isinstance(last_id, int) or not 0 < last_id <= MAX_ID:
        raise _bad()
    return _key(sort, key), last_id


def _key(sort: str, key: Any) -> Any:
    if sort in ("price_asc", "price_desc"):
        if isinstance(key, bool) or not isinstance(key, int) or not 0 <= key <= MAX_ID:
            raise _bad()
    elif sort == "newest":
        try:
            key = datetime.fromisoformat(key)
        except (TypeError, ValueError):
            raise _bad() from None
        if key.tzinfo is None:
            raise _bad()
        try:  # an offset that pushes the instant past year 1..9999 cannot be compared by the database
            key = key.astimezone(timezone.utc)
        except (OverflowError, ValueError):
            raise _bad() from None
    elif sort == "name":
        if not isinstance(key, str) or len(key) > 400 or "\x00" in key:
            raise _bad()
        try:
            key.encode()
        except UnicodeEncodeError:
            raise _bad() from None
    elif sort == "relevance":
        if isinstance(key, bool) or not isinstance(key, (int, float)) or key != key or abs(key) > 1e6:
            raise _bad()
        key = float(key)
    return key
