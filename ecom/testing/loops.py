"""One clear line, before any server starts, for a test that cannot share the session's event loop.

The kit's broker (and every shop's MQTT connection to it) lives in pytest-asyncio's session loop, so a
test that uses the kit's servers must run in that loop, and so must pytest-aiohttp's ``aiohttp_client``,
which ``ecom_shop`` serves the app with. Three pytest-asyncio settings say so: ``asyncio_mode = "auto"``
and both ``asyncio_default_*_loop_scope = "session"``.

Why the kit does not set them itself when a project has not: pytest (9.2) gives a plugin no public way to
set another plugin's ini values. pytest-asyncio (1.5) reads all three through ``config.getini`` (cached
on first read); a ``-o`` that a ``pytest_load_initial_conftests`` hook adds to ``args`` is no longer read
into the ini values (pytest 9 reads ``-o`` before that hook, from the command line, ``PYTEST_ADDOPTS`` and
``addopts`` only); ``config.inicfg`` is deprecated for removal in pytest 10; and telling "unset" from "set
to the default" needs pytest's private ``_inicfg``. Setting ``--asyncio-mode`` alone would override a
project's own ``asyncio_mode = "strict"``, and would still leave the loop scopes wrong.

So instead of a test failing deep inside (pytest's "async def functions are not natively supported" in
strict mode, a hang or "attached to a different loop" otherwise), it fails at setup with :data:`HELP`.
"""
from __future__ import annotations

import inspect

import pytest

HELP = ("ecom.testing: this test must run in the session's event loop (the kit's broker lives there); "
        "set in your pytest configuration: asyncio_mode = \"auto\", asyncio_default_fixture_loop_scope = "
        "\"session\", asyncio_default_test_loop_scope = \"session\"")

SERVERS = "ecom_broker"  # every fixture of the kit that talks to the servers depends on it


def misfit(item: pytest.Item) -> str | None:
    """Why ``item`` cannot share the kit's session loop, or None (also for tests that use no server)."""
    names = getattr(item, "fixturenames", ())
    if SERVERS not in names or not inspect.iscoroutinefunction(getattr(item, "obj", None)):
        return None
    marker = item.get_closest_marker("asyncio")
    if marker is None:
        return "pytest-asyncio does not run it: asyncio_mode is not \"auto\" and it has no asyncio mark"
    scope = (marker.kwargs.get("loop_scope") or marker.kwargs.get("scope")
             or item.config.getini("asyncio_default_test_loop_scope"))
    if scope != "session":
        return f"it runs in a {scope}-scoped event loop"
    if "aiohttp_client" in names and item.config.getini("asyncio_default_fixture_loop_scope") != "session":
        return "aiohttp_client (ecom_shop's server) runs in its own fixture's event loop"
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    reason = misfit(item)
    if reason is not None:
        pytest.fail(f"{HELP} ({reason})", pytrace=False)
