"""The event catalog: every topic, its owner, version and payload fields with their types and meanings,
read from the registry (``@event`` dataclasses), so the list cannot drift from the code.

A field's meaning is declared on the field itself, ``order_id: Annotated[str, "The order's number."]``,
not in a separate list: renaming or adding a field without a meaning makes ``undocumented()`` name it
(tests/test_event_catalog.py fails). A field holding JSON objects (``list[OrderLine]``) uses a
``TypedDict`` whose keys are annotated the same way: at run time it is a plain dict, which is what a
consumer actually receives, and the catalog lists its keys.

Three readers, one source: ``python -m ecom.events.catalog`` writes docs/events.md (``--check`` exits 1
when the file is stale), GET /api/v1/events serves the same entries as JSON for tools, and the test
compares both with the registry. The core's own ``ecom/system/*`` topics (liveness probes between app
processes) are not for plugins and are left out.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect
import sys
import types
import typing
from pathlib import Path
from typing import Any

from aiohttp import web

from ..openapi import api_schema
from .registry import REGISTRY, SYSTEM

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "events.md"
BUILTIN = ROOT / "plugins"


def load_builtin() -> None:
    """Import every built-in plugin's ``events`` module, enabled or not, so each topic is registered."""
    if str(ROOT) not in sys.path:  # python -m from another folder
        sys.path.insert(0, str(ROOT))
    for folder in sorted(BUILTIN.iterdir()):
        if (folder / "events.py").is_file():
            importlib.import_module(f"plugins.{folder.name}.events")


def is_builtin(cls: type) -> bool:
    return cls.__module__.startswith("plugins.") and (BUILTIN / cls.__module__.split(".")[1]).is_dir()


def _meaning(hint: Any) -> str:
    if typing.get_origin(hint) is typing.Annotated:
        return next((m for m in hint.__metadata__ if isinstance(m, str)), "").strip()
    return ""


def _bare(hint: Any) -> Any:
    return hint.__origin__ if typing.get_origin(hint) is typing.Annotated else hint


def _is_typeddict(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__required_keys__")


def type_name(hint: Any) -> str:
    """``str | None``, ``list[OrderLine]``, ``dict[str, Any]``: the Python spelling, without Annotated."""
    tp = _bare(hint)
    if tp is type(None):
        return "None"
    if tp is Any:
        return "Any"
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in args)
    if origin is not None:
        return f"{getattr(origin, '__name__', str(origin))}[{', '.join(type_name(a) for a in args)}]"
    return getattr(tp, "__name__", str(tp))


def _nested(hint: Any) -> type | None:
    """The TypedDict a field holds (directly, in a list, or optionally), if any."""
    tp = _bare(hint)
    for candidate in (tp, *typing.get_args(tp)):
        candidate = _bare(candidate)
        if _is_typeddict(candidate):
            return candidate
        for inner in typing.get_args(candidate):
            if _is_typeddict(_bare(inner)):
                return _bare(inner)
    return None


def _keys(td: type) -> list[dict]:
    hints = typing.get_type_hints(td, include_extras=True)
    out = []
    for name, hint in hints.items():
        entry = {"name": name, "type": type_name(hint), "required": name in td.__required_keys__,
                 "meaning": _meaning(hint)}
        if (inner := _nested(hint)) is not None:
            entry["fields"] = _keys(inner)
        out.append(entry)
    return out


def fields_of(cls: type) -> list[dict]:
    """Each payload field: name, type, required (no default), meaning, and ``fields`` for JSON objects."""
    hints = typing.get_type_hints(cls, include_extras=True)
    out = []
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        entry = {"name": f.name, "type": type_name(hint), "required": required, "meaning": _meaning(hint)}
        if not required and f.default is not dataclasses.MISSING:
            entry["default"] = f.default
        if (inner := _nested(hint)) is not None:
            entry["fields"] = _keys(inner)
        out.append(entry)
    return out


def describe(cls: type) -> dict:
    doc = inspect.cleandoc(cls.__doc__ or "")
    summary, _, details = doc.partition("\n\n")
    return {"topic": cls.TOPIC, "owner": cls.OWNER, "version": cls.VERSION, "name": cls.__name__,
            "module": cls.__module__, "summary": " ".join(summary.split()), "details": details.strip(),
            "deprecated": getattr(cls, "DEPRECATED", None), "fields": fields_of(cls)}


def entries(*, builtin_only: bool = False) -> list[dict]:
    """The catalog, sorted by topic. ``builtin_only``: the built-in plugins' events (what docs/events.md
    lists), else everything registered in this process (third-party plugins included)."""
    load_builtin()
    return [describe(cls) for topic, cls in sorted(REGISTRY.items())
            if cls.OWNER != SYSTEM and topic.split("/")[1] != SYSTEM and (is_builtin(cls) or not builtin_only)]


def undocumented(entry: dict) -> list[str]:
    """``topic: field.path`` of every field (or nested key) declared without a meaning."""
    missing = []

    def walk(fields: list[dict], prefix: str) -> None:
        for f in fields:
            if not f["meaning"]:
                missing.append(f"{entry['topic']}: {prefix}{f['name']}")
            walk(f.get("fields", []), f"{prefix}{f['name']}.")
    walk(entry["fields"], "")
    if not entry["summary"]:
        missing.append(f"{entry['topic']}: (no docstring)")
    return missing


# --- docs/events.md ----------------------------------------------------------------------------------

RULES_FILE = Path(__file__).with_name("catalog_rules.md")


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _rows(fields: list[dict], prefix: str = "") -> list[str]:
    rows = []
    for f in fields:
        need = "yes" if f["required"] else f"no (default `{f['default']!r}`)" if "default" in f else "no"
        rows.append(f"| `{prefix}{f['name']}` | `{_cell(f['type'])}` | {need} | {_cell(f['meaning'])} |")
        rows += _rows(f.get("fields", []), f"{prefix}{f['name']}[].")
    return rows


def markdown(items: list[dict]) -> str:
    """docs/events.md: the versioning rules (catalog_rules.md), an index, then one section per event."""
    out = [RULES_FILE.read_text().rstrip(), "", "## Index", "", "| Topic | Event | Owner | Version |",
           "|---|---|---|---|"]
    out += [f"| [`{e['topic']}`](#{e['topic'].replace('/', '')}) | {e['name']} | {e['owner']} | {e['version']} |"
            for e in items]
    for e in items:
        out += ["", f"## {e['topic']}", "",
                f"**{e['name']}** (`{e['module']}`), owner **{e['owner']}**, version {e['version']}."]
        if e["deprecated"]:
            out += ["", f"**Deprecated:** {e['deprecated']}"]
        out += ["", e["summary"]]
        if e["details"]:
            out += ["", e["details"]]
        out += ["", "| Field | Type | Required | Meaning |", "|---|---|---|---|", *_rows(e["fields"])]
    return "\n".join(out) + "\n"


# --- GET /api/v1/events ------------------------------------------------------------------------------

FIELD_SCHEMA = {"type": "object", "required": ["name", "type", "required", "meaning"], "properties": {
    "name": {"type": "string"}, "type": {"type": "string", "description": "Python spelling, e.g. `str | None`"},
    "required": {"type": "boolean"}, "meaning": {"type": "string"}, "default": {},
    "fields": {"type": "array", "items": {"type": "object"}, "description": "Keys of each JSON object it holds"}}}
EVENT_SCHEMA = {"type": "object", "required": ["topic", "owner", "version", "name", "summary", "fields"],
                "properties": {"topic": {"type": "string"}, "owner": {"type": "string"},
                               "version": {"type": "integer"}, "name": {"type": "string"},
                               "module": {"type": "string"}, "summary": {"type": "string"},
                               "details": {"type": "string"}, "deprecated": {"type": ["string", "null"]},
                               "fields": {"type": "array", "items": FIELD_SCHEMA}}}


@api_schema(response={"type": "object", "required": ["events"], "properties": {
    "events": {"type": "array", "items": EVENT_SCHEMA}}})
async def events_json(request: web.Request) -> web.Response:
    """The event catalog: every topic, its owner, version and payload fields (schema only, no data).

    The same entries as docs/events.md, plus the events of any third-party plugin this shop loaded."""
    return web.json_response({"events": entries()}, headers={"Cache-Control": "public, max-age=300"})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ecom.events.catalog", description="Write docs/events.md.")
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/events.md is stale; write nothing")
    args = parser.parse_args(argv)
    text = markdown(entries(builtin_only=True))
    if args.check:
        stale = not DOC.is_file() or DOC.read_text() != text
        print(f"{DOC} is {'stale: run python -m ecom.events.catalog' if stale else 'up to date'}")
        return 1 if stale else 0
    DOC.write_text(text)
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
