"""Add a plugin to ``[plugins] enabled`` in a config file by editing its text, so that every comment,
blank line and key order the operator wrote stays as it was (a TOML round trip through a parser would
drop the comments that document each key)."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

from ..config import PluginsConfig
from .names import ScaffoldError

HEADER = re.compile(r"^\s*\[\s*plugins\s*\]\s*(#.*)?$")
ANY_HEADER = re.compile(r"^\s*\[")
ENABLED = re.compile(r"^(\s*enabled\s*=\s*)\[")


def _array_end(text: str, start: int) -> int:
    """Index just past the ``]`` that closes the array opening at ``text[start]`` (strings and comments
    inside it skipped)."""
    depth, i, quote = 0, start, ""
    while i < len(text):
        char = text[i]
        if quote:
            if char == "\\" and quote == '"':
                i += 1
            elif char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "#":
            i = text.index("\n", i) if "\n" in text[i:] else len(text)
            continue
        elif char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ScaffoldError("new-plugin: [plugins] enabled in the config file is not a closed array")


def add_enabled(text: str, name: str) -> str:
    """``text`` with ``name`` appended to ``[plugins] enabled`` (added with the defaults when the file has
    no such key, and the section when it has none). Unchanged when ``name`` is already enabled."""
    enabled = tomllib.loads(text).get("plugins", {}).get("enabled")
    if enabled is not None and name in enabled:
        return text
    lines = text.splitlines(keepends=True)
    section = next((i for i, line in enumerate(lines) if HEADER.match(line)), None)
    if section is None:
        names = ", ".join(f'"{n}"' for n in (*PluginsConfig().enabled, name))
        return text + ("" if text.endswith("\n") or not text else "\n") + f"\n[plugins]\nenabled = [{names}]\n"
    end = next((i for i in range(section + 1, len(lines)) if ANY_HEADER.match(lines[i])), len(lines))
    key = next((i for i in range(section + 1, end) if ENABLED.match(lines[i])), None)
    if key is None:
        names = ", ".join(f'"{n}"' for n in (*PluginsConfig().enabled, name))
        lines.insert(section + 1, f"enabled = [{names}]\n")
        return "".join(lines)
    offset = sum(len(line) for line in lines[:key])
    opening = offset + ENABLED.match(lines[key]).end() - 1
    closing = _array_end(text, opening) - 1                      # the "]"
    inside = text[opening + 1:closing]
    if "\n" in inside:   # one name per line: one more line in the same style, before the "]"
        indent = re.search(r"\n([ \t]*)[\"']", inside)
        body = inside.rstrip()
        comma = "" if body.endswith((",", "[")) or not body.strip() else ","
        return (text[:opening + 1] + f"{body}{comma}\n{indent.group(1) if indent else '    '}\"{name}\",\n"
                + text[closing:])
    stripped = inside.rstrip()
    separator = "" if not stripped.strip() else ("" if stripped.endswith(",") else ",") + " "
    return text[:opening + 1] + stripped + separator + f'"{name}"' + text[closing:]


def enable(config_file: Path, name: str) -> bool:
    """Edit ``config_file`` in place; True if it changed. The result is parsed before it is written: a
    file this edit cannot understand is left untouched and the error says what to add by hand."""
    text = config_file.read_text(encoding="utf-8")
    try:
        new = add_enabled(text, name)
        if name not in tomllib.loads(new)["plugins"]["enabled"]:
            raise ScaffoldError("new-plugin: the edit did not take")
    except (tomllib.TOMLDecodeError, KeyError, ScaffoldError) as err:
        raise ScaffoldError(f"new-plugin: could not add {name!r} to [plugins] enabled in {config_file} ({err}); "
                            "add it by hand") from None
    if new == text:
        return False
    config_file.write_text(new, encoding="utf-8")
    return True
