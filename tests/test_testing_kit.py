"""ecom.testing from a plugin author's side: a third-party project (its own folder, its own plugin, a
conftest with ``pytest_plugins = ["ecom.testing"]``) runs its tests against the real core with the kit's
fixtures. One pytest subprocess (its own embedded PostgreSQL and broker, as in the author's project)
runs a test that must pass and one whose assertion is wrong and must fail. A project without the
pytest-asyncio settings the kit needs (it cannot set them itself: ecom/testing/loops.py says why) gets one
line naming them, before any server starts."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from ecom.events import REGISTRY
from ecom.testing.loops import HELP

PLUGIN = '''
"""greeter: a third-party plugin. Greets the logged-in user; says farewell when an account is deleted."""
from dataclasses import dataclass

from aiohttp import web

from ecom.events import event
from ecom.gateway import identity, login_required
from ecom.plugin import Plugin, PluginContext
from plugins.users.events import UserDeleted


@event("ecom/greeter/farewell")
@dataclass(frozen=True)
class Farewell:
    """Said once per deleted account."""
    user_id: int


routes = web.RouteTableDef()


@routes.get("/api/v1/greeter/me")
@login_required
async def me(request: web.Request) -> web.Response:
    return web.json_response({"hello": identity(request).user_id, "via": identity(request).via})


async def lifespan(ctx: PluginContext):
    async def on_deleted(conn, deleted: UserDeleted) -> None:
        await conn.execute("INSERT INTO farewells (user_id) VALUES ($1) ON CONFLICT DO NOTHING", deleted.user_id)
        await ctx.events.emit(conn, Farewell(deleted.user_id))
    ctx.events.subscribe(UserDeleted, on_deleted)
    yield


PLUGIN = Plugin(name="greeter", requires=("users",), requires_core=">=0.2,<0.3", lifespan=lifespan,
                routes=routes, templates=None, static=None)
'''

TESTS = '''
from myplugins.greeter import Farewell
from plugins.users.events import UserDeleted

SHOP = {"plugins": ["users", "greeter"], "paths": ["myplugins"]}


async def test_greets_and_says_farewell(ecom_shop, ecom_user, ecom_events):
    client = await ecom_shop(**SHOP)
    seller = await ecom_user(client, role="seller")
    resp = await client.get("/api/v1/greeter/me")  # the client carries the seller's session cookie
    assert resp.status == 200 and await resp.json() == {"hello": seller.id, "via": "session"}
    resp = await client.get("/api/v1/greeter/me", headers={"Authorization": f"Bearer {seller.token}"})
    assert await resp.json() == {"hello": seller.id, "via": "token"}
    admin = await ecom_user(client, role="admin")
    assert admin.id != seller.id
    await ecom_events.emit(client, UserDeleted(user_id=seller.id, at="2025-01-01T00:00:00+00:00"))
    said = await ecom_events.wait_for(client, Farewell, lambda e: e.user_id == seller.id, timeout=20)
    assert said == Farewell(seller.id)


async def test_a_wrong_expectation_fails(ecom_shop, ecom_user):
    client = await ecom_shop(**SHOP)
    customer = await ecom_user(client)
    resp = await client.get("/api/v1/greeter/me")
    assert await resp.json() == {"hello": customer.id + 1, "via": "session"}, "DELIBERATELY WRONG"
'''

PYPROJECT = '''
[tool.pytest.ini_options]
asyncio_mode = "auto"
asyncio_default_fixture_loop_scope = "session"
asyncio_default_test_loop_scope = "session"
'''


def write_project(folder: Path) -> None:
    files = {"pyproject.toml": PYPROJECT, "conftest.py": 'pytest_plugins = ["ecom.testing"]\n',
             "myplugins/__init__.py": "", "myplugins/greeter/__init__.py": PLUGIN,
             "myplugins/greeter/migrations/0001_create.sql": "CREATE TABLE farewells (user_id bigint PRIMARY KEY);\n",
             "tests/test_greeter.py": TESTS}
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())


def test_a_third_party_project_passes_and_fails_with_the_kit(tmp_path):
    project = tmp_path / "greeter-project"
    write_project(project)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHONPATH"))}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "timeout=90",
                             "--basetemp", str(tmp_path / "basetemp"), "tests"],
                            cwd=project, env=env, capture_output=True, text=True, timeout=240)
    out = result.stdout + result.stderr
    assert result.returncode == 1, out  # 1: tests ran and some failed (not a usage or collection error)
    assert "1 failed, 1 passed" in out, out
    assert "FAILED tests/test_greeter.py::test_a_wrong_expectation_fails" in out, out
    assert "DELIBERATELY WRONG" in out, out
    assert "ecom/greeter/farewell" not in REGISTRY  # the project ran in its own process, not in ours


BARE_TESTS = '''
async def test_a_shop(ecom_shop):
    client = await ecom_shop(plugins=["users"])
    assert (await client.get("/healthz")).status == 200


def test_without_servers():  # a test that uses none of the servers is left alone
    assert 1 + 1 == 2
'''


def test_a_project_without_the_asyncio_settings_gets_one_line_naming_them(tmp_path):
    """A project with an ini file that sets nothing, ecom found only through the ``pytest11`` entry point:
    its async test that uses ``ecom_shop`` fails at setup, before any fixture (servers included) is set up,
    with the kit's one line and the reason (only the setup hook adds one): not with pytest's "async def
    functions are not natively supported" (strict mode), nor later inside ``ecom_shop`` (with only
    ``asyncio_mode=auto`` the test would run in a function-scoped loop). Its sync test passes."""
    project = tmp_path / "bare-project"
    (project / "tests").mkdir(parents=True)
    (project / "pytest.ini").write_text("[pytest]\n")  # the rootdir, and no setting at all
    (project / "tests" / "test_bare.py").write_text(textwrap.dedent(BARE_TESTS).lstrip())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHONPATH"))}
    for extra, reason in (([], "pytest-asyncio does not run it"),
                          (["-o", "asyncio_mode=auto"], "it runs in a function-scoped event loop"),
                          (["-o", "asyncio_mode=auto", "-o", "asyncio_default_test_loop_scope=session"],
                           "aiohttp_client (ecom_shop's server) runs in its own fixture's event loop")):
        result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "timeout=90",
                                 "--basetemp", str(tmp_path / f"basetemp{len(extra)}"), *extra, "tests"],
                                cwd=project, env=env, capture_output=True, text=True, timeout=120)
        out = result.stdout + result.stderr
        assert result.returncode == 1, out
        assert "1 passed, 1 error" in out, out
        assert f"{HELP} ({reason}" in out, out
        assert "not natively supported" not in out, out
