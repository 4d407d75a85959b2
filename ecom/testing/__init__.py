"""ecom.testing: the contract test kit, a pytest plugin for the tests of the core and of any plugin.

Fixtures (real servers, real HTTP; nothing of ecom is mocked):

* ``ecom_pg`` (session): the embedded PostgreSQL; ``ecom_broker`` (session): the embedded MQTT broker.
* ``ecom_config(plugins=[...], fresh=False, paths=(), **sections) -> Config``.
* ``await ecom_shop(plugins=[...], **sections) -> aiohttp TestClient`` on the real app.
* ``await ecom_user(client, role="customer"|"seller"|"admin") -> User(id, email, password, token, role)``,
  logged in on ``client``.
* ``ecom_events``: ``await ecom_events.emit(client, event)`` signed as the event's owner, through its
  outbox; ``await ecom_events.wait_for(client, EventCls, predicate, timeout=15)``.

A project whose ecom is installed gets the fixtures through the ``pytest11`` entry point; a conftest's
``pytest_plugins = ["ecom.testing"]`` names the same plugin. Its pytest configuration needs
``asyncio_mode = "auto"`` and both ``asyncio_default_*_loop_scope = "session"``: the servers are shared
by the session, so its tests run in the session's event loop. docs/plugins.md, "Testing a plugin".

Its one hook (``loops.py``) fails, at setup and with one line naming those settings, a test that uses the
servers but would run in another event loop: pytest gives a plugin no public way to set them for you.

Importing this module starts nothing: every server is started by the first test that asks for it.
"""
from .accounts import PASSWORD, User, create_account, log_in, patiently
from .events import EventProbe
from .loops import pytest_runtest_setup  # noqa: F401 - the kit's hook (pytest reads it here)
from .fixtures import (ecom_broker, ecom_config, ecom_db_prefix, ecom_events, ecom_pg, ecom_root, ecom_shop,
                       ecom_user)
from .ports import free_port, free_ports
from .servers import TEST_SECRET_KEY
from .settings import BUILTIN_PLUGINS
from .waiting import DEADLINE, wait_until

__all__ = ["PASSWORD", "User", "create_account", "log_in", "patiently", "EventProbe", "ecom_broker", "ecom_config",
           "ecom_db_prefix", "ecom_events", "ecom_pg", "ecom_root", "ecom_shop", "ecom_user", "free_port",
           "free_ports", "TEST_SECRET_KEY", "BUILTIN_PLUGINS", "DEADLINE", "wait_until"]
