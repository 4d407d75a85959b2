#!/usr/bin/env python3
"""ecom's command line: `python run.py` starts the whole shop. `python run.py --help` lists the rest.

Run by a Python without the shop's packages (the system's `python3 run.py ...` instead of
`.venv/bin/python run.py ...`), it continues in the project's .venv when there is one, and otherwise says
in one line how to make it, instead of an import traceback."""
import os
import sys
from pathlib import Path


def _in_the_venv() -> None:
    try:
        import aiohttp, asyncpg  # noqa: F401,E401  (the shop's first imports)
        return
    except ImportError as err:
        missing = err.name
    venv_python = Path(__file__).resolve().parent / ".venv" / "bin" / "python"
    if venv_python.exists() and Path(sys.prefix).resolve() != venv_python.parent.parent.resolve():
        os.execv(str(venv_python), [str(venv_python), *sys.argv])
    print(f"ecom: this Python ({sys.executable}) lacks the shop's packages ({missing}): run `make install` "
          f"and use .venv/bin/python run.py", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
    _in_the_venv()
    from ecom.cli import main
    sys.exit(main())
