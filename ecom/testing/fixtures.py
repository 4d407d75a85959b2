"""The fixtures of ecom.testing (see the package's docstring for how a project opts in)."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Iterable

import pytest
import pytest_asyncio

from .accounts import ROLES, User, create_account, log_in
from .events import EventProbe
from .loops import HELP
from .servers import start_broker, start_postgres, stop_postgres
from .settings import new_prefix, shop_config


@pytest.fixture(scope="session")
def ecom_pg():
    """The session's embedded PostgreSQL (``.url()``): every test shop's databases live in it."""
    server = start_postgres()
    yield server
    stop_postgres(server)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def ecom_broker():
    """The session's embedded MQTT broker (``.port``), running in the session's event loop."""
    server = await start_broker()
    server.loop = asyncio.get_running_loop()
    yield server
    if server.running:
        await server.stop()


@pytest.fixture(scope="module")
def ecom_db_prefix() -> str:
    """This module's database name prefix: its tests share one set of plugin databases."""
    return new_prefix("t")


@pytest.fixture(scope="session")
def ecom_root(request) -> Path:
    """The folder relative plugin ``paths`` resolve against: the project under test."""
    return Path(request.config.rootpath)


@pytest.fixture
def ecom_config(ecom_pg, ecom_broker, tmp_path, ecom_db_prefix, ecom_root):
    """``ecom_config(plugins=[...], fresh=False, paths=(), **sections) -> Config`` on the session's servers.

    ``plugins``: names to enable (None: the shop's default set) or a whole ``[plugins]`` dict; ``paths``:
    extra plugin folders; ``fresh=True``: databases no other test touched (else this module's)."""
    def make(plugins: Iterable[str] | dict | None = None, *, fresh: bool = False, paths: Iterable[str | Path] = (),
             **sections: Any):
        return shop_config(pg_url=ecom_pg.url(), broker_port=ecom_broker.port, data_dir=tmp_path / "data",
                           prefix=new_prefix("f") if fresh else ecom_db_prefix, root=ecom_root,
                           plugins=plugins, paths=paths, **sections)
    return make


@pytest.fixture
def ecom_shop(aiohttp_client, ecom_config, ecom_broker):
    """``await ecom_shop(plugins=[...], **config) -> TestClient``: the real app (migrations, lifespans,
    event bus connected) served over real HTTP; closed at the end of the test."""
    async def start(plugins: Iterable[str] | dict | None = None, **config: Any):
        if asyncio.get_running_loop() is not getattr(ecom_broker, "loop", None):
            pytest.fail(HELP, pytrace=False)  # loops.py fails such a test at setup; this is the backstop
        from ..app import EVENT_BUS, create_app
        client = await aiohttp_client(create_app(ecom_config(plugins, **config)))
        assert client.app[EVENT_BUS].connected, "the shop's event bus did not connect to the test broker"
        return client
    return start


@pytest.fixture
def ecom_user():
    """``await ecom_user(client, role="customer"|"seller"|"admin") -> User`` logged in on ``client``
    (its cookie jar carries the session; ``user.token`` is a bearer for the API). Needs ``users``."""
    async def make(client, role: str = "customer", *, login: bool = True) -> User:
        user = await create_account(client, role)
        if login:
            await log_in(client, user)
        return user
    make.roles = ROLES
    return make


@pytest.fixture
def ecom_events():
    """``await ecom_events.emit(client, event)`` as its owner; ``await ecom_events.wait_for(client, Cls,
    predicate, timeout=15)`` (see :class:`ecom.testing.events.EventProbe`)."""
    probe = EventProbe()
    yield probe
    probe.close()
