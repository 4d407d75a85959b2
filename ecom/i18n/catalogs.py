"""Where translations come from: one ``locale/`` folder per package (the core's and each plugin's), read
from the ``.po`` files themselves (compiled in memory: no build step, no binary files in the repository)
and merged into one set of translations per language."""
from __future__ import annotations

import io
import logging
import threading
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

log = logging.getLogger("ecom.i18n")
CORE_LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DOMAIN = "messages"


def po_path(locale_dir: Path, locale: str) -> Path:
    return locale_dir / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def compile_po(path: Path, locale: str) -> Translations:
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


class Catalogs:
    """Every registered ``locale/`` folder, merged per language (later folders win on the same text)."""

    def __init__(self) -> None:
        self._folders: list[Path] = [CORE_LOCALE_DIR]
        self._merged: dict[str, NullTranslations] = {}
        self._lock = threading.Lock()

    @property
    def folders(self) -> list[Path]:
        return list(self._folders)

    def add_folder(self, folder: Path) -> None:
        folder = Path(folder).resolve()
        with self._lock:
            if folder not in self._folders:
                self._folders.append(folder)
                self._merged.clear()

    def translations(self, locale: str) -> NullTranslations:
        merged = self._merged.get(locale)
        if merged is None:
            with self._lock:
                merged = self._merged.get(locale) or self._load(locale)
                self._merged[locale] = merged
        return merged

    def _load(self, locale: str) -> NullTranslations:
        merged: NullTranslations | None = None
        for folder in self._folders:
            path = po_path(folder, locale)
            if not path.is_file():
                continue
            try:
                translations = compile_po(path, locale)
            except Exception as err:  # noqa: BLE001 - a broken catalog must not take the shop down
                log.error("translations %s cannot be read: %s", path, err)
                continue
            if merged is None:
                merged = translations
            else:
                merged.merge(translations)
        return merged or NullTranslations()


CATALOGS = Catalogs()


def add_catalog_folder(folder: Path) -> None:
    """Make a package's ``locale/`` folder part of the shop's translations (the loader does it per plugin)."""
    CATALOGS.add_folder(folder)
