"""The repository's tests run on ecom.testing, the kit a plugin author's tests use too: one embedded
PostgreSQL and one embedded broker for the session, real HTTP through aiohttp.

Each test module gets its own set of databases (``t<n>_<plugin>``) unless a test asks for a fresh one.
The fixture names these tests were written with stay, as thin aliases of the kit's.
"""
from __future__ import annotations

import shutil
import sys
import tempfile
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")

# the same plugin as the pytest11 entry point of an installed ecom (one name: never registered twice)
pytest_plugins = ["ecom.testing"]
pytest.register_assert_rewrite("ecom.testing")  # imported just below, before pytest_plugins is read

from ecom.testing import TEST_SECRET_KEY, free_port, free_ports  # noqa: E402,F401 - modules import them from here


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    """Temp folders outside /tmp/pytest-of-<user>: pytest resets that folder to 0700 whenever another
    session starts on the machine, which would lock out PostgreSQL's own system user mid-run."""
    if not config.option.basetemp:
        config.option.basetemp = config._ecom_basetemp = tempfile.mkdtemp(prefix="ecom-pytest-")


def pytest_unconfigure(config):
    if getattr(config, "_ecom_basetemp", None):
        shutil.rmtree(config._ecom_basetemp, ignore_errors=True)


@pytest.fixture(scope="session")
def ecom_root() -> Path:
    """Relative plugin paths (``tests/loaderplugins``) are this checkout's, whatever pytest's rootdir."""
    return ROOT


@pytest.fixture(scope="session")
def pg(ecom_pg):
    return ecom_pg


@pytest.fixture(scope="session")
def broker(ecom_broker):
    return ecom_broker


@pytest.fixture(scope="module")
def db_prefix(ecom_db_prefix) -> str:
    return ecom_db_prefix


@pytest.fixture
def make_config(ecom_config):
    """``make_config(fresh=False, **sections) -> Config`` (ecom_config)."""
    return ecom_config


@pytest.fixture
async def client(ecom_shop):
    """An HTTP client for a full app (every enabled plugin) on this module's databases."""
    return await ecom_shop()
