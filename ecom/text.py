"""Checks on text from the outside world that every plugin's validation shares (no aiohttp here)."""
from __future__ import annotations


def storable(text: str) -> bool:
    """PostgreSQL text holds no NUL, and a lone surrogate (possible in JSON) has no UTF-8 form."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return "\x00" not in text
