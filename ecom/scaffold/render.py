"""Templates -> files: the plugin package (inside the shop's plugin folder) or a whole distribution."""
from __future__ import annotations

from pathlib import Path

from .names import Names, ScaffoldError

FILES = Path(__file__).resolve().parent / "files"
SUFFIX = ".tmpl"  # templates are not modules: neither imported nor collected by pytest as they are


def _fill(text: str, markers: dict[str, str]) -> str:
    for marker, value in markers.items():
        text = text.replace(marker, value)
    return text


def _copy_tree(source: Path, target: Path, markers: dict[str, str]) -> list[Path]:
    """Every ``*.tmpl`` under ``source`` into ``target``, markers filled in file names and contents."""
    written = []
    for template in sorted(source.rglob("*" + SUFFIX)):
        relative = _fill(str(template.relative_to(source))[:-len(SUFFIX)], markers)
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_fill(template.read_text(encoding="utf-8"), markers), encoding="utf-8")
        written.append(path)
    return written


def write_package(folder: Path, name: str, module: str, tests_dir: Path | None = None) -> list[Path]:
    """``folder/name/``: the plugin package, its tests in ``name/tests/`` (or in ``tests_dir``)."""
    target = folder / name
    if target.exists():
        raise ScaffoldError(f"new-plugin: {target} already exists")
    tests_dir = tests_dir or target / "tests"
    shown = "tests" if tests_dir != target / "tests" else f"{folder.name}/{name}/tests"  # as run from its root
    written = _copy_tree(FILES / "package", target, Names(name, module, shown).markers())
    if tests_dir != target / "tests":  # a distribution keeps its tests beside the package, not inside it
        tests_dir.mkdir(parents=True, exist_ok=True)
        for path in (target / "tests").iterdir():
            written[written.index(path)] = path.rename(tests_dir / path.name)
        (target / "tests").rmdir()
    return written


def write_external(folder: Path, name: str) -> list[Path]:
    """``folder/ecom-name/``: pyproject (with the ``ecom.plugins`` entry point), README, the package and
    its tests, ready for ``pip install -e``."""
    root = folder / f"ecom-{name}"
    if root.exists():
        raise ScaffoldError(f"new-plugin: {root} already exists")
    written = write_package(root, name, name, tests_dir=root / "tests")
    written += _copy_tree(FILES / "external", root, Names(name, name, "tests").markers())
    return written
