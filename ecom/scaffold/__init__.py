"""``run.py new-plugin NAME``: write a working plugin that passes its own tests on the first run.

The files are templates in ``files/`` (``package/`` for the plugin, ``external/`` for a distribution of
its own), with ``@name@``-style markers instead of Jinja or str.format braces, because the files are
themselves Python, SQL and Jinja, full of braces. Modules: ``names`` (what a name may be, where it goes),
``render`` (templates -> files), ``enable`` (the config file edit), ``command`` (the CLI's side).
"""
from .names import ScaffoldError, valid_name
from .render import write_external, write_package

__all__ = ["ScaffoldError", "valid_name", "write_external", "write_package"]
