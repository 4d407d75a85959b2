"""Messages kept in the database and read later, in whatever language the reader has then: the rejected
lines of a CSV import. A row stores the English msgid and its values (JSON), never a translated sentence;
``shown`` translates it for the current request. Rows written before this format (plain English
sentences) are shown as they are.
"""
from __future__ import annotations

import json
from typing import Any

from ecom.i18n import _


def stored(msgid: str, **values: Any) -> str:
    """The stored form of ``msgid`` (marked with N_ where it is written) and its named placeholders."""
    return json.dumps({"msgid": msgid, "values": values}, ensure_ascii=False, separators=(",", ":"))


def shown(text: str | None) -> str:
    """A stored message in the current language (the English text when the catalog has no translation)."""
    if not text or not text.startswith("{"):
        return text or ""
    try:
        data = json.loads(text)
        msgid, values = data["msgid"], data.get("values") or {}
        return _(msgid).format(**values)
    except (ValueError, KeyError, TypeError, IndexError):
        return text
