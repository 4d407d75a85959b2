"""Plugin discovery, dependency order, per-plugin config and the start-up errors that name the plugin."""
import pytest
from packaging.specifiers import SpecifierSet

from ecom.app import create_app
from ecom.config import ConfigError
from ecom.plugin import PluginError, load_plugins
from ecom.version import CORE_VERSION
from tests.conftest import ROOT

PATHS = ["tests/loaderplugins"]
BUILTIN = sorted(p.name for p in (ROOT / "plugins").iterdir() if (p / "__init__.py").exists())


def config(make_config, enabled, **settings):
    return make_config(plugins={"enabled": enabled, "paths": PATHS, **settings})


def test_dependencies_are_ordered_whatever_the_enabled_order(make_config):
    loaded = load_plugins(config(make_config, ["beta", "alpha"]))
    assert loaded.names == ["alpha", "beta"]


def test_missing_dependency_names_both(make_config):
    with pytest.raises(PluginError, match="needs_ghost.*ghost"):
        load_plugins(config(make_config, ["needs_ghost"]))


def test_cycle_is_named(make_config):
    with pytest.raises(PluginError, match="cycle: cyc_.* -> cyc_.* -> cyc_"):
        load_plugins(config(make_config, ["cyc_a", "cyc_b"]))


def test_unknown_plugin(make_config):
    with pytest.raises(PluginError, match="plugin nosuch: enabled but not found"):
        load_plugins(config(make_config, ["nosuch"]))


def test_route_claimed_twice_names_both_plugins(make_config):
    with pytest.raises(PluginError, match="clash: route GET /alpha is already claimed by alpha"):
        load_plugins(config(make_config, ["alpha", "clash"]))


def test_plugin_config_parsed_and_validated(make_config):
    loaded = load_plugins(config(make_config, ["configured"], configured={"delay_seconds": 3}))
    assert loaded.configs["configured"].delay_seconds == 3
    with pytest.raises(ConfigError, match="plugins.configured.delay_secs"):
        load_plugins(config(make_config, ["configured"], configured={"delay_secs": 3}))
    with pytest.raises(ConfigError, match="plugins.configured.delay_seconds must be an integer"):
        load_plugins(config(make_config, ["configured"], configured={"delay_seconds": "soon"}))
    with pytest.raises(ConfigError, match="plugins.configured.delay_seconds must be >= 0"):
        load_plugins(config(make_config, ["configured"], configured={"delay_seconds": -1}))
    with pytest.raises(ConfigError, match=r"\[plugins.ghost\]"):
        load_plugins(config(make_config, ["configured"], ghost={"x": 1}))


async def test_lifespans_run_in_dependency_order_and_stop_in_reverse(aiohttp_client, make_config):
    from tests.loaderplugins.alpha import STARTED
    STARTED.clear()
    client = await aiohttp_client(create_app(config(make_config, ["beta", "alpha"])))
    assert STARTED == ["alpha", "beta"]
    resp = await client.get("/alpha")
    assert resp.status == 200 and (await resp.json()) == {"plugin": "alpha"}
    await client.close()
    assert STARTED == ["alpha", "beta", "beta-stopped", "alpha-stopped"]


async def test_a_plugin_whose_shutdown_never_ends_does_not_hang_the_others(aiohttp_client, make_config, caplog):
    """stuck_stop's shutdown awaits forever: after [server] shutdown_timeout the core logs one line naming it
    and goes on, so alpha (started before it, stopped after it) still stops and the process can end."""
    from tests.loaderplugins.alpha import STARTED
    from tests.loaderplugins.stuck_stop import STOPPED
    STARTED.clear(), STOPPED.clear()
    settings = make_config(plugins={"enabled": ["alpha", "stuck_stop"], "paths": PATHS},
                           server={"shutdown_timeout": 1.0})
    client = await aiohttp_client(create_app(settings))
    await client.close()
    assert STOPPED == ["stuck_stop: shutdown began"] and STARTED[-1] == "alpha-stopped"
    lines = [r.getMessage() for r in caplog.records if "did not finish its shutdown" in r.getMessage()]
    assert lines == ["plugin stuck_stop did not finish its shutdown within 1 s ([server] shutdown_timeout); "
                     "going on without it"]


def test_plugin_outside_its_core_range_is_refused_with_one_line(make_config):
    with pytest.raises(PluginError) as err:
        load_plugins(config(make_config, ["future_core"]))
    assert str(err.value) == f"plugin future_core: needs ecom core >=0.3 (this is {CORE_VERSION})"


def test_unreadable_core_range_is_refused_with_one_line(make_config):
    with pytest.raises(PluginError) as err:
        load_plugins(config(make_config, ["bad_range"]))
    assert str(err.value) == ("plugin bad_range: requires_core '0.2 or newer' is not a version range "
                              "(PEP 440, e.g. '>=0.2,<0.3')")


def test_every_builtin_plugin_declares_a_range_this_core_is_in(make_config):
    loaded = load_plugins(make_config(plugins={"enabled": BUILTIN, "paths": ["plugins"]}))
    undeclared = [p.name for p in loaded.plugins if p.requires_core is None]
    assert undeclared == [] and len(loaded.plugins) == len(BUILTIN)
    assert all(SpecifierSet(p.requires_core).contains(CORE_VERSION) for p in loaded.plugins)


def test_core_version_is_the_distribution_version():
    """pyproject's version is the core API version plugins name in requires_core: one number, not two."""
    import tomllib
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["version"] == CORE_VERSION


def test_run_py_refuses_a_plugin_for_another_core_with_exit_2_and_one_line(tmp_path):
    import subprocess
    import sys
    from tests.helpers import write_config
    config = write_config(tmp_path, ("future_core",), (str(ROOT / "tests/loaderplugins"),))
    result = subprocess.run([sys.executable, str(ROOT / "run.py"), "--config", str(config)], capture_output=True,
                            text=True, timeout=60, cwd=ROOT)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert lines[0].endswith(f"plugin future_core: needs ecom core >=0.3 (this is {CORE_VERSION})"), result.stderr
