"""Keeping catalogs true: extract every marked text of a package, update its ``.po`` files, and check that
nothing is left untranslated (``python -m ecom.i18n check``; tests/test_i18n.py runs the same checks).

A package is the core (``ecom/`` plus the project's ``templates/``, catalog in ``ecom/locale``) or a plugin
(its folder, catalog in ``<plugin>/locale``)."""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po, write_po

from .catalogs import po_path

PROJECT = Path(__file__).resolve().parent.parent.parent
SOURCE_LANGUAGE = "en"  # msgids are English: English needs no catalog
KEYWORDS = {**DEFAULT_KEYWORDS, "N_": None, "lazy_gettext": None, "_l": None}
METHODS = [("**/static/**", "ignore"), ("**/locale/**", "ignore"), ("**.py", "python"),
           ("**.html", "jinja2"), ("**.txt", "jinja2")]
JINJA_OPTIONS = {"extensions": "jinja2.ext.i18n", "trimmed": "true"}


@dataclass(frozen=True)
class Package:
    name: str
    locale_dir: Path
    sources: tuple[Path, ...]


def packages(root: Path = PROJECT) -> list[Package]:
    """The core and every plugin folder under ``plugins/`` (and any extra plugin folder passed)."""
    found = [Package("core", root / "ecom" / "locale", (root / "ecom", root / "templates"))]
    for folder in sorted((root / "plugins").iterdir()):
        if (folder / "__init__.py").is_file():
            found.append(Package(folder.name, folder / "locale", (folder,)))
    return found


def package_at(folder: Path) -> Package:
    folder = folder.resolve()
    for package in packages():
        if folder in package.sources:
            return package
    return Package(folder.name, folder / "locale", (folder,))


def extract(package: Package) -> Catalog:
    """Every marked text in the package's sources, as a template catalog."""
    template = Catalog(project="ecom", fuzzy=False)
    for source in package.sources:
        if not source.is_dir():
            continue
        options = {"**.html": JINJA_OPTIONS, "**.txt": JINJA_OPTIONS}
        for filename, lineno, message, comments, context in extract_from_dir(
                str(source), METHODS, options, KEYWORDS, strip_comment_tags=True):
            if not message or (isinstance(message, tuple) and not message[0]) or message == "":
                continue
            location = (str((source / filename).relative_to(PROJECT)) if (source / filename).is_relative_to(PROJECT)
                        else filename, lineno)
            template.add(message, None, [location], auto_comments=comments, context=context)
    return template


def update(package: Package, locales: tuple[str, ...]) -> dict[str, int]:
    """Bring each locale's ``.po`` in line with the sources; returns {locale: entries still untranslated}."""
    template = extract(package)
    result = {}
    for locale in locales:
        if locale == SOURCE_LANGUAGE:
            continue
        path = po_path(package.locale_dir, locale)
        if path.is_file():
            with path.open("rb") as fh:
                catalog = read_po(fh, locale=locale)
        else:
            catalog = Catalog(locale=locale, project="ecom", fuzzy=False)
        catalog.update(template, no_fuzzy_matching=True, update_header_comment=False)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            write_po(fh, catalog, ignore_obsolete=True, include_lineno=False, width=100, sort_output=True)
        result[locale] = len(missing_in(catalog, template))
    return result


PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|\{(\w*)\}")


def _placeholders(text: str) -> set[str]:
    return {a or b for a, b in PLACEHOLDER.findall(text or "")}


def missing_in(catalog: Catalog, template: Catalog) -> list[str]:
    """Texts of ``template`` with no usable translation in ``catalog`` (absent, empty, fuzzy, or with
    placeholders that differ from the original's)."""
    problems = []
    for message in template:
        if not message.id:
            continue
        found = catalog.get(message.id, context=message.context)
        ids = message.id if isinstance(message.id, (tuple, list)) else (message.id,)
        if found is None or found.fuzzy:
            problems.append(f"untranslated: {ids[0]!r}")
            continue
        strings = found.string if isinstance(found.string, (tuple, list)) else (found.string,)
        if not all(strings):
            problems.append(f"untranslated: {ids[0]!r}")
        elif any(_placeholders(s) != _placeholders(ids[0]) for s in strings[:1]):
            problems.append(f"placeholders differ: {ids[0]!r} -> {strings[0]!r}")
    return problems


def check_catalogs(package: Package, locales: tuple[str, ...]) -> list[str]:
    template = extract(package)
    problems = []
    for locale in locales:
        if locale == SOURCE_LANGUAGE:
            continue
        path = po_path(package.locale_dir, locale)
        if not path.is_file():
            if len(template):
                problems.append(f"{package.name}: no {locale} catalog ({path.relative_to(PROJECT)}): "
                                f"run python -m ecom.i18n update")
            continue
        with path.open("rb") as fh:
            catalog = read_po(fh, locale=locale)
        problems += [f"{package.name} [{locale}] {p}" for p in missing_in(catalog, template)]
    return problems


def conflicts(chosen: list[Package], locale: str) -> list[str]:
    """Texts that two packages translate differently: the shop merges every catalog into one, so only one
    of them would be shown (and which one depends on the order plugins load in). Disambiguate real
    differences of meaning with a context: ``pgettext("price range", "From")``."""
    seen: dict[tuple, dict[str, object]] = {}
    for package in chosen:
        path = po_path(package.locale_dir, locale)
        if not path.is_file():
            continue
        with path.open("rb") as fh:
            for message in read_po(fh, locale=locale):
                if message.id:
                    key = (message.id if isinstance(message.id, str) else message.id[0], message.context or "")
                    string = message.string if isinstance(message.string, str) else tuple(message.string)
                    seen.setdefault(key, {})[package.name] = string
    return [f"[{locale}] {key[0]!r} is translated differently: {per}" for key, per in sorted(seen.items())
            if len(set(per.values())) > 1]


# --- text that was never marked ---

_TRANS_BLOCK = re.compile(r"{%-?\s*trans\b.*?{%-?\s*endtrans\s*-?%}", re.S)
_JINJA = re.compile(r"{#.*?#}|{{.*?}}|{%.*?%}", re.S)
_LETTERS = re.compile(r"[^\W\d_]{2,}")
TEXT_ATTRIBUTES = {"title", "alt", "placeholder", "aria-label", "label", "content", "data-confirm"}  # "x=y" values are settings
ALLOWED = {"ecom"}  # the product's name


class _TextFinder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[int, str]] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        for name, value in attrs:
            if name in TEXT_ATTRIBUTES and value and "=" not in value and self._human(value):
                self.found.append((self.getpos()[0], f'{name}="{value.strip()}"'))

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and self._human(data):
            self.found.append((self.getpos()[0], " ".join(data.split())))

    @staticmethod
    def _human(text: str) -> bool:
        words = [w for w in _LETTERS.findall(text) if w not in ALLOWED]
        return bool(words)


def _blank(match: re.Match) -> str:
    return "\n" * match.group(0).count("\n") + " "


def unmarked_template_text(path: Path) -> list[str]:
    """Human text in a template that is outside ``_()`` and ``{% trans %}`` (so no catalog can hold it)."""
    source = path.read_text(encoding="utf-8")
    source = _TRANS_BLOCK.sub(_blank, source)
    source = _JINJA.sub(_blank, source)
    if path.suffix == ".txt":
        return [f"{path.relative_to(PROJECT)}:{n}: {line.strip()}" for n, line in enumerate(source.splitlines(), 1)
                if _TextFinder._human(line)]
    finder = _TextFinder()
    finder.feed(source)
    return [f"{path.relative_to(PROJECT) if path.is_relative_to(PROJECT) else path}:{line}: {text[:80]}"
            for line, text in finder.found]


ERROR_CLASSES = {"DomainError", "ValidationFailed", "NotFound", "Forbidden", "Unauthorized", "Conflict",
                 "TooManyRequests", "Unavailable", "PayloadTooLarge"}
GETTEXT = {"_", "gettext", "ngettext", "pgettext", "N_", "lazy_gettext", "_l"}


def _is_literal_text(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return bool(_LETTERS.search(node.value))
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(v, ast.Constant) and _LETTERS.search(str(v.value)) for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mod)):
        return _is_literal_text(node.left) or _is_literal_text(node.right)
    if isinstance(node, ast.IfExp):
        return _is_literal_text(node.body) or _is_literal_text(node.orelse)
    return False


def _call_name(node: ast.Call) -> str:
    func = node.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def unmarked_python_text(path: Path) -> list[str]:
    """Messages people read that bypass gettext: the detail of a domain error, a flash message, the values
    of an ``errors`` mapping, written as plain string literals or f-strings."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []

    def report(node: ast.AST, what: str) -> None:
        where = path.relative_to(PROJECT) if path.is_relative_to(PROJECT) else path
        found.append((node.lineno, f"{where}:{node.lineno}: {what}: {ast.unparse(node)[:80]}"))

    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = _call_name(node)
            if name in ERROR_CLASSES and node.args and _is_literal_text(node.args[0]):
                report(node.args[0], f"{name} detail")
            if name.startswith("HTTP") and any(k.arg == "text" and _is_literal_text(k.value) for k in node.keywords):
                report(node, f"{name} text")
            if name == "flash" and len(node.args) >= 2 and _is_literal_text(node.args[1]):
                report(node.args[1], "flash message")
            for keyword in node.keywords:
                if keyword.arg == "errors" and isinstance(keyword.value, ast.Dict):
                    for value in keyword.value.values:
                        if _is_literal_text(value):
                            report(value, "errors value")
        elif isinstance(node, ast.Assign) and _is_literal_text(node.value):
            for target in node.targets:
                if (isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name)
                        and target.value.id == "errors"):
                    report(node.value, "errors value")
    return [text for _, text in sorted(found, key=lambda item: item[0])]


def unmarked(package: Package) -> list[str]:
    problems = []
    for source in package.sources:
        if not source.is_dir():
            continue
        for path in sorted(source.rglob("*")):
            if "static" in path.parts or "locale" in path.parts or "__pycache__" in path.parts:
                continue
            if path.suffix == ".py":
                problems += unmarked_python_text(path)
            elif path.suffix in (".html", ".txt") and "templates" in path.parts or (
                    path.suffix == ".html" and source.name == "templates"):
                problems += unmarked_template_text(path)
    return problems
