"""Plugin discovery, dependency order, per-plugin config and the start-up errors that name the plugin."""
import pytest

from ecom.app import create_app
from ecom.config import ConfigError
from ecom.plugin import PluginError, load_plugins

PATHS = ["tests/loaderplugins"]


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
