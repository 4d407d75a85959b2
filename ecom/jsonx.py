"""JSON responses serialized with orjson: same meaning as ``json.dumps`` (tests compare parsed bodies),
about ten times less CPU for a product's dozen fields.

What differs from the standard library, and why it does not matter here: the text is compact (no spaces
after ``,`` and ``:``) and keeps non-ASCII as UTF-8 instead of ``\\uXXXX`` escapes (the response says
``charset=utf-8``). Like ``json.dumps``, dict keys that are not strings (ints, bools, None) become
strings (OPT_NON_STR_KEYS), and Decimals are refused: callers convert what they send. datetimes are
written as ISO 8601 (callers in ecom pass ``isoformat()`` strings already). Integers beyond 64 bits, which
orjson refuses, fall back to ``json.dumps``.
"""
from __future__ import annotations

import json
from typing import Any, Mapping

import orjson
from aiohttp import web

_OPTIONS = orjson.OPT_NON_STR_KEYS


def dumps(value: Any) -> bytes:
    """``value`` as UTF-8 JSON bytes."""
    try:
        return orjson.dumps(value, option=_OPTIONS)
    except orjson.JSONEncodeError as err:
        if "Integer exceeds 64-bit range" not in str(err):
            raise TypeError(str(err)) from None  # what json.dumps raises for what it cannot write
        return json.dumps(value).encode()


def json_response(data: Any, *, status: int = 200, headers: Mapping[str, str] | None = None,
                  content_type: str = "application/json") -> web.Response:
    """Like ``aiohttp.web.json_response`` (same Content-Type with ``charset=utf-8``), through :func:`dumps`."""
    return web.Response(body=dumps(data), status=status, headers=headers, content_type=content_type,
                        charset="utf-8")
